"""Validate: mapped chunks checked against the API contract, failures grouped per row.

``schemas`` holds the pandera models (lead, potential seller, activity,
property); ``chunk.validate_chunk`` runs them lazily over a whole chunk and
turns their failure cases, with the problems the mapping found, into one list
of ``Problem`` values per source row.
"""
