"""What a playbook change would strand in the database: `check-playbooks` warns before it is deployed.

Deals, confirmations and quiz questions refer to playbooks by id (playbook id, stage id, criterion id).
A stage whose id changed, or a criterion that was removed, leaves the rows that named it pointing at
nothing: the deal shows as `Initech: evaluation · 0/0`, a confirmation stops counting, a question for a
stage's audience reaches nobody. This package reads the configured database (read-only: SQLite is opened
with `mode=ro`, PostgreSQL in a READ ONLY transaction) and describes each such group with how to fix it.

No database (a SQLite file that does not exist), an empty file or a schema that was never migrated give no
warnings at all, and nothing is created.

- `report`: `check_database`, the entry point, and the report it returns;
- `deals`, `confirmations`, `quizzes`: the checks per kind of row;
- `base`: what the checks share.
"""
