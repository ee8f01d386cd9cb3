"""Spaced-repetition knowledge checks. Everything is in handlers.quizzes.queue for now (import from the module,
not from here)."""
