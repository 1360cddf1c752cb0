"""Outputs: the files a command writes for people.

``private_files`` makes the run directory and opens every file in it
owner-only and new (report.json through ``write_json``); ``csv_files`` writes
rejects.csv, plan.csv and held_activities.csv, cells guarded against formula
injection; ``reject_workbook`` writes rejects.xlsx from rejects.csv, marking
the cells ``problem_cells`` finds each problem is about; ``report`` holds the
typed results of a plan and a run and builds report.json from either, so both
use the same field names; ``report_html`` writes report.html, a self-contained
page of that same data (``html_parts`` escapes every value and draws its chart).
"""
