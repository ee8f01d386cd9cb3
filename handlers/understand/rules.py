"""The answers, and `RULES`, the decision table: the first rule whose condition holds answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.messages import Button, Reply
from handlers import help, playbook
from handlers.coaching import chat as coaching_chat
from handlers.common import (
    Turn,
    deal_playbook_stage,
    visible_deals,
)
from handlers.deals import cards as deal_cards
from handlers.deals import lists as deal_lists
from handlers.deals import moves as deal_moves
from handlers.summaries import chat as summaries_chat
from handlers.understand.finding import (
    Understanding,
    understand,
)
from storage.models import Role


def refuse(turn: Turn, u: Understanding) -> Reply:
    """Refused without details; when the words also start a deal of the asker's own ("castle freight"
    for their Castle Freight Depot Services), that deal is offered as a button, never shown unasked."""
    offered = u.instead[:5]
    return turn.render(
        "replies/refusals.j2#deal_outside_team",
        kind="refusal",
        buttons=tuple(Button(d.name, "deal.next", str(d.id)) for d in offered),
        name=u.deal_words,
        instead=[d.name for d in offered],
    )


def deal_choice(turn: Turn, u: Understanding) -> Reply:
    focus = u.section or ("exit_criteria" if "stuck" in u.intents else None)
    return deal_cards.choose(
        turn, u.deals, "deal.next", f":{focus}" if focus else "", reason="ambiguous", words=u.deal_words
    )


def move_forward(turn: Turn, u: Understanding) -> Reply:
    """ "push Hooli forward one stage": the deal's next stage; a near name asks first, as every change does."""
    deal = u.deal
    assert deal is not None
    found = deal_playbook_stage(turn, deal)
    next_stage = found[0].next_stage(deal.stage_id) if found else None
    if found is None or next_stage is None:
        return turn.render("replies/deals.j2#at_last_stage", kind="error", deal=deal)
    if not u.deal_exact:
        return deal_cards.choose(
            turn,
            [deal],
            "deal.move-pick",
            value_suffix=f":{next_stage.id}",
            reason="confirm",
            words=u.deal_words,
        )
    return deal_moves.apply_move(turn, deal, found[0], next_stage)


def move_to_stage(turn: Turn, u: Understanding) -> Reply:
    """ "Kessler & Sons is ready for risk review, move it": the same path as "move Kessler to risk review",
    so a near name asks first and open exit criteria are recorded as a skipped gate."""
    assert u.deal is not None
    return deal_moves.move(turn, u.deal.name if u.deal_exact else u.deal_words, u.stages[0][1].name)


def deal_answer(turn: Turn, u: Understanding) -> Reply:
    focus = u.section or ("exit_criteria" if "stuck" in u.intents else None)
    assert u.deal is not None
    return deal_cards.deal_card(turn, u.deal, focus=focus)


def closed_deal(turn: Turn, u: Understanding) -> Reply:
    assert u.closed is not None  # the rule's condition
    return deal_cards.closed_card(turn, u.closed)


def this_deal(turn: Turn, u: Understanding) -> Reply:
    found = deal_cards.resolve_deal(turn, "this deal", action="deal.next")
    if isinstance(found, Reply):
        return found
    return deal_cards.deal_card(turn, found, focus=u.section)


def team_answer(turn: Turn, u: Understanding) -> Reply:
    return summaries_chat.team_summary(turn)


def stage_answer(turn: Turn, u: Understanding) -> Reply:
    if len(u.stages) > 1:
        buttons = tuple(Button(f"{s.name} ({p.name})", "stage.show", f"{p.id}:{s.id}") for p, s in u.stages)
        return turn.render("stage_choice.j2", buttons=buttons, kind="choice", words=u.stages[0][1].name)
    book, stage = u.stages[0]
    return turn.render("stage.j2", playbook=book, stage=stage, focus=u.section)


