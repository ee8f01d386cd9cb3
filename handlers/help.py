"""Help for this person's role, and the reply to anything the bot did not understand (never silence)."""

from __future__ import annotations

from bot.messages import Button, Reply
from handlers.common import Turn, visible_deals
from playbooks.nearest import ranked
from storage.models import Role

# What each role can ask, as typed commands the "didn't understand" reply offers as buttons.
COMMANDS: dict[Role, tuple[str, ...]] = {
    Role.REP: (
        "what's next for {deal}",
        "my deals",
        "exit criteria for {stage}",
        "how do I handle a pricing objection?",
        "confirm {deal}",
        "quiz me",
        "my progress",
        "home",
    ),
    Role.MANAGER: (
        "team summary",
        "who should I coach?",
        "my coaching",
        "team knowledge",
        "criteria report",
        "log coaching",
        "my deals",
        "exit criteria for {stage}",
        "home",
    ),
    Role.ENABLEMENT: (
        "criteria report",
        "coaching report",
        "quiz report",
        "new quiz question",
        "team summary",
        "exit criteria for {stage}",
        "home",
    ),
}


def show_help(turn: Turn) -> Reply:
    from handlers.leaderboard import is_on

    return turn.render("help.j2", leaderboard=is_on(turn.organization))  # its line only when it is on


def not_understood(turn: Turn, words: str) -> Reply:
    """Suggestions built from the asker's own data, so each example works if they try it; the commands
    nearest to what was typed come as buttons."""
    stages = turn.ctx.playbooks.default.stages
    example_stage = stages[min(1, len(stages) - 1)].name.lower()
    own = [d for d in visible_deals(turn.db, turn.person) if d.owner_id == turn.person.id]
    example_deal = own[0].name if own else "Acme"
    typed = words.strip()[:200]
    buttons = tuple(Button(c, "say", c) for c in nearest_commands(turn, typed, example_deal, example_stage))
    return turn.render(
        "not_understood.j2",
        kind="error",
        buttons=buttons + (Button("Help", "say", "help"),),
        words=typed,
        example_stage=example_stage,
        example_deal=example_deal,
    )


def nearest_commands(turn: Turn, typed: str, deal: str, stage: str, limit: int = 3) -> list[str]:
    """The person's role's commands most like what they typed (filled in with their own deal and stage)."""
    options = [c.format(deal=deal, stage=stage) for c in COMMANDS.get(turn.person.role, COMMANDS[Role.REP])]
    return [options[i] for i, _ in ranked(typed, dict(enumerate(options)), cutoff=0, limit=limit)]
