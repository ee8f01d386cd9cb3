"""Deals: "what's next for Acme?", moving stages, adding deals, "my deals"."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC

from rapidfuzz import utils
from sqlalchemy import func, select

from bot.confirmations import confirmed_criteria
from bot.localtime import zone
from bot.messages import Button, Reply
from bot.stage_moves import record_stage_change
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
from playbooks.schema import Playbook, Stage
from storage.models import ChannelLink, Deal, DealStageChange, DealStatus

THIS_DEAL = {"", "this deal", "this one", "my deal", "the deal", "it", "this", "this opportunity", "this opp"}
PAGE_SIZE = 10
# The sections of a stage a deal card can show first.
SECTION_KINDS = frozenset(
    {"exit_criteria", "tasks", "objectives", "questions", "coaching_questions", "buyer_roles", "talk_tracks",
     "objections", "content"}
)
NEXT_STAGE = {"next", "next stage", "the next stage", "next one", "the next one", "next step", "next phase"}


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


def deal_card(turn: Turn, deal: Deal, focus: str | None = None, *, confirmed: set[str] | None = None) -> Reply:
    """The deal's stage guidance; `confirmed` (the criteria confirmed at its stage) is read unless given."""
    found = deal_playbook_stage(turn, deal)
    if found is None:
        return turn.render(
            "message.j2",
            kind="error",
            text=f"{deal.name} is at stage '{deal.stage_id}' of playbook '{deal.playbook_id}', which the playbooks "
            "no longer contain. Ask enablement to restore it, or move the deal to a current stage.",
        )
    playbook, stage = found
    next_stage = playbook.next_stage(stage.id)
    days = max((turn.now() - deal.stage_entered_at).days, 0)
    buttons = (Button("Confirm criteria", "criteria.form", str(deal.id), style="primary"),)
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
        and not _words_of(words) <= _words_of(match.deal.name)
    ):
        return choose(turn, [match.deal], action, value_suffix, reason="confirm", words=words)
    if match.deal is not None:
        return match.deal
    if match.candidates:
        reason = "ambiguous" if len(match.candidates) > 1 else "suggest"
        return choose(turn, list(match.candidates), action, value_suffix, reason=reason, words=words)
    if match.hidden:
        return turn.render(
            "refused.j2",
            kind="refusal",
            what=f'the deal "{words}"',
            why="it belongs to someone outside your team.",
        )
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


def reopen(turn: Turn, words: str) -> Reply:
    """"reopen Hooli": a deal closed by mistake (or revived) goes back to its stage, history kept."""
    deal = closed_deal_named(turn.db, turn.person, words)
    if deal is None:
        found = find_deal(turn.db, turn.person, words)
        if found.deal is not None:
            return turn.render(
                "message.j2", kind="error", text=f"{found.deal.name} is open already. Nothing was changed."
            )
        if found.hidden:
            return turn.render(
                "refused.j2", kind="refusal", what=f'the deal "{words}"', why="it belongs to someone outside your team."
            )
        return turn.render(
            "message.j2",
            kind="error",
            text=f'I couldn\'t find a closed deal called "{words}" among the deals you can see. Nothing was changed.',
        )
    return _reopen(turn, deal)


def reopen_clicked(turn: Turn, value: str) -> Reply:
    deal = deal_by_id(turn, value)
    return deal if isinstance(deal, Reply) else _reopen(turn, deal)


def _reopen(turn: Turn, deal: Deal) -> Reply:
    if deal.status == DealStatus.OPEN:
        return turn.render("message.j2", kind="error", text=f"{deal.name} is open already. Nothing was changed.")
    deal.status = DealStatus.OPEN
    deal.closed_at = None
    deal.closed_reason = None
    turn.db.flush()
    found = deal_playbook_stage(turn, deal)
    return turn.render("deal_reopened.j2", deal=deal, stage_name=found[1].name if found else deal.stage_id)


