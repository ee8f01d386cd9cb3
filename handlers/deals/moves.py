"""Moving a deal to another stage ("move Acme to evaluation", "push Initech forward", the Move button),
recording a skipped gate when exit criteria of the stage it leaves are open.
"""

from __future__ import annotations

import re

from rapidfuzz import utils

from bot.messages import Button, Reply
from bot.stage_moves import record_stage_change
from handlers.common import (
    Turn,
)
from handlers.deals.cards import deal_by_id, resolve_deal
from playbooks.schema import Playbook, Stage
from storage.models import Deal

NEXT_STAGE = {"next", "next stage", "the next stage", "next one", "the next one", "next step", "next phase"}


def move(turn: Turn, deal_words: str, stage_words: str) -> Reply:
    """Move a deal to a stage of its playbook; moving on with open criteria records a skipped gate."""
    deal = resolve_deal(turn, deal_words, action="deal.move-pick", value_suffix=f":{stage_words}", write=True)
    if isinstance(deal, Reply):
        return deal
    return _move_to_words(turn, deal, stage_words)


def move_picked(turn: Turn, value: str) -> Reply:
    """A deal chosen from the "which deal?" buttons of a move; value is "<deal id>:<stage words>"."""
    deal_id, _, stage_words = value.partition(":")
    deal = deal_by_id(turn, deal_id)
    return deal if isinstance(deal, Reply) else _move_to_words(turn, deal, stage_words)


def move_clicked(turn: Turn, value: str) -> Reply:
    """The "Move to <stage>" button; value is "<deal id>:<stage id>"."""
    deal_id, _, stage_id = value.partition(":")
    deal = deal_by_id(turn, deal_id)
    if isinstance(deal, Reply):
        return deal
    playbook = turn.ctx.playbooks.get(deal.playbook_id)
    stage = playbook.stage(stage_id) if playbook else None
    if playbook is None or stage is None:
        return turn.render("replies/deals.j2#stage_gone", kind="error", stage_id=stage_id)
    return apply_move(turn, deal, playbook, stage)


TRAILING_FILLER = re.compile(
    r"(?:\s+(?:pls|plz|please|thanks|thx|ty|asap|now|today|thank you))+\W*$", re.IGNORECASE
)


def _move_to_words(turn: Turn, deal: Deal, stage_words: str) -> Reply:
    stage_words = TRAILING_FILLER.sub("", stage_words).strip() or stage_words  # "next stage pls"
    playbook = turn.ctx.playbooks.get(deal.playbook_id)
    if playbook is None:
        return turn.render("replies/deals.j2#playbook_gone", kind="error", deal=deal)
    if utils.default_process(stage_words) in NEXT_STAGE:
        following = playbook.next_stage(deal.stage_id)
        if following is None:
            return turn.render("replies/deals.j2#at_last_stage", kind="error", deal=deal)
        return apply_move(turn, deal, playbook, following)
    matches = [
        (p, s)
        for p, s in turn.ctx.playbooks.find_stage(stage_words, prefer=[playbook.id])
        if p.id == playbook.id
    ]
    if not matches:
        return turn.render("stage_not_found.j2", kind="error", words=stage_words, playbook=playbook)
    return apply_move(turn, deal, playbook, matches[0][1])


def apply_move(turn: Turn, deal: Deal, playbook: Playbook, stage: Stage) -> Reply:
    if deal.stage_id == stage.id:
        return turn.render("deal_same_stage.j2", deal=deal, stage=stage)
    previous = playbook.stage(deal.stage_id)
    _change, skipped = record_stage_change(
        turn.db, deal, playbook, stage.id, now=turn.now(), actor_id=turn.person.id
    )
    button = Button(f"What's next for {deal.name}", "deal.next", str(deal.id), style="primary")
    return turn.render(
        "deal_moved.j2",
        buttons=(button,),
        deal=deal,
        stage=stage,
        previous=previous,
        playbook=playbook,
        skipped=skipped,
    )
