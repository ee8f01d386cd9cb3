"""Spaced-repetition knowledge checks, one module per part (import from the module, not from here).

- queue: each rep's FSRS cards and daily budget, which question comes next, asking and answering it
  ("quiz me", an answer button, "Next question"); the FSRS scheduler settings.
- daily: the daily knowledge check, queued at each rep's local quiz time and composed when it is sent.
- review: linked questions waiting for enablement because the playbook section they test changed or is
  gone ("questions to review", "mark ID reviewed").
- results: "my progress" and what to re-read, "team knowledge", enablement's "quiz report", topic scores.
- authoring: the new-question form enablement fills in chat, and its submission.
- channel: a quiz posted to a channel, its answers, and closing it with the results.

Between them: daily imports queue (to choose and ask the question), results imports review (the quiz
report lists the questions to review); the others import none of their siblings.
"""
