"""Storage: the ground floor. Models and migrations, engine and sessions, the outbox queue, and identity
(organizations and their ways in, people, processed deliveries, conversation references).

It imports nothing of `bot/`, `handlers/` or `scheduler/` (a contract checked in CI, see pyproject.toml).
"""
