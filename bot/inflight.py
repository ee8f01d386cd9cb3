"""A bound on the answers one web process has queued or in flight, shared by its Slack and Teams channels.

Both channels ack (Slack) or accept (Teams) a request faster than they answer it, so without a bound a
burst or a closed-loop load queues answers for seconds: past the bound a request is shed at once with
BUSY_TEXT through the channel's normal reply path, and the answers already taken stay prompt. Everything
runs on the process's one event loop, so a plain counter is enough.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

BUSY_TEXT = "I'm busy right now — please ask again in a moment."
LOG_EVERY = 100  # a warning for the first request shed and then every 100th: an overload logs a little


class AnswerSlots:
    """At most `limit` answers taken and not yet given back."""

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError("the limit of answers in flight must be at least 1")
        self.limit = limit
        self.taken = 0
        self.shed = 0  # requests refused so far (logged and counted for operators)

    def take(self) -> bool:
        """Take a slot for one answer; False (and counted as shed) when all are taken."""
        if self.taken >= self.limit:
            self.shed += 1
            if (self.shed - 1) % LOG_EVERY == 0:
                log.warning(
                    "busy: %d answers in flight (MAX_ANSWERS_IN_FLIGHT); %d requests shed so far",
                    self.taken,
                    self.shed,
                )
            return False
        self.taken += 1
        return True

    def give_back(self) -> None:
        self.taken = max(0, self.taken - 1)
