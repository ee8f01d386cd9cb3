"""From an utterance or a click to the handler that answers it, inside one database transaction.

Commands with arguments are matched against an explicit, ordered table of patterns (`UTTERANCES`, first
match wins). Questions are understood entity-first (`handlers.understand`: deal, stage and section names
and intent words anywhere in the sentence, then its decision table). "what's next for <exact name>"
answers at once. A question understanding cannot place is searched in the playbooks; failing that, the
question patterns (`QUESTIONS`) say which deal or stage was not found, and only then comes the "didn't
understand" reply with the nearest commands as buttons. Clicks carry an action id chosen by the handler
that made the button.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from bot import roles
from bot.context import AppContext
from bot.messages import Reply, Request
from handlers import (
    availability,
    channel_digest,
    criteria,
    deal_form,
    help,
    home,
    leaderboard,
    playbook,
)
from handlers.coaching import chat as coaching_chat
from handlers.coaching import reports as coaching_reports
from handlers.common import Turn
from handlers.deals import cards as deal_cards
from handlers.deals import lifecycle as deal_lifecycle
from handlers.deals import links as deal_links
from handlers.deals import lists as deal_lists
from handlers.deals import moves as deal_moves
from handlers.quizzes import authoring, channel, queue, results, review
from handlers.summaries import chat as summaries_chat
from handlers.understand import rules as understanding
from handlers.understand.words import BUYER_SAYS_BOOST
from storage.models import Person, Workspace

log = logging.getLogger(__name__)

STAGE = r"(?:the )?(?P<stage>[\w&' -]+?)(?: stage| phase)?"
# why a deal was lost: "...: no budget", "... because of timing", "... to a competitor" (kept as "Lost to ...")
REASON = r"(?:(?::| -| because(?: of)?| reason:?| due to)\s*(?P<reason>.+)| (?P<lost_to>to .+))?"


def _reason(m: re.Match[str]) -> str | None:
    return m["reason"] or (f"Lost {m['lost_to']}" if m["lost_to"] else None)


def _switched_on(words: str) -> bool:
    """ "leaderboard on", "enable the leaderboard": True; "turn off the leaderboard", "stop ...": False."""
    return not {"off", "disable", "disabled", "stop"} & set(words.lower().split())


@dataclass(frozen=True)
class Route:
    name: str
    pattern: re.Pattern[str]
    handler: Callable[[Turn, re.Match[str]], Reply | None]


def _r(name: str, pattern: str, handler: Callable[[Turn, re.Match[str]], Reply | None]) -> Route:
    return Route(name, re.compile(pattern, re.IGNORECASE), handler)


UTTERANCES: tuple[Route, ...] = (
    _r(
        "help",
        r"(?:help|\?|commands|menu|start|hi|hello|hey|what can you do|how do(?:es)? (?:this|you) work)(?: me)?",
        lambda t, m: help.show_help(t),
    ),
    _r("home", r"(?:home|overview|dashboard|my home)", lambda t, m: home.show(t)),
    _r("takeaway", r"takeaway:? (?P<line>.+)", lambda t, m: coaching_chat.takeaway(t, m["line"])),
    _r(
        "quiz-me",
        r"quiz me|(?:give me a |next )?(?:quiz|knowledge check)(?: question)?",
        lambda t, m: queue.quiz_me(t),
    ),
    _r(
        "my-progress",
        r"my (?:progress|quiz progress|knowledge|quiz results)",
        lambda t, m: results.my_progress(t),
    ),
    _r("team-knowledge", r"team knowledge|team quiz results", lambda t, m: results.team_knowledge(t)),
    _r(
        "leaderboard-switch",
        r"(?:turn|switch) (?:on|off) (?:the |our )?(?:team |quiz )?leaderboards?"
        r"|(?:enable|disable|start|stop) (?:the |our )?(?:team |quiz )?leaderboards?"
        r"|(?:turn |switch )?(?:the |our )?(?:team |quiz )?leaderboards? (?:on|off|enabled|disabled)",
        lambda t, m: leaderboard.switch(t, _switched_on(m[0])),
    ),
    _r(
        "leaderboard-hide",
        r"(?:hide me|take me off|remove me|leave me off|opt (?:me )?out)(?: of| from)? (?:the |our )?(?:team )?leaderboard"
        r"|(?:don'?t|do not) show (?:me|my name) on (?:the |our )?(?:team )?leaderboard",
        lambda t, m: leaderboard.hide(t, True),
    ),
    _r(
        "leaderboard-unhide",
        r"(?:show me|show my name|put me(?: back)?|unhide me) (?:on|in) (?:the |our )?(?:team )?leaderboard"
        r"|opt (?:me )?(?:back )?in(?:to)? (?:the |our )?(?:team )?leaderboard",
        lambda t, m: leaderboard.hide(t, False),
    ),
    _r(
        "leaderboard",
        r"(?:show )?(?:me )?(?:the |my |our )?(?:team'?s? )?(?:quiz )?(?:leaderboard|ranking|rankings)"
        r"|(?:where|how) do i rank(?: on my team)?|my rank(?:ing)?|who'?s (?:top|leading|ahead) (?:on|in) (?:my|our) team",
        lambda t, m: leaderboard.show(t),
    ),
    _r("quiz-report", r"quiz report", lambda t, m: results.quiz_report(t)),
    _r(
        "quiz-review",
        r"(?:(?:quiz )?questions (?:to|for) review|quiz review|review questions)",
        lambda t, m: review.questions_to_review(t),
    ),
    _r(
        "quiz-reviewed",
        r"mark (?:quiz |question )?(?P<id>[\w.-]+) (?:as )?reviewed",
        lambda t, m: review.mark_reviewed(t, m["id"]),
    ),
    _r("quiz-new", r"(?:new|add|write) (?:a )?(?:quiz )?question", lambda t, m: authoring.new_question_form(t)),
    _r(
        "quiz-post",
        r"post (?:the )?quiz (?P<id>\S+)(?: (?:here|to this channel|in this channel))?(?P<names> with names)?",
        lambda t, m: channel.post_to_channel(t, m["id"], bool(m["names"])),
    ),
    _r("team-add", r"add (?P<who>.+?) to my team", lambda t, m: coaching_chat.add_to_team(t, m["who"])),
    _r(
        "team-remove",
        r"remove (?P<who>.+?) from my team",
        lambda t, m: coaching_chat.remove_from_team(t, m["who"]),
    ),
    _r(
        "coached",
        r"(?:i )?coached (?P<rep>.+?) on (?P<area>[\w &-]+?)(?:[:,] ?(?P<note>.+))?",
        lambda t, m: coaching_chat.log_typed(t, m["rep"], m["area"], m["note"]),
    ),
    _r("log-coaching", r"log (?:a )?coaching(?: session)?", lambda t, m: coaching_chat.log_form(t)),
    _r(
        "due",
        r"who (?:should i|do i need to|to) coach(?: this week)?|coaching due|due for coaching",
        lambda t, m: coaching_chat.show_due(t),
    ),
    _r("my-coaching", r"my coaching", lambda t, m: coaching_reports.my_coaching(t)),
    _r("coaching-report", r"coaching report", lambda t, m: coaching_reports.coaching_report(t)),
    _r(
        "pause",
        r"pause (?:coaching |my |all )?(?:nudges|reminders|digests|messages)(?: until| till| to)? (?P<until>.+)",
        lambda t, m: coaching_chat.pause(t, m["until"]),
    ),
    _r(
        "summary-channel-stop",
        r"(?:stop|don'?t|do not) post(?:ing)? (?:the |my |our )?(?:weekly )?(?:team )?(?:summary|digest)(?: .*)?",
        lambda t, m: channel_digest.unsubscribe(t),
    ),
    _r(
        "summary-channel",
        r"post (?:the |my |our )?(?:weekly )?(?:team |organization )?(?:summary|digest)(?: (?:to|in|into))?(?: (?P<where>.+))?",
        lambda t, m: channel_digest.subscribe(t, m["where"]),
    ),
    _r("resume", r"resume (?:coaching )?(?:nudges|reminders)", lambda t, m: coaching_chat.resume(t)),
    _r(
        "pause-quizzes",
        r"pause (?:my )?(?:quizzes|quiz|knowledge checks?|quiz questions)(?: until| till| to)? (?P<until>.+)",
        lambda t, m: availability.pause_quizzes(t, m["until"]),
    ),
    _r(
        "resume-quizzes",
        r"(?:resume|unpause) (?:my )?(?:quizzes|quiz|knowledge checks?|quiz questions)",
        lambda t, m: availability.resume_quizzes(t),
    ),
    _r(
        "working-days",
        r"(?:set )?my (?:working|work) ?days(?: are| to| =|:)? (?P<days>.+)|i work (?P<days2>(?:mon|tue|wed|thu|fri|sat|sun|week|every).*)",
        lambda t, m: availability.set_working_days(t, m["days"] or m["days2"]),
    ),
    _r(
        "quiet-hours",
        r"(?:set )?(?:my )?quiet hours(?: are| to| =|:)?(?: from)? (?P<start>[\d:apm. ]+?)\s*(?:-|–|—|to|until|till)\s*(?P<end>[\d:apm. ]+)",
        lambda t, m: availability.set_quiet_hours(t, m["start"], m["end"]),
    ),
    _r(
        "country",
        r"(?:set )?my country(?: is| to| =|:)? (?P<country>[^,]+?)(?:,? (?:and )?(?:my )?(?:region|state|province)(?: is| =|:)? (?P<region>.+))?",
        lambda t, m: availability.set_country(t, m["country"], m["region"]),
    ),
    _r(
        "region",
        r"(?:set )?my (?:region|state|province)(?: is| to| =|:)? (?P<region>.+)",
        lambda t, m: availability.set_region(t, m["region"]),
    ),
    _r(
        "availability",
        r"my (?:availability|working hours|working time|messaging hours|holidays)|when (?:do|will) you message me",
        lambda t, m: availability.show(t),
    ),
    _r(
        "cadence",
        r"(?:set )?(?:my |our |team )?coaching cadence(?: to| is)? (?P<cadence>.+)",
        lambda t, m: coaching_chat.set_cadence(t, m["cadence"]),
    ),
    _r(
        "summary",
        r"(?:team |my team'?s? |org |organization )?summary",
        lambda t, m: summaries_chat.team_summary(t),
    ),
    _r(
        "criteria-report",
        r"(?:exit )?criteria report|where (?:do )?deals stall|stall report",
        lambda t, m: summaries_chat.criteria_report(t),
    ),
    _r(
        "confirm",
        r"(?:confirm|un-?confirm|checklist|check ?list|exit criteria checklist|criteria checklist)(?: (?:for|on))? (?P<deal>.+)",
        lambda t, m: criteria.checklist(t, m["deal"]),
    ),
    _r(
        "link",
        r"link (?:this )?(?:channel|chat|conversation) (?:to|with) (?P<deal>.+)",
        lambda t, m: deal_links.link_channel(t, m["deal"]),
    ),
    _r("unlink", r"unlink (?:this )?(?:channel|chat|conversation)", lambda t, m: deal_links.unlink_channel(t)),
    _r(
        "my-deals",
        r"(?:show |list )?(?:my |all my )?(?:open )?(?:deals|pipeline|opportunities|opps)",
        lambda t, m: deal_lists.my_deals(t),
    ),
    _r(
        "new-deal",
        rf"(?:new|add|create|start)(?: a)?(?: new)? deal:? (?P<name>.+?)(?: (?:in|at) {STAGE})?",
        lambda t, m: deal_lifecycle.create(t, m["name"], m["stage"]),
    ),
    _r(
        "new-deal-ask",
        r"(?:new|add|create|start)(?: a)?(?: new)? (?:deal|opportunity|opp):?",
        lambda t, m: deal_form.ask(t),
    ),
    _r(
        "close",
        rf"(?:mark|close|set|update) (?P<deal>.+?) (?:as )?(?:closed[ -]?)?(?P<outcome>won|lost){REASON}",
        lambda t, m: deal_lifecycle.close(t, m["deal"], m["outcome"], _reason(m)),
    ),
    _r(
        "we-closed",
        rf"we(?: have|'ve)? (?P<outcome>won|lost|signed) (?P<deal>.+?){REASON}",
        lambda t, m: deal_lifecycle.close(t, m["deal"], m["outcome"], _reason(m), strict=True),
    ),
    _r(
        "closed",
        rf"(?P<deal>.+?) (?:is |was |has been |got |just )?(?:closed[ -]?)?(?P<outcome>won|lost|signed){REASON}",
        lambda t, m: deal_lifecycle.close(t, m["deal"], m["outcome"], _reason(m), strict=True),
    ),
    _r("reopen", r"(?:reopen|re-open|unclose) (?:the deal )?(?P<deal>.+)", lambda t, m: deal_lifecycle.reopen(t, m["deal"])),
    _r(
        "move",
        rf"(?:move|advance|set|put|update|change|progress) (?P<deal>.+?)(?: back)? (?:to|into|in) {STAGE}",
        lambda t, m: deal_moves.move(t, m["deal"], m["stage"]),
    ),
    _r(
        "moved",
        rf"(?P<deal>.+?) (?:moved|advanced|progressed|is now|has moved) (?:to|into|in) {STAGE}",
        lambda t, m: deal_moves.move(t, m["deal"], m["stage"]),
    ),
    _r(
        "search",
        r"(?:search|find|look up|lookup|search for|search the playbook for) (?P<q>.+)",
        lambda t, m: playbook.search(t, m["q"]),
    ),
)

# Questions that name a deal or a stage in a fixed form. "what's next for <name>" with a visible deal's exact
# name answers at once; otherwise these only answer what understanding and search could not (so the reply
# can say which deal or stage was not found).
QUESTIONS: tuple[Route, ...] = (
    _r(
        "next",
        r"(?:what'?s|what is|whats) next(?: steps?)?(?: (?:for|on|with|in) (?P<deal>.+))?",
        lambda t, m: deal_cards.whats_next(t, m["deal"]),
    ),
    _r(
        "next-short",
        r"next(?: steps?)?(?: (?:for|on) )?(?: ?(?P<deal>.+))?",
        lambda t, m: deal_cards.whats_next(t, m["deal"]),
    ),
    _r(
        "next-do",
        r"what (?:should|do|can) i do (?:next )?(?:for|on|with) (?P<deal>.+)",
        lambda t, m: deal_cards.whats_next(t, m["deal"]),
    ),
    _r(
        "status",
        r"(?:where are we|status|deal|show deal|open deal)(?: (?:with|on|of|for))? (?P<deal>.+)",
        lambda t, m: deal_cards.whats_next(t, m["deal"]),
    ),
    _r(
        "stage-topic",
        rf"(?:show |what are )?(?:the )?(?:exit criteria|criteria|exit gate|gate|objectives|tasks|questions(?: to ask)?|"
        rf"talk tracks|content|buyer roles) (?:for|of|in|at|during) {STAGE}",
        lambda t, m: playbook.stage_card(t, m["stage"]),
    ),
    _r(
        "stage-do",
        rf"what (?:do i do|should i do|do i need to do|happens|are the exit criteria|are the objectives) "
        rf"(?:in|at|during|for) {STAGE}",
        lambda t, m: playbook.stage_card(t, m["stage"]),
    ),
    _r(
        "stage",
        rf"(?:stage|show stage|show the|tell me about|explain|guide for|playbook for) {STAGE}",
        lambda t, m: playbook.stage_card(t, m["stage"]),
    ),
    _r(
        "stage-bare",
        r"(?:the )?(?P<stage>[\w&' -]+?) (?:stage|phase)",
        lambda t, m: playbook.stage_card(t, m["stage"]),
    ),
)

DEAL_QUESTIONS = frozenset({"next", "next-short", "next-do", "status"})

CLICKS: dict[str, Callable[[Turn, str], Reply]] = {
    "deal.next": deal_cards.next_clicked,
    "deal.move": deal_moves.move_clicked,
    "deal.close": deal_lifecycle.close_clicked,
    "deal.reopen": deal_lifecycle.reopen_clicked,
    "deal.move-pick": deal_moves.move_picked,
    "deals.page": deal_lists.page_clicked,
    "stage.show": playbook.stage_clicked,
    "channel.link": deal_links.link_clicked,
    "criteria.show": criteria.show_clicked,
    "quiz.answer": queue.answer,
    "quiz.next": queue.next_clicked,
    "quiz.create": authoring.create_submitted,
    "quiz.reviewed": review.reviewed_clicked,
    "cquiz.answer": channel.channel_answer,
    "cquiz.close": channel.channel_close,
    "coaching.form": coaching_chat.log_form,
    "coaching.log": coaching_chat.log_submitted,
    "coaching.snooze": coaching_chat.snooze,
    "coaching.ask-takeaway": coaching_chat.ask_takeaway,
    "summary.show": lambda t, _value: summaries_chat.team_summary(t),
    "criteria.form": criteria.confirm_form,
    "criteria.revoke-form": criteria.revoke_form,
    "criteria.confirm": criteria.confirm_submitted,
    "criteria.revoke": criteria.revoke_submitted,
    "home.show": home.show,
    "deal.create": lambda t, value: deal_form.ask(t) if t.request.form is None else deal_form.submitted(t, value),
    "say": lambda t, value: answer_text(t, value),
}


def normalize(text: str) -> str:
    """Tidy what people type: curly quotes, spacing, trailing punctuation, a leading "please"."""
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = " ".join(text.split()).strip().rstrip("?!. ")
    return re.sub(r"^(?:please|pls|hey bot|bot)[, ]+|[, ]+please$", "", text, flags=re.IGNORECASE).strip()


def match(text: str, routes: tuple[Route, ...] | None = None) -> tuple[Route, re.Match[str]] | None:
    """The first route (of `routes`, else commands then questions) whose pattern matches the whole utterance."""
    if routes is None:
        routes = UTTERANCES + QUESTIONS
    for route in routes:
        found = route.pattern.fullmatch(text)
        if found:
            return route, found
    return None


def dispatch(turn: Turn) -> Reply:
    click = turn.request.click
    if click is not None:
        handler = CLICKS.get(click.action)
        if handler is None:
            return turn.render("replies/common.j2#button_inactive", kind="error")
        refused = roles.refusal(turn.person, click=click.action)
        if refused is not None:
            return turn.render("replies/refusals.j2#not_for_your_role", kind="refusal", **refused)
        return handler(turn, click.value)
    return answer_text(turn, turn.request.text)


MAX_TYPED = 1200  # the longest command (a 1,000-character coaching note and its words) with room to spare


def answer_text(turn: Turn, typed: str) -> Reply:
    """A typed message (or a suggestion button that types one) to its answer. A message longer than any
    command is read up to MAX_TYPED characters, and the reply says so (a pasted page is never echoed)."""
    if len(typed) > MAX_TYPED:
        reply = _answer_text(turn, typed[:MAX_TYPED])
        note = (
            f"Your message was {len(typed):,} characters long; I read the first {MAX_TYPED:,}. "
            "Send long notes as a file or a link."
        )
        return replace(reply, context=f"{reply.context} {note}" if reply.context else note)
    return _answer_text(turn, typed)


def _answer_text(turn: Turn, typed: str) -> Reply:
    text = normalize(typed)
    if not text:
        return help.show_help(turn)
    found = match(text, UTTERANCES)
    if found is not None:
        route, groups = found
        refused = roles.refusal(turn.person, route=route.name)  # who may use it: bot/roles.py
        if refused is not None:
            return turn.render("replies/refusals.j2#not_for_your_role", kind="refusal", **refused)
        reply = route.handler(turn, groups)
        if reply is not None:  # None: the words only looked like a command (e.g. "... we lost")
            return reply
    question = match(text, QUESTIONS)
    if question is not None and question[0].name in DEAL_QUESTIONS:
        words = question[1]["deal"] or ""
        card = deal_cards.exact_card(turn, words) if words.casefold() not in deal_cards.THIS_DEAL else None
        if card is not None:
            return card
    rule, understood = understanding.decide(turn, text)
    if rule != "search":
        return understanding.answer(turn, rule, understood)
    hits = playbook.search(
        turn,
        text,
        fallback=True,
        quiet=question is not None,
        section=understood.section or understood.hint,
        prefer=understood.preferred,
        kind_boost=BUYER_SAYS_BOOST if understood.buyer_says else 1.5,
        lenient=understood.hint is not None
        or (understood.section is not None and understood.known_content and question is None),
    )
    if hits is not None:
        return hits
    assert question is not None
    route, groups = question
    reply = route.handler(turn, groups)
    return reply if reply is not None else help.not_understood(turn, text)


def _kind_of(request: Request) -> str:
    """What sort of request this was, without its content (for logs)."""
    if request.click is not None:
        return f"click {request.click.action}" + (
            f" with a form of {len(request.form)} fields" if request.form else ""
        )
    return f"message of {len(request.text)} characters" + (" in a shared channel" if request.shared else "")


def handle(ctx: AppContext, request: Request) -> Reply:
    """Answer one request in its own session and transaction."""
    with ctx.sessions() as db:
        return answer(ctx, db, request)


def answer(ctx: AppContext, db: Session, request: Request) -> Reply:
    """Answer one request in `db` and commit; an unexpected error is rolled back and becomes an apology with
    a reference. A channel that already looked the person up passes its session, saving a connection."""
    try:
        person = db.get(Person, request.person_id)
        workspace = db.get(Workspace, request.workspace_id)
        if person is None or workspace is None or person.organization_id != workspace.organization_id:
            raise LookupError(f"person {request.person_id} is not reached through way in {request.workspace_id}")
        reply = dispatch(Turn(ctx, db, request, person, workspace))  # the organization is read when needed
        db.commit()
        return reply
    except Exception:
        db.rollback()
        reference = uuid.uuid4().hex[:8]
        log.exception(  # ids and kinds only: what people typed or answered stays out of the logs
            "error %s answering person %s in workspace %s: %s",
            reference,
            request.person_id,
            request.workspace_id,
            _kind_of(request),
        )
        return ctx.renderer.render("error.j2", kind="error", reference=reference)
