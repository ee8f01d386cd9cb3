"""The words of questions: section, intent and stage vocabulary, fillers, and how text becomes words."""

from __future__ import annotations

import re

from rapidfuzz import utils

from bot.text import fold
from playbooks.search import STOPWORDS
from playbooks.thesaurus import stem

# The words people use for each kind of section, most specific first (multi-word phrases win).
SECTIONS: dict[str, tuple[str, ...]] = {
    "exit_criteria": (
        "exit criteria", "exit criterion", "criteria", "criterion", "exit gate", "gate", "gates", "checklist",
        "has to be true", "have to be true", "must be true", "needs to be true", "need to be true",
        "to leave", "to exit", "get out of", "definition of done", "done criteria", "ready for", "ready to",
        "blocking", "blocker", "blockers", "holding up", "holding back", "stuck", "still open", "open items",
        "missing", "outstanding", "left to do", "left to confirm", "unconfirmed", "confirmed", "whats left",
        "what s left", "what is left", "anything left", "still to do", "exit", "gating items", "gating", "gate items",
        "before leaving", "before we leave", "before i leave", "before moving on", "before we move on",
        "before i move on", "before we can move", "before i can move", "nail down", "lock down", "can move on", "we can move on", "ready to move on", "actually done",
        "has to be signed off", "have to be signed off", "needs to be signed off", "must be signed off",
        "has to happen", "needs to happen", "must happen", "have to happen", "has to be done", "needs to be done",
        "what proves", "proves", "proof it s done", "is done", "stage is done", "counts as done",
    ),
    "tasks": (
        "tasks", "task", "to do", "todo", "todos", "to dos", "next steps", "steps", "activities", "action items",
        "actions", "what do i do", "what should i do", "what do i need to do", "what should i be doing",
        "my job", "what happens", "supposed to be doing", "supposed to do", "what am i doing", "to do list",
        "task list", "task checklist", "checklist of tasks",
    ),
    "objectives": ("objectives", "objective", "goals", "goal", "aims", "outcomes", "accomplish", "achieve"),
    "questions": (
        "questions to ask", "questions", "question", "what to ask", "what should i ask", "what do i ask",
        "what can i ask", "ask the buyer", "ask them", "qs", "what should i be asking", "be asking", "should i ask", "ask the customer", "ask the client", "discovery questions",
    ),
    "coaching_questions": (
        "coaching questions", "coaching question", "coaching qs", "questions to coach", "coach on", "coach",
        "how do i coach", "how to coach", "how should i coach", "coach a rep", "coach my rep", "one on one",
        "1 1", "1on1", "1 on 1",
    ),
    "buyer_roles": (
        "buyer roles", "buyer role", "roles", "personas", "persona", "stakeholders", "stakeholder",
        "who is involved", "whos involved", "who should be involved", "who to involve", "who do i talk to",
        "who should i talk to", "who do i need", "who is in the room", "buying group", "decision makers",
        "people involved", "who are the buyers", "who s involved", "who should i be talking to", "talk to",
        "talking to", "meet with", "who do i meet", "who to meet", "in the room", "who else", "key players",
        "who on their side", "who matters", "whos involved in", "who gets involved", "power players", "who calls the shots",
    ),
    "talk_tracks": (
        "talk tracks", "talk track", "talking points", "talk points", "pitch", "what to say", "what do i say",
        "what should i say", "messaging", "script", "scripts", "positioning", "how do i position", "wording",
        "spiel", "elevator pitch",
    ),
    "objections": (
        "objections", "objection", "pushback", "push back", "push backs", "concerns", "handle", "handling",
        "resistance", "they object",
    ),
    "content": (
        "content", "assets", "asset", "collateral", "materials", "material", "decks", "deck", "what to send",
        "what do i send", "what should i send", "resources", "documents", "docs", "links", "templates",
        "template", "send them", "share with", "send", "share", "hand them", "give them", "leave behind",
        "leave behinds", "send over", "something to send", "anything to send", "one pager", "one pagers",
        "to leave with", "leave with them", "leave with the customer", "leave w", "docs to leave",
    ),
}

# Intent words that change the answer when no deal, stage or section decides it.
INTENTS: dict[str, tuple[str, ...]] = {
    "status": (
        "whats next", "what s next", "next", "next move", "next step", "status", "update", "updates", "where",
        "stand", "walk me through", "walk through", "brief me", "rundown", "recap", "progress", "latest",
        "how is", "how s", "hows", "how are things", "this deal", "my deal",
    ),
    "team": (
        "my team", "team", "my reps", "reps", "teams", "team s", "my people", "direct reports", "everyone",
        "everyones", "everyone s", "everybody", "everybodys", "everybody s", "all deals", "all the deals",
        "my folks", "folks", "my guys", "my crew", "my squad", "my group", "my org", "my region", "the crew",
        "crew", "squad",
    ),
    "mine": (
        "my deals", "my pipeline", "my opportunities", "my opps", "my accounts", "deals do i have", "deals have i",
        "deals i have", "deals i ve got", "my open deals", "what deals", "which deals", "deals am i",
        "on my plate", "my book", "my book of business", "what am i working", "what am i working on",
        "what have i got", "what ve i got", "got going on", "what do i have going", "have i got going",
    ),
    "stuck": ("stuck", "stalled", "stalling", "at risk", "slipping", "going nowhere", "not moving"),
}