def _words_of(text: str) -> set[str]:
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
        return turn.render("message.j2", kind="error", text="That deal no longer exists.")
    if not can_see(turn.db, turn.person, deal):
        return turn.render(
            "refused.j2",
            kind="refusal",
            what=f'the deal "{deal.name}"',
            why="it belongs to someone outside your team.",
        )
    return deal


def next_clicked(turn: Turn, value: str) -> Reply:
    """A deal chosen from a choice; "<id>:<section>" keeps the section the question asked for."""
    deal_id, _, focus = value.partition(":")
    deal = deal_by_id(turn, deal_id)
    return deal if isinstance(deal, Reply) else deal_card(turn, deal, focus=focus if focus in SECTION_KINDS else None)


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
        return turn.render(
            "message.j2", kind="error", text=f"The stage '{stage_id}' is no longer in the playbook."
        )
    return apply_move(turn, deal, playbook, stage)


TRAILING_FILLER = re.compile(r"(?:\s+(?:pls|plz|please|thanks|thx|ty|asap|now|today|thank you))+\W*$", re.IGNORECASE)


def _move_to_words(turn: Turn, deal: Deal, stage_words: str) -> Reply:
    stage_words = TRAILING_FILLER.sub("", stage_words).strip() or stage_words  # "next stage pls"
    playbook = turn.ctx.playbooks.get(deal.playbook_id)
    if playbook is None:
        return turn.render(
            "message.j2", kind="error", text=f"{deal.name}'s playbook '{deal.playbook_id}' no longer exists."
        )
    if utils.default_process(stage_words) in NEXT_STAGE:
        following = playbook.next_stage(deal.stage_id)
        if following is None:
            return turn.render(
                "message.j2",
                kind="error",
                text=f"{deal.name} is at the last stage of its playbook: there is no stage to move it to.",
            )
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


def create(turn: Turn, name: str, stage_words: str | None) -> Reply:
    """Add a deal owned by the asker, at the named stage (or the first stage of their usual playbook)."""
    name = " ".join(name.split()).strip(" \"'")
    if not name or len(name) > 200:
        return turn.render("message.j2", kind="error", text="A deal name must be 1 to 200 characters long.")
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
            return turn.render(
                "message.j2",
                kind="error",
                text=f'A deal called "{name}" already exists. Please pick another name.',
            )
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
        title = "Open deals in the organization" if turn.person.role.value == "enablement" else "Your team's open deals"
    return _deal_list(turn, deals, title, offset, str(offset + PAGE_SIZE))


def deals_in_stage(turn: Turn, playbook: Playbook, stage: Stage, offset: int = 0) -> Reply:
    """"who on my team has deals in proposal?", "which of my deals are in evaluation": the open deals the
    asker may see (a rep: their own) at that stage, paginated."""
    deals = [
        d for d in visible_deals(turn.db, turn.person)
        if d.playbook_id == playbook.id and d.stage_id == stage.id
        and (turn.person.role.value != "rep" or d.owner_id == turn.person.id)
    ]
    whose = "Your" if turn.person.role.value == "rep" else "Your team's" if turn.person.role.value == "manager" else "Open"
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
    """"Show more": "<offset>" pages "my deals", "<offset>:<playbook>:<stage>" a stage's deals."""
    offset_text, _, where = value.partition(":")
    offset = small_number(offset_text) or 0
    if where:
        playbook_id, _, stage_id = where.partition(":")
        book = turn.ctx.playbooks.get(playbook_id)
        stage = book.stage(stage_id) if book else None
        if book is not None and stage is not None:
            return deals_in_stage(turn, book, stage, offset)
    return my_deals(turn, offset)


def preferred_playbooks(turn: Turn) -> list[str]:
    """Playbook ids of the asker's open deals, most used first: "discovery" means their playbook's stage."""
    owned = turn.db.scalars(
        select(Deal.playbook_id).where(Deal.owner_id == turn.person.id, Deal.status == DealStatus.OPEN)
    ).all()
    return [pid for pid, _ in Counter(owned).most_common()]


