"""What's next for a deal: finding the deal a person means (by name, "this deal", a button) and its card
for the stage it is in.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC

from sqlalchemy import select

from bot.confirmations import confirmed_criteria
from bot.localtime import zone
from bot.messages import Button, Reply
from bot.text import fold
from handlers.common import (
    Turn,
    can_see,
    closed_deal_named,
    deal_playbook_stage,
    find_deal,
    small_number,
    visible_deal_named,
    visible_deals,
)
from handlers.deals.lists import PAGE_SIZE
from storage.models import ChannelLink, Deal, DealStatus

THIS_DEAL = {"", "this deal", "this one", "my deal", "the deal", "it", "this", "this opportunity", "this opp"}
# The sections of a stage a deal card can show first.
SECTION_KINDS = frozenset(
    {
        "exit_criteria",
        "tasks",
        "objectives",
        "questions",
        "coaching_questions",
        "buyer_roles",
        "talk_tracks",
        "objections",
        "content",
    }
)


def whats_next(turn: Turn, words: str | None) -> Reply:
    """The deal's stage guidance with the exit criteria not yet confirmed for this deal."""
    deal_or_reply = resolve_deal(turn, words, action="deal.next")
    if isinstance(deal_or_reply, Reply):
        return deal_or_reply
    return deal_card(turn, deal_or_reply)


def exact_visible(turn: Turn, words: str) -> Deal | None:
    """The one visible open deal with exactly this name (ignoring case and punctuation), else None."""
    wanted = fold(words)
    found = visible_deal_named(turn.db, turn.person, wanted) if wanted else None
    return found[0] if found is not None else None


def exact_card(turn: Turn, words: str) -> Reply | None:
    """ "what's next for <exact name>": the card of the one visible open deal with exactly this name
    (ignoring case and punctuation), read with its confirmed criteria in one statement; else None."""
    wanted = fold(words)
    found = visible_deal_named(turn.db, turn.person, wanted) if wanted else None
    return deal_card(turn, found[0], confirmed=found[1]) if found is not None else None


def deal_card(
    turn: Turn, deal: Deal, focus: str | None = None, *, confirmed: set[str] | None = None
) -> Reply:
    """The deal's stage guidance; `confirmed` (the criteria confirmed at its stage) is read unless given."""
    found = deal_playbook_stage(turn, deal)
    if found is None:
        return turn.render("replies/deals.j2#stage_missing_from_playbooks", kind="error", deal=deal)
    playbook, stage = found
    next_stage = playbook.next_stage(stage.id)
    days = max((turn.now() - deal.stage_entered_at).days, 0)
    buttons: tuple[Button, ...] = (
        Button("Confirm criteria", "criteria.form", str(deal.id), style="primary"),
    )
    if next_stage:
        buttons += (Button(f"Move to {next_stage.name}", "deal.move", f"{deal.id}:{next_stage.id}"),)
    if confirmed is None:
        confirmed = confirmed_criteria(turn.db, deal)
    return turn.render(
        "deal_next.j2",
        buttons=buttons,
        deal=deal,
        playbook=playbook,
        stage=stage,
        next_stage=next_stage,
        stage_body=turn.ctx.renderer.stage_body(stage, confirmed=confirmed, focus=focus),
        days_in_stage=days,
    )


def resolve_deal(
    turn: Turn, words: str | None, *, action: str, value_suffix: str = "", write: bool = False
) -> Deal | Reply:
    """Find the deal the person means, or the reply that asks them (choice) or tells them why not.

    For a `write` (move, link) a near match is never acted on: "move Acme Corp 2" must not move Acme Corp,
    nor "Secret Deal B" move Secret Deal A. It proceeds on the exact name, or on words that are all words
    of the one matching name ("acme" for Acme Corp); anything else asks first, with a button to confirm.
    """
    words = (words or "").strip()
    if words.casefold() in THIS_DEAL:
        return _this_deal(turn, action, value_suffix)
    match = find_deal(turn.db, turn.person, words)
    if (
        match.deal is not None
        and write
        and not match.exact
        and not words_of(words) <= words_of(match.deal.name)
    ):
        return choose(turn, [match.deal], action, value_suffix, reason="confirm", words=words)
    if match.deal is not None:
        return match.deal
    if match.candidates:
        reason = "ambiguous" if len(match.candidates) > 1 else "suggest"
        return choose(turn, list(match.candidates), action, value_suffix, reason=reason, words=words)
    if match.hidden:
        return turn.render("replies/refusals.j2#deal_outside_team", kind="refusal", name=words)
    closed = closed_deal_named(turn.db, turn.person, words)
    if closed is not None:
        return closed_card(turn, closed)
    own = [d for d in visible_deals(turn.db, turn.person) if d.owner_id == turn.person.id]
    return turn.render("deal_not_found.j2", kind="error", words=words, deals=own[:PAGE_SIZE])


