"""Help, and the reply to anything the bot did not understand (never silence)."""

from __future__ import annotations

from bot.messages import Reply
from handlers.common import Turn, visible_deals


def show_help(turn: Turn) -> Reply:
    return turn.render("help.j2")


def not_understood(turn: Turn, words: str) -> Reply:
    """Suggestions built from the asker's own data, so each example works if they try it."""
    stages = turn.ctx.playbooks.default.stages
    example_stage = stages[min(1, len(stages) - 1)].name.lower()
    own = [d for d in visible_deals(turn.db, turn.person) if d.owner_id == turn.person.id]
    return turn.render(
        "not_understood.j2",
        kind="error",
        words=words.strip()[:200],
        example_stage=example_stage,
        example_deal=own[0].name if own else "Acme",
    )