FORWARD_VERBS = {"push", "move", "advance", "bump", "progress", "promote", "take", "nudge"}
MOVE_VERBS = {"move", "advance", "bump", "progress", "promote", "push"}
FORWARD_WORDS = {"forward", "along", "ahead", "up", "next"}
FINISHED = {"done", "finished", "completed", "complete", "through", "wrapped", "past", "over"}
STAGE_NOUNS = {"stage", "step", "phase"}
# Words people slip into a phrase without changing it (compared as stems).
HEDGES = frozenset(stem(w) for w in "actually really usually even exactly basically typically normally generally ever".split())
COACHING_MARKS = {"1on1", "coach", "coaching", "coached", "rep", "reps", "team", "my team"}  # and "1:1", "one on one" (section phrases)
ORDINALS = {
    "first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4, "fifth": 5,
    "5th": 5, "sixth": 6, "6th": 6, "seventh": 7, "7th": 7, "eighth": 8, "8th": 8, "last": -1, "final": -1,
    "opening": 1, "initial": 1,
}
FIRST = {"first", "1st", "initial", "intro", "introductory", "opening"}
FIRST_CONTACT = {"call", "calls", "meeting", "meetings", "conversation", "chat", "visit", "contact", "touch"}
NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8}
# Words that mean a stage word is an event, not the stage: "after a demo", "before the proposal".
EVENT_BEFORE = {"a", "an", "after", "before", "post", "pre"}
# Words that never name anything: greetings, fillers, pronouns.
FILLER = frozenset(
    """hey hi hello thanks thank pls please quick question tell show give need want know like us can could
    would you really just again now today ok okay so any anything stuff things thing whats s re ll d ve m t
    im i ive lets let see look looking help get tips tip advice best way good ideas idea""".split()
)
NOT_A_NAME = STOPWORDS | FILLER | STAGE_NOUNS | {"deal", "deals", "opp", "opportunity", "account", "stage"}


def _phrases(table: dict[str, tuple[str, ...]]) -> list[tuple[tuple[str, ...], str]]:
    """(stems of a phrase, kind), longest phrases first."""
    out = [(tuple(stem(w) for w in utils.default_process(p).split()), kind) for kind, ps in table.items() for p in ps]
    return sorted(out, key=lambda pair: -len(pair[0]))


SECTION_PHRASES = _phrases(SECTIONS)
INTENT_PHRASES = _phrases(INTENTS)


def name_forms(name: str) -> list[list[str]]:
    """A name's words, and with an apostrophe-s joined ("Children's": "children s" and "childrens")."""
    words = tokens(name)
    joined: list[str] = []
    for w in words:
        if w == "s" and joined:
            joined[-1] += "s"
        else:
            joined.append(w)
    return [words] if joined == words else [words, joined]


def tokens(text: str) -> list[str]:
    """Words without case, punctuation or accents ("Café Lumière?" -> ["cafe", "lumiere"])."""
    return fold(text).split()


GENERIC_STAGE_WORDS = frozenset({"value", "problem", "business", "case", "new", "deal", "sale", "sales"})


# "the client says we're too pricey", "legal wants their own paper", "IT doesn't trust it", "nurses are
# saying the pumps are fiddly": someone on the buyer's side takes a position, which the playbooks answer as
# an objection. Any subject but the asker's own side ("I", "we", "my manager").
STRONG_CONTENT = {"content", "collateral", "deck", "decks", "asset", "assets", "materials", "resources", "pager"}
BUYER_SAYS_BOOST = 2.5  # search: what the buyer says is answered from objections unless much else fits better
OUR_SIDE = "i|im|am|we|were|you|me|my|our|manager|rep|reps"
BUYER_SAYS = re.compile(
    rf"\b(?!(?:{OUR_SIDE})\b)[a-z]+(?: (?!(?:{OUR_SIDE})\b)[a-z]+)? (?:says?|said|(?:is|are|s|re|keeps?|keep on) saying|keeps? "
    r"(?:asking|pushing|nickel)|thinks?|feels?|wants?|claims?|insists?|complains?|hates?|dislikes?|resents?|(?:is|are|s|re|seem|seems|got|get) (?:annoyed|frustrated|angry|upset|fed up|scared|afraid)|(?:(?:is|are|s|re|seems?|got|getting) )?"
    r"(?:unhappy|not happy|concerned|nervous|worried|skeptical|sceptical|hesitant)|(?:is|are|s|re) "
    r"(?:pushing|balking|refusing|objecting|stalling)|(?:doesn t|don t|dont|doesnt|won t|wont|can t|cant|will not|do not|does not|"
    r"refuses? to|refused to) (?:trust|believe|want|like|see|buy|agree|have|think|let|sign|pay|commit|approve))\b"
)


PLAYBOOK_NOUNS = {"playbook", "playbooks", "motion", "process", "pipeline"}
GENERIC_PLAYBOOK_WORDS = frozenset({"sales", "sale", "playbook", "motion", "deals", "deal", "standard", "default"})


RELATIVE = {"after": 1, "following": 1, "past": 1, "before": -1, "preceding": -1, "prior": -1}
