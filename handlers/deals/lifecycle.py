"""A deal's life outside its stages: adding it (`new deal`), closing it won or lost, reopening it."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.messages import Button, Reply
from handlers.common import (
    Turn,
    can_see,
    closed_deal_named,
    deal_playbook_stage,
    find_deal,
)
from handlers.deals.cards import deal_by_id, exact_visible, preferred_playbooks, resolve_deal, words_of
from storage.models import Deal, DealStageChange, DealStatus


def reopen(turn: Turn, words: str) -> Reply:
    """ "reopen Hooli": a deal closed by mistake (or revived) goes back to its stage, history kept."""
    deal = closed_deal_named(turn.db, turn.person, words)
    if deal is None:
        found = find_deal(turn.db, turn.person, words)
        if found.deal is not None:
            return turn.render("replies/deals.j2#open_already", kind="error", name=found.deal.name)
        if found.hidden:
            return turn.render("replies/refusals.j2#deal_outside_team", kind="refusal", name=words)
        return turn.render("replies/deals.j2#no_closed_deal", kind="error", words=words)
    return _reopen(turn, deal)


def reopen_clicked(turn: Turn, value: str) -> Reply:
    deal = deal_by_id(turn, value)
    return deal if isinstance(deal, Reply) else _reopen(turn, deal)


def _reopen(turn: Turn, deal: Deal) -> Reply:
    if deal.status == DealStatus.OPEN:
        return turn.render("replies/deals.j2#open_already", kind="error", name=deal.name)
    deal.status = DealStatus.OPEN
    deal.closed_at = None
    deal.closed_reason = None
    turn.db.flush()
    found = deal_playbook_stage(turn, deal)
    return turn.render("deal_reopened.j2", deal=deal, stage_name=found[1].name if found else deal.stage_id)


def create(turn: Turn, name: str, stage_words: str | None) -> Reply:
    """Add a deal owned by the asker, at the named stage (or the first stage of their usual playbook)."""
    name = " ".join(name.split()).strip(" \"'")
    if not name or len(name) > 200:
        return turn.render("replies/deals.j2#name_length", kind="error")
    existing = turn.db.scalar(
        select(Deal).where(
            Deal.organization_id == turn.organization.id,
            Deal.status == DealStatus.OPEN,
            func.lower(Deal.name) == name.lower(),
        )
    )
    if existing is not None:
        found = deal_playbook_stage(turn, existing)
        if not can_see(turn.db, turn.person, existing):
            return turn.render("replies/deals.j2#name_taken", kind="error", name=name)
        return turn.render(
            "deal_exists.j2",
            kind="error",
            buttons=(Button(f"What's next for {existing.name}", "deal.next", str(existing.id)),),
            deal=existing,
            stage_name=found[1].name if found else existing.stage_id,
        )
    preferred = preferred_playbooks(turn)
    if stage_words:
        matches = turn.ctx.playbooks.find_stage(stage_words, prefer=preferred)
        if not matches:
            playbook = turn.ctx.playbooks.get(preferred[0]) if preferred else turn.ctx.playbooks.default
            return turn.render(
                "stage_not_found.j2",
                kind="error",
                words=stage_words,
                playbook=playbook or turn.ctx.playbooks.default,
            )
        playbook, stage = matches[0]
    else:
        playbook = (turn.ctx.playbooks.get(preferred[0]) if preferred else None) or turn.ctx.playbooks.default
        stage = playbook.stages[0]
    deal = Deal(
        organization_id=turn.organization.id,
        name=name,
        owner_id=turn.person.id,
        playbook_id=playbook.id,
        stage_id=stage.id,
        stage_entered_at=turn.now(),
    )
    turn.db.add(deal)
    turn.db.flush()
    turn.db.add(
        DealStageChange(
            organization_id=deal.organization_id,
            deal_id=deal.id,
            from_stage_id=None,
            to_stage_id=stage.id,
            changed_by_id=turn.person.id,
            changed_at=turn.now(),
        )
    )
    deal.owner = turn.person
    button = Button(f"What's next for {deal.name}", "deal.next", str(deal.id), style="primary")
    return turn.render("deal_created.j2", buttons=(button,), deal=deal, stage=stage, playbook=playbook)


# -- closing deals: won or lost ------------------------------------------------------------------------

OUTCOME_WORDS = {
    "won": DealStatus.WON,
    "win": DealStatus.WON,
    "signed": DealStatus.WON,
    "lost": DealStatus.LOST,
}
LOST_REASONS = ("Lost to a competitor", "No budget", "No decision", "Bad timing")
REASON_LIMIT = 300


def close(
    turn: Turn, deal_words: str, outcome_word: str, reason: str | None, *, strict: bool = False
) -> Reply | None:
    """ "mark Hooli lost: went with a competitor", "Initech signed": close a deal won or lost.

    `strict` (a sentence that merely ends in won/lost/signed): act only when the words name a deal the
    asker knows of; otherwise None, and the question is understood some other way.
    """
    outcome = OUTCOME_WORDS[outcome_word.casefold()]
    reason = " ".join((reason or "").split())
    if len(reason) > REASON_LIMIT:
        return turn.render(
            "replies/deals.j2#reason_too_long", kind="error", length=len(reason), limit=REASON_LIMIT
        )
    if strict and exact_visible(turn, deal_words) is None:
        match = find_deal(turn.db, turn.person, deal_words)
        named = match.deal is not None and words_of(deal_words) <= words_of(match.deal.name)
        if not named and not (match.hidden and len(deal_words.split()) <= 4):
            return None
    deal = resolve_deal(
        turn, deal_words, action="deal.close", value_suffix=f":{outcome.value}:{reason}", write=True
    )
    if isinstance(deal, Reply):
        return deal
    return _close(turn, deal, outcome, reason)


def close_clicked(turn: Turn, value: str) -> Reply:
    """A "which deal?" choice or a lost-reason button; value is "<deal id>:<won|lost>:<reason>"."""
    deal_id, _, rest = value.partition(":")
    outcome_value, _, reason = rest.partition(":")
    if outcome_value not in (DealStatus.WON.value, DealStatus.LOST.value):
        return turn.render("replies/common.j2#button_inactive", kind="error")
    deal = deal_by_id(turn, deal_id)
    if isinstance(deal, Reply):
        return deal
    return _close(turn, deal, DealStatus(outcome_value), reason[:REASON_LIMIT])


def _close(turn: Turn, deal: Deal, outcome: DealStatus, reason: str) -> Reply:
    if deal.status != DealStatus.OPEN:
        return turn.render("replies/deals.j2#closed_already", kind="error", deal=deal)
    if outcome == DealStatus.LOST and not reason:
        buttons = tuple(
            Button(label, "deal.close", f"{deal.id}:{DealStatus.LOST.value}:{label}")
            for label in LOST_REASONS
        )
        return turn.render("replies/deals.j2#why_lost", buttons=buttons, deal=deal)
    deal.status = outcome
    deal.closed_at = turn.now()
    deal.closed_reason = reason or None
    turn.db.flush()
    return turn.render("deal_closed.j2", deal=deal, won=outcome == DealStatus.WON, reason=reason)
