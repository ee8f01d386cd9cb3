"""CSV imports of people and deals (columns in ../shared/CONTRACT.md).

Each file is one transaction: every good row is written, every bad row is reported with its line number
and reason and changes nothing. Re-importing updates existing rows instead of duplicating them (people by
email, deals by crm_id, else by name).

- `csvfile`: reading a file (header, rows with their line numbers, the result and errors);
- `people`: `import people`; `deals`: `import deals`.
"""
