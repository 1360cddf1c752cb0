"""Catalog: the shipped mappings as a whole, and help with a new one.

``detect`` recognises an export by the fingerprints of the mapping files and
chooses one; ``fit`` checks that a mapping given by name fits the file at all;
``suggest`` guesses a starter mapping for an unknown export (its ``Guess``
values in ``guess``, rendered as YAML by ``suggest_yaml``); ``lint`` lists
every problem of a mapping file, optionally against a sample export.
"""