def link_channel(turn: Turn, words: str) -> Reply:
    """Link the channel the request came from to a deal, so "this deal" there means that deal."""
    if not turn.request.shared or not turn.request.channel_id:
        return turn.render(
            "message.j2", kind="error", text="Linking works in a Slack or Teams channel: say it there."
        )
    deal = resolve_deal(turn, words, action="channel.link", write=True)
    if isinstance(deal, Reply):
        return deal
    return _link(turn, deal)


def link_clicked(turn: Turn, value: str) -> Reply:
    deal = deal_by_id(turn, value)
    return deal if isinstance(deal, Reply) else _link(turn, deal)


def _link(turn: Turn, deal: Deal) -> Reply:
    link = turn.db.scalar(
        select(ChannelLink).where(
            ChannelLink.organization_id == turn.organization.id, ChannelLink.channel_id == turn.request.channel_id
        )
    )
    if link is None:
        link = ChannelLink(organization_id=turn.organization.id, channel_id=turn.request.channel_id)
        turn.db.add(link)
    link.deal_id = deal.id
    link.linked_by_id = turn.person.id
    return turn.render("channel_linked.j2", deal=deal)


def unlink_channel(turn: Turn) -> Reply:
    link = turn.db.scalar(
        select(ChannelLink).where(
            ChannelLink.organization_id == turn.organization.id, ChannelLink.channel_id == turn.request.channel_id
        )
    )
    if link is None:
        return turn.render("message.j2", kind="error", text="This channel is not linked to a deal.")
    turn.db.delete(link)
    return turn.render("message.j2", text="This channel is no longer linked to a deal.")


# -- closing deals: won or lost ------------------------------------------------------------------------

OUTCOME_WORDS = {"won": DealStatus.WON, "win": DealStatus.WON, "signed": DealStatus.WON, "lost": DealStatus.LOST}
LOST_REASONS = ("Lost to a competitor", "No budget", "No decision", "Bad timing")
REASON_LIMIT = 300


def close(
    turn: Turn, deal_words: str, outcome_word: str, reason: str | None, *, strict: bool = False
) -> Reply | None:
    """"mark Hooli lost: went with a competitor", "Initech signed": close a deal won or lost.

    `strict` (a sentence that merely ends in won/lost/signed): act only when the words name a deal the
    asker knows of; otherwise None, and the question is understood some other way.
    """
    outcome = OUTCOME_WORDS[outcome_word.casefold()]
    reason = " ".join((reason or "").split())
    if len(reason) > REASON_LIMIT:
        return turn.render(
            "message.j2",
            kind="error",
            text=f"That reason is {len(reason)} characters; the limit is {REASON_LIMIT}. Nothing was changed.",
        )
    if strict and exact_visible(turn, deal_words) is None:
        match = find_deal(turn.db, turn.person, deal_words)
        named = match.deal is not None and _words_of(deal_words) <= _words_of(match.deal.name)
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
        return turn.render("message.j2", kind="error", text='That button is no longer active. Say "help" to start again.')
    deal = deal_by_id(turn, deal_id)
    if isinstance(deal, Reply):
        return deal
    return _close(turn, deal, DealStatus(outcome_value), reason[:REASON_LIMIT])


def _close(turn: Turn, deal: Deal, outcome: DealStatus, reason: str) -> Reply:
    if deal.status != DealStatus.OPEN:
        return turn.render(
            "message.j2", kind="error", text=f"{deal.name} is already closed {deal.status.value}. Nothing was changed."
        )
    if outcome == DealStatus.LOST and not reason:
        buttons = tuple(
            Button(label, "deal.close", f"{deal.id}:{DealStatus.LOST.value}:{label}") for label in LOST_REASONS
        )
        return turn.render(
            "message.j2",
            buttons=buttons,
            text=(
                f"Why was {deal.name} lost? Choose a reason below, or say "
                f'"mark {deal.name} lost: <reason>". Nothing is changed until you do.'
            ),
        )
    deal.status = outcome
    deal.closed_at = turn.now()
    deal.closed_reason = reason or None
    turn.db.flush()
    return turn.render("deal_closed.j2", deal=deal, won=outcome == DealStatus.WON, reason=reason)
