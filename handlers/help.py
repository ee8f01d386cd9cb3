"""Help, and the reply to anything the bot did not understand (never silence)."""

from __future__ import annotations

from bot.messages import Reply
from handlers.common import Turn


def show_help(turn: Turn) -> Reply:
    return turn.render("help.j2")


def not_understood(turn: Turn, words: str) -> Reply:
    example = turn.ctx.playbooks.default.stages[
        min(1, len(turn.ctx.playbooks.default.stages) - 1)
    ].name.lower()
    return turn.render("not_understood.j2", kind="error", words=words.strip()[:200], example_stage=example)