def section_answer(turn: Turn, u: Understanding) -> Reply:
    """A section with no stage: for "this deal" when there is one, else a choice of stages."""
    own = [d for d in visible_deals(turn.db, turn.person) if d.owner_id == turn.person.id]
    if len(own) == 1:
        return deal_cards.deal_card(turn, own[0], focus=u.section)
    preferred = deal_cards.preferred_playbooks(turn)
    book = (turn.ctx.playbooks.get(preferred[0]) if preferred else None) or turn.ctx.playbooks.default
    buttons = tuple(Button(s.name, "stage.show", f"{book.id}:{s.id}") for s in book.stages)
    title = SECTION_TITLES[u.section or "tasks"]
    mine = {d.stage_id for d in own if d.playbook_id == book.id} if not u.content else None
    across = playbook.section_across_stages(
        turn, u.text, u.section or "tasks", book, buttons, where_i_am=mine
    )
    if across is not None:
        return across
    return turn.render(
        "replies/playbook.j2#which_stage", kind="choice", buttons=buttons, title=title, playbook=book
    )


SECTION_TITLES = {
    "exit_criteria": "Exit criteria",
    "tasks": "Tasks",
    "objectives": "Objectives",
    "questions": "Questions to ask",
    "coaching_questions": "Coaching questions",
    "buyer_roles": "Buyer roles",
    "talk_tracks": "Talk tracks",
    "objections": "Objections",
    "content": "Content",
}


@dataclass(frozen=True)
class Rule:
    name: str
    when: Callable[[Understanding], bool]
    answer: Callable[[Turn, Understanding], Reply]


# The decision table, read top to bottom: the first rule whose condition holds answers.
RULES: tuple[Rule, ...] = (
    Rule("refused", lambda u: u.hidden, refuse),
    # "who closed the parking lot gate?", "pizza before the pipeline review?": not about selling, unless a
    # deal or a stage is named as such
    Rule(
        "everyday",
        lambda u: u.everyday and not u.deals and u.closed is None and not u.stage_explicit,
        lambda t, u: help.not_understood(t, u.text),
    ),
    Rule("deal-choice", lambda u: len(u.deals) > 1, deal_choice),
    Rule("move-forward", lambda u: u.forward and u.deal is not None, move_forward),
    Rule("move-to-stage", lambda u: u.move_to_stage and u.deal is not None, lambda t, u: move_to_stage(t, u)),
    Rule("deal", lambda u: u.deal is not None, deal_answer),
    Rule("closed-deal", lambda u: u.closed is not None, closed_deal),
    Rule("this-deal", lambda u: u.this_deal, this_deal),
    Rule(
        "deals-in-stage",
        lambda u: (
            len(u.stages) >= 1
            and u.section is None
            and ("mine" in u.intents or ("team" in u.intents and u.role != Role.REP) or u.asks_which_deals)
        ),
        lambda t, u: deal_lists.deals_in_stage(t, *u.stages[0]),
    ),
    # "who on my team should I coach this week?": the coaching cue
    Rule(
        "coach-due",
        lambda u: (
            u.role == Role.MANAGER
            and "who" in u.words
            and any(w.startswith("coach") for w in u.words)
            and not u.stages
        ),
        lambda t, u: coaching_chat.show_due(t),
    ),
    Rule("team-members", lambda u: u.names_team, team_answer),
    # "how do I coach a rep stuck in the value analysis committee stage": the stage's section, not the team
    Rule(
        "stage-section",
        lambda u: u.stage_explicit and u.section is not None and len(u.stages) == 1,
        stage_answer,
    ),
    Rule(
        "team",
        lambda u: "team" in u.intents and u.role != Role.REP and (not u.section or "stuck" in u.intents),
        team_answer,
    ),
    Rule("my-deals", lambda u: "mine" in u.intents and not u.stages, lambda t, u: deal_lists.my_deals(t)),
    Rule(
        "stage",
        lambda u: (
            bool(u.stages)
            and (u.section is not None or u.stage_explicit or not u.content or not u.known_content)
        ),
        stage_answer,
    ),
    Rule("section", lambda u: u.section is not None and not u.content, section_answer),
    Rule("status", lambda u: "status" in u.intents and not u.content, this_deal),
)


def decide(turn: Turn, text: str) -> tuple[str, Understanding]:
    """The rule that answers `text` ("search" when none does), and what was understood."""
    u = understand(turn, text)
    for rule in RULES:
        if rule.when(u):
            return rule.name, u
    return "search", u


def answer(turn: Turn, name: str, u: Understanding) -> Reply:
    """The answer of the rule `name` (from `decide`)."""
    return next(rule.answer(turn, u) for rule in RULES if rule.name == name)
