"""Lists of deals: `my deals` (a manager with none sees the team's) and the deals at a stage, paginated."""

from __future__ import annotations

from dataclasses import dataclass

from bot.confirmations import confirmed_criteria
from bot.messages import Button, Reply
from handlers.common import (
    Turn,
    deal_playbook_stage,
    small_number,
    visible_deals,
)
from playbooks.schema import Playbook, Stage
from storage.models import Deal

PAGE_SIZE = 10


@dataclass(frozen=True)
class _Row:
    deal: Deal
    stage_name: str
    confirmed: int
    total: int
    show_owner: bool


def my_deals(turn: Turn, offset: int = 0) -> Reply:
    """The asker's open deals (a manager with none of their own sees their team's), paginated."""
    deals = [d for d in visible_deals(turn.db, turn.person) if d.owner_id == turn.person.id]
    title = "Your open deals"
    if not deals and turn.person.role.value != "rep":
        deals = visible_deals(turn.db, turn.person)
        title = (
            "Open deals in the organization"
            if turn.person.role.value == "enablement"
            else "Your team's open deals"
        )
    return _deal_list(turn, deals, title, offset, str(offset + PAGE_SIZE))


def deals_in_stage(turn: Turn, playbook: Playbook, stage: Stage, offset: int = 0) -> Reply:
    """ "who on my team has deals in proposal?", "which of my deals are in evaluation": the open deals the
    asker may see (a rep: their own) at that stage, paginated."""
    deals = [
        d
        for d in visible_deals(turn.db, turn.person)
        if d.playbook_id == playbook.id
        and d.stage_id == stage.id
        and (turn.person.role.value != "rep" or d.owner_id == turn.person.id)
    ]
    whose = (
        "Your"
        if turn.person.role.value == "rep"
        else "Your team's"
        if turn.person.role.value == "manager"
        else "Open"
    )
    title = f"{whose} deals in {stage.name} ({playbook.name})"
    empty = f"None of {'your' if whose == 'Your' else 'the'} open deals is at this stage."
    if whose == "Your team's":
        empty = "None of your team's open deals is at this stage."
    return _deal_list(turn, deals, title, offset, f"{offset + PAGE_SIZE}:{playbook.id}:{stage.id}", empty)


def _deal_list(turn: Turn, deals: list[Deal], title: str, offset: int, more: str, empty: str = "") -> Reply:
    page = deals[offset : offset + PAGE_SIZE]
    rows = []
    for deal in page:
        found = deal_playbook_stage(turn, deal)
        total = len(found[1].exit_criteria) if found else 0
        done = len(confirmed_criteria(turn.db, deal) & {c.id for c in found[1].exit_criteria}) if found else 0
        rows.append(
            _Row(
                deal, found[1].name if found else deal.stage_id, done, total, deal.owner_id != turn.person.id
            )
        )
    buttons: tuple[Button, ...] = ()
    if offset + PAGE_SIZE < len(deals):
        buttons = (Button("Show more", "deals.page", more),)
    return turn.render(
        "my_deals.j2",
        buttons=buttons,
        title=title,
        rows=rows,
        empty=empty,
        first=offset + 1,
        last=offset + len(page),
        total=len(deals),
    )


def page_clicked(turn: Turn, value: str) -> Reply:
    """ "Show more": "<offset>" pages "my deals", "<offset>:<playbook>:<stage>" a stage's deals."""
    offset_text, _, where = value.partition(":")
    offset = small_number(offset_text) or 0
    if where:
        playbook_id, _, stage_id = where.partition(":")
        book = turn.ctx.playbooks.get(playbook_id)
        stage = book.stage(stage_id) if book else None
        if book is not None and stage is not None:
            return deals_in_stage(turn, book, stage, offset)
    return my_deals(turn, offset)
