"""`python -m scheduler`: see scheduler.clock. The composition root of the clock: it hands the jobs the
platform senders, so the scheduler's own modules import no Slack or Teams SDK."""

from __future__ import annotations

from bot.context import AppContext
from bot.delivery import Sender
from scheduler.clock import main
from storage.models import Platform


def build_senders(ctx: AppContext) -> dict[Platform, Sender]:
    """The platform senders, imported when the outbox job first sends (not for `--help` or `status`)."""
    from bot.channels.senders import build_senders as from_settings

    return from_settings(ctx)


raise SystemExit(main(build_senders=build_senders))
