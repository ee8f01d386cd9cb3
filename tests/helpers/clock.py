"""The suite's frozen time, and Slack's clock that runs from it."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

FIXED_NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday
MONDAY_0930_CHICAGO = datetime.fromisoformat("2026-11-23T15:30:00+00:00")


def slack_clock() -> Callable[[], float]:
    """Slack stamps messages ("ts") with its own clock; in tests it runs from the frozen FIXED_NOW, as the
    real one agrees with the bot's clock in production (the outbox reconciler searches history by time)."""
    started = time.monotonic()
    return lambda: FIXED_NOW.timestamp() + (time.monotonic() - started)
