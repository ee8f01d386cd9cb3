"""Playbook answers that need no deal: a stage's card, and ranked search over every section."""

from __future__ import annotations

from dataclasses import replace
from typing import overload

from bot.messages import Button, Reply
from handlers import help
from handlers.common import Turn, find_deal
from handlers.deals import cards as deal_cards
from playbooks.schema import Playbook
from playbooks.search import KIND_TITLES


def stage_card(turn: Turn, words: str) -> Reply:
    """The whole stage: objectives, tasks, exit criteria, questions, talk tracks, content.

    "exit criteria for Acme" names a deal rather than a stage, so a deal name falls through to the deal's
    own answer (with only its unconfirmed criteria).
    """
    preferred = deal_cards.preferred_playbooks(turn)
    matches = turn.ctx.playbooks.find_stage(words, prefer=preferred)
    if not matches:
        deal = find_deal(turn.db, turn.person, words)
        if deal.deal is not None:
            return deal_cards.deal_card(turn, deal.deal)
        playbook = (turn.ctx.playbooks.get(preferred[0]) if preferred else None) or turn.ctx.playbooks.default
        return turn.render("stage_not_found.j2", kind="error", words=words, playbook=playbook)
    playbooks_hit = {p.id for p, _ in matches}
    if len(playbooks_hit) > 1 and not (preferred and matches[0][0].id in preferred):
        buttons = tuple(Button(f"{s.name} ({p.name})", "stage.show", f"{p.id}:{s.id}") for p, s in matches)
        return turn.render("stage_choice.j2", buttons=buttons, kind="choice", words=words)
    playbook, stage = matches[0]
    return turn.render("stage.j2", playbook=playbook, stage=stage)


def stage_clicked(turn: Turn, value: str) -> Reply:
    playbook_id, _, stage_id = value.partition(":")
    playbook = turn.ctx.playbooks.get(playbook_id)
    stage = playbook.stage(stage_id) if playbook else None
    if playbook is None or stage is None:
        return turn.render("replies/playbook.j2#stage_gone", kind="error")
    return turn.render("stage.j2", playbook=playbook, stage=stage)


# Section kinds of understanding (handlers.understand) -> kinds of search documents.
SEARCH_KIND = {"objections": "objection", "talk_tracks": "talk_track"}
SECTION_POOL = 40  # hits looked through for one kind of section across a playbook's stages
SECTION_SHOWN = 3


@overload
def search(
    turn: Turn,
    query: str,
    *,
    fallback: bool = False,
    section: str | None = None,
    prefer: list[str] | None = None,
) -> Reply: ...
@overload
def search(
    turn: Turn,
    query: str,
    *,
    fallback: bool = False,
    quiet: bool,
    section: str | None = None,
    prefer: list[str] | None = None,
    lenient: bool = False,
    kind_boost: float = 1.5,
) -> Reply | None: ...


def search(
    turn: Turn,
    query: str,
    *,
    fallback: bool = False,
    quiet: bool = False,
    section: str | None = None,
    prefer: list[str] | None = None,
    lenient: bool = False,
    kind_boost: float = 1.5,
) -> Reply | None:
    """Best-matching sections across every stage (the `section` kind asked for ranks higher); with
    `fallback`, a miss becomes the "didn't understand" reply, or None when `quiet` (the caller has a
    better reply). `prefer`: playbook ids to rank first (default: the asker's); `lenient`: the question is
    known to be about selling (the thesaurus or the buyer's position said so), so unknown words do not make
    it a miss."""
    kind = SEARCH_KIND.get(section or "", section)
    hits = turn.ctx.playbooks.search(
        query,
        prefer=deal_cards.preferred_playbooks(turn) if prefer is None else prefer,
        every_word=fallback and not lenient,
        kind=kind,
        kind_boost=kind_boost,
    )
    if not hits:
        if quiet:
            return None
        if fallback:
            return help.not_understood(turn, query)
        return turn.render("replies/playbook.j2#nothing_matches", kind="error", query=query)
    return turn.render("search.j2", query=query.rstrip("?"), hits=hits, kind_titles=KIND_TITLES)


def section_across_stages(
    turn: Turn,
    query: str,
    section: str,
    book: Playbook,
    stages: tuple[Button, ...],
    *,
    where_i_am: set[str] | None = None,
) -> Reply | None:
    """One kind of section asked for with no stage or deal ("objection handling pls", "what questions
    should i be asking"): the entries of that kind in `book` that best match the words, with `stages` (a
    button per stage) for all of one stage's. `where_i_am`: stage ids of the asker's open deals; when the
    words say nothing more than the kind of section, those stages come first, in playbook order. None when
    the playbook has no such entries."""
    kind = SEARCH_KIND.get(section, section)
    hits = [
        hit
        for hit in turn.ctx.playbooks.search(
            query, prefer=[book.id], limit=SECTION_POOL, kind=kind, kind_boost=4.0
        )
        if hit.kind == kind and hit.playbook.id == book.id
    ]
    if where_i_am is not None:
        order = {stage.id: i for i, stage in enumerate(book.stages)}
        hits.sort(key=lambda hit: (hit.stage.id not in where_i_am, order.get(hit.stage.id, 99)))
    hits = hits[:SECTION_SHOWN]
    if not hits:
        return None
    reply = turn.render("search.j2", query=query.rstrip("?"), hits=hits, kind_titles=KIND_TITLES)
    note = f"For every {KIND_TITLES[kind].lower()} entry of one stage of {book.name}, pick the stage."
    return replace(reply, buttons=stages, context=note)