def closed_card(turn: Turn, deal: Deal) -> Reply:
    """What a closed deal asked about by name says: when and how it closed, and how to reopen it."""
    closed_on = None
    if deal.closed_at is not None:
        at = deal.closed_at if deal.closed_at.tzinfo else deal.closed_at.replace(tzinfo=UTC)
        closed_on = at.astimezone(zone(turn.person.timezone)).strftime("%d %b %Y").lstrip("0")
    return turn.render(
        "deal_is_closed.j2",
        deal=deal,
        closed_on=closed_on,
        buttons=(Button(f"Reopen {deal.name}", "deal.reopen", str(deal.id)),),
    )


def words_of(text: str) -> set[str]:
    return set(fold(text).split())


def _this_deal(turn: Turn, action: str, value_suffix: str) -> Deal | Reply:
    if turn.request.channel_id:
        link = turn.db.scalar(
            select(ChannelLink).where(
                ChannelLink.organization_id == turn.organization.id,
                ChannelLink.channel_id == turn.request.channel_id,
            )
        )
        if link is not None:
            deal = turn.db.get(Deal, link.deal_id)
            if deal is not None and can_see(turn.db, turn.person, deal):
                return deal
    own = [d for d in visible_deals(turn.db, turn.person) if d.owner_id == turn.person.id]
    if len(own) == 1:
        return own[0]
    if not own:
        return turn.render("no_open_deals.j2", kind="error")
    return choose(turn, own, action, value_suffix, reason="several-open", words="")


def choose(
    turn: Turn, deals: list[Deal], action: str, value_suffix: str = "", *, reason: str, words: str
) -> Reply:
    """A choice of deals as buttons (`reason`: ambiguous, several-open, confirm or suggest)."""
    shown = deals[:PAGE_SIZE]
    buttons = tuple(Button(_deal_label(turn, d), action, f"{d.id}{value_suffix}") for d in shown)
    return turn.render(
        "deal_choice.j2", buttons=buttons, kind="choice", reason=reason, words=words, deals=shown
    )


def _deal_label(turn: Turn, deal: Deal) -> str:
    found = deal_playbook_stage(turn, deal)
    stage = found[1].name if found else deal.stage_id
    owner = "" if deal.owner_id == turn.person.id else f", {deal.owner.name}"
    return f"{deal.name} ({stage}{owner})"


def deal_by_id(turn: Turn, deal_id: str) -> Deal | Reply:
    """A deal from a button value; refuses deals the clicker may not see (values can be forged)."""
    number = small_number(deal_id)
    deal = turn.db.get(Deal, number) if number is not None else None
    if deal is None or deal.organization_id != turn.organization.id:
        return turn.render("replies/deals.j2#deal_gone", kind="error")
    if not can_see(turn.db, turn.person, deal):
        return turn.render("replies/refusals.j2#deal_outside_team", kind="refusal", name=deal.name)
    return deal


def next_clicked(turn: Turn, value: str) -> Reply:
    """A deal chosen from a choice; "<id>:<section>" keeps the section the question asked for."""
    deal_id, _, focus = value.partition(":")
    deal = deal_by_id(turn, deal_id)
    return (
        deal
        if isinstance(deal, Reply)
        else deal_card(turn, deal, focus=focus if focus in SECTION_KINDS else None)
    )


def preferred_playbooks(turn: Turn) -> list[str]:
    """Playbook ids of the asker's open deals, most used first: "discovery" means their playbook's stage."""
    owned = turn.db.scalars(
        select(Deal.playbook_id).where(Deal.owner_id == turn.person.id, Deal.status == DealStatus.OPEN)
    ).all()
    return [pid for pid, _ in Counter(owned).most_common()]
