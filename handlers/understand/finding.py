"""Entity-first understanding of questions typed in chat.

Commands with arguments ("move Acme to evaluation", "coached Ana on pipeline: ...") have their own
patterns in the router. Everything else comes here: the question's words are searched for the things
it talks about, in any order, and only then is the answer chosen:

- deal names (the asker's visible open deals; whole names, their first words, or a close spelling),
  where the name of a deal the asker may not see beats a merely similar deal of their own (refused,
  never replaced) and words that fit several deals get a choice;
- stage names (name, id, aliases, word stems and spelling, "the first stage", "the last step");
- section kinds (exit criteria, tasks, objectives, questions, coaching questions, buyer roles,
  talk tracks, objections, content);
- intent words (status, push forward, my team, my deals).

`RULES` is the decision table: the first rule whose condition holds answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process, utils
from rapidfuzz.distance import OSA
from sqlalchemy import select

from bot.messages import Button, Reply
from bot.text import fold
from handlers import coaching, deals, help, summaries
from handlers.common import (
    Turn,
    closed_names,
    deal_playbook_stage,
    hidden_names,
    open_deals_of,
    team_ids,
    visible_owner_ids,
)
from playbooks.loader import PlaybookLibrary
from playbooks.schema import Playbook, Stage
from playbooks.search import EVERYDAY, STOPWORDS
from playbooks.thesaurus import stem
from storage.models import Deal, Person, Role

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
    ),
    "tasks": (
        "tasks", "task", "to do", "todo", "todos", "to dos", "next steps", "steps", "activities", "action items",
        "actions", "what do i do", "what should i do", "what do i need to do", "what should i be doing",
        "my job", "what happens", "supposed to be doing", "supposed to do", "what am i doing", "to do list",
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
        "my folks", "folks", "my guys", "my crew", "my squad", "my group", "my org", "my region",
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


@dataclass
class StageKeys:
    """Per library: every way of naming a stage, as stems."""

    phrases: list[tuple[tuple[str, ...], Playbook, Stage, int, tuple[str, ...]]]  # names, ids, aliases
    words: list[tuple[str, Playbook, Stage]]  # distinctive single words of names (weight 2)
    vocabulary: list[str]  # words worth correcting typos to


_KEYS: dict[int, tuple[PlaybookLibrary, StageKeys]] = {}


def stage_keys(library: PlaybookLibrary) -> StageKeys:
    """Built once per playbook library (the library lives as long as the process)."""
    cached = _KEYS.get(id(library))
    if cached is not None and cached[0] is library:
        return cached[1]
    keys = _stage_keys(library)
    if len(_KEYS) > 16:
        _KEYS.clear()
    _KEYS[id(library)] = (library, keys)
    return keys


def _stage_keys(library: PlaybookLibrary) -> StageKeys:
    phrases = []
    single: list[tuple[str, Playbook, Stage]] = []
    vocabulary: set[str] = set()
    for p in library.playbooks:
        for s in p.stages:
            for name in (s.name, s.id.replace("-", " "), *s.aliases):
                words = tokens(name)
                vocabulary.update(w for w in words if len(w) >= 4)
                key = tuple(stem(w) for w in words)
                if key:
                    phrases.append((key, p, s, 3, tuple(words)))
            for w in tokens(s.name) + tokens(s.id.replace("-", " ")):
                if len(w) >= 4 and w not in STOPWORDS and w not in GENERIC_STAGE_WORDS:
                    single.append((stem(w), p, s))
    for table in (SECTIONS, INTENTS):
        for ps in table.values():
            for phrase in ps:
                vocabulary.update(w for w in tokens(phrase) if len(w) >= 4)
    vocabulary.update(w for w in ORDINALS if len(w) >= 4)
    vocabulary.update(STAGE_NOUNS)
    return StageKeys(phrases, single, sorted(vocabulary))


GENERIC_STAGE_WORDS = frozenset({"value", "problem", "business", "case", "new", "deal", "sale", "sales"})


@dataclass
class Understanding:
    """What one question talks about."""

    words: list[str]
    deals: list[Deal] = field(default_factory=list)  # one: the deal; several: a choice
    deal_exact: bool = False  # the deal's whole name or its first words were typed (safe for a change)
    deal_words: str = ""
    hidden: bool = False  # names a deal the asker may not see
    instead: list[Deal] = field(default_factory=list)  # with `hidden`: deals of theirs the words also start
    closed: Deal | None = None  # names a closed deal (won or lost) the asker may see, and no open one
    this_deal: bool = False
    stages: list[tuple[Playbook, Stage]] = field(default_factory=list)
    stage_explicit: bool = False  # "stage"/"phase" was said, or a stage's whole name
    section: str | None = None
    hint: str | None = None  # the section the thesaurus says such words are usually after
    preferred: list[str] = field(default_factory=list)  # playbook ids to prefer: named, then the asker's
    intents: set[str] = field(default_factory=set)
    content: list[str] = field(default_factory=list)  # words left for a search
    meanings: list[str] = field(default_factory=list)  # what the thesaurus says phrases mean
    forward: bool = False
    role: Role = Role.REP
    known_content: bool = False  # some content word is one the playbooks use (or a thesaurus phrase)
    move_to_stage: bool = False  # a deal, a stage and a move verb: "Kessler is ready for risk review, move it"
    names_team: bool = False  # a manager names people of their team ("where are Tomas and Lena's deals")
    buyer_says: bool = False  # someone on the buyer's side takes a position: an objection, most likely
    everyday: bool = False  # lunch, parking, the weather: a word of everyday life the playbooks never use
    text: str = ""

    @property
    def asks_which_deals(self) -> bool:
        """"which deals are in proposal", "who has deals in evaluation", "deals at negotiation?"."""
        return bool({"deals", "opps", "opportunities"} & set(self.words)) and bool(
            {"which", "who", "what", "list", "show", "any", "how", "many"} & set(self.words) or self.words[0] == "deals"
        )

    @property
    def deal(self) -> Deal | None:
        return self.deals[0] if len(self.deals) == 1 else None


def understand(turn: Turn, text: str) -> Understanding:
    words = tokens(text)
    u = Understanding(words, role=turn.person.role, text=text)
    used = [False] * len(words)
    keys = stage_keys(turn.ctx.playbooks)
    preferred = deals.preferred_playbooks(turn)
    # A playbook or a stage named in full ("the hospital capital equipment playbook", "clinical champion
    # stage") before deal names, so their words are not read as the start of a deal's name.
    named = _named_playbook(turn.ctx.playbooks, words, used)
    if named is not None:  # "the first step in the partner playbook": that playbook, whoever asks
        preferred = [named.id] + [pid for pid in preferred if pid != named.id]
    u.preferred = preferred
    raw_stems = [stem(w) for w in words]
    _find_stage(u, words, raw_stems, used, keys, preferred, strong_only=True)
    _find_deals(turn, u, words, used)
    if not u.deals and not u.hidden:  # "what's the deal with Acme" names Acme, not "this deal"
        _find_this_deal(u, words, used)
    corrected = _correct(words, used, keys.vocabulary)
    stems = [stem(w) for w in corrected]
    if not u.stages:
        ordinal = _ordinal_stage(turn, corrected, used, preferred)
        if ordinal is not None:
            book, stage, start, end = ordinal
            u.stages = [(book, stage)]
            u.stage_explicit = True
            for i in range(start, end):
                used[i] = True
    # A stage said as a stage ("the kickoff stage", a name of several words) before section words and
    # the thesaurus, so "objections in joint pitch" keeps its stage and "kickoff stage" is not a go-live.
    _find_stage(u, corrected, stems, used, keys, preferred, strong_only=True)
    _find_phrases(u, stems, used, SECTION_PHRASES, intents=False)
    _find_phrases(u, stems, used, INTENT_PHRASES, intents=True)
    said = set(words)
    if "my" in said and {"deals", "opps", "opportunities", "accounts"} & said:  # stems merge "my deal(s)"
        u.intents.add("mine")
    if u.section == "questions" and u.role != Role.REP and (
        COACHING_MARKS & said or _names_team_member(turn, words, used)
    ):  # a manager: "what should I ask Hanna about Lakeview in our 1:1"
        u.section = "coaching_questions"
    # The buyer's and the rep's phrases ("signs the cheque") are search words, never stage names.
    free = [w if not is_used else "" for w, is_used in zip(corrected, used, strict=True)]
    for meaning in turn.ctx.playbooks.thesaurus.find(free):
        u.meanings.append(meaning.means)
        if u.hint is None:
            u.hint = meaning.section
        for i in range(meaning.start, meaning.end):
            used[i] = True
    _find_stage(u, corrected, stems, used, keys, preferred)
    if u.stages and STAGE_NOUNS & set(words):  # "discovery - remind me what this stage is about"
        u.stage_explicit = True
    if BUYER_SAYS.search(" ".join(words)):
        u.hint = "objections"
        u.buyer_says = True
        if u.section in ("tasks", "talk_tracks"):  # "what do I say/do when the client says ...": handle it
            u.section = "objections"
        # "legal wants their own contract template", "the docs will freak out": a word that can mean
        # content, in the buyer's mouth, is the thing they object about
        if u.section == "content" and not STRONG_CONTENT & set(words):
            u.section = "objections"
    arrow = re.search(r"(?:→|->|=>|⇒)\s*(?:the\s+)?next", text.lower()) is not None
    next_stage = bool(MOVE_VERBS & said) and {"next", "stage"} <= said  # "push it to the next stage"
    u.forward = bool(u.deals) and (next_stage or arrow or not u.stages) and (
        (bool(words) and words[0] in FORWARD_VERBS and (
            bool(FORWARD_WORDS & said) or words[0] in {"advance", "promote", "progress"} or "on" in words[-1:]
        ))
        or (bool(MOVE_VERBS & said) and {"next", "stage"} <= said)  # "move O'Rourke to next stage pls"
        or arrow  # "summit dental group → next stage"
    )
    u.move_to_stage = bool(u.deals) and bool(u.stages) and bool(MOVE_VERBS & said) and not u.forward
    if (
        u.move_to_stage
        and u.deal is not None
        and (u.deal.playbook_id, u.deal.stage_id) == (u.stages[0][0].id, u.stages[0][1].id)
        and FINISHED & said
    ):  # "Mercy General is done with the cost model, advance it": the stage it is in is the one finished
        u.move_to_stage, u.forward = False, True  # ("move Initech to evaluation" there: "already in")
    if u.role != Role.REP and not u.deals and {"deals", "pipeline", "doing"} & said:
        u.names_team = _names_team_member(turn, words, used)
    index = turn.ctx.playbooks.index
    u.everyday = any(w in EVERYDAY and not index.uses(w) for w in words)
    u.content = u.meanings + [
        w for w, is_used in zip(corrected, used, strict=True)
        if not is_used and w not in STOPWORDS and w not in FILLER and w not in STAGE_NOUNS and len(w) > 1
    ]
    # Asked by the stage rule, and by search (a section asked about plus known words is a real question).
    if u.content and (u.section is not None or (u.stages and not u.stage_explicit)):
        u.known_content = bool(u.meanings) or any(index.known(w) for w in u.content)
    return u


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


def _names_team_member(turn: Turn, words: list[str], used: list[bool]) -> bool:
    """Whether the words name (first name or full name) someone in the asker's reporting tree."""
    ids = team_ids(turn.db, turn.person)
    if not ids:
        return False
    names = turn.db.scalars(select(Person.name).where(Person.id.in_(ids))).all()
    firsts = {tokens(n)[0] for n in names if tokens(n)}
    free = {w for w, is_used in zip(words, used, strict=True) if not is_used and len(w) >= 3}
    return bool(firsts & free)


PLAYBOOK_NOUNS = {"playbook", "playbooks", "motion", "process", "pipeline"}
GENERIC_PLAYBOOK_WORDS = frozenset({"sales", "sale", "playbook", "motion", "deals", "deal", "standard", "default"})


def _named_playbook(library: PlaybookLibrary, words: list[str], used: list[bool]) -> Playbook | None:
    """The playbook a question names next to the word "playbook" (or motion, process): "the partner
    playbook", "transactional process"; None when it names none or several."""
    text = f" {' '.join(words)} "
    for book in library.playbooks:
        name = " ".join(tokens(book.name))
        if len(name.split()) >= 2 and f" {name} " in text:  # its whole name: "hospital capital equipment"
            start = len(text[: text.index(f" {name} ")].split())
            for j in range(start, start + len(name.split())):
                used[j] = True
            for j in (start - 1, start + len(name.split())):
                if 0 <= j < len(words) and words[j] in PLAYBOOK_NOUNS:
                    used[j] = True
            return book
    at = [i for i, w in enumerate(words) if w in PLAYBOOK_NOUNS and not used[i]]
    if not at:
        return None
    near = {j for i in at for j in range(max(i - 3, 0), i) if not used[j]}
    found = []
    for book in library.playbooks:
        keys = {
            stem(w) for w in tokens(book.name) + tokens(book.id.replace("-", " "))
            if len(w) >= 4 and w not in GENERIC_PLAYBOOK_WORDS and w not in STOPWORDS
        }
        hits = [j for j in near if stem(words[j]) in keys]
        if hits:
            found.append((book, hits))
    if len(found) != 1:
        return None
    book, hits = found[0]
    for j in hits + at:
        used[j] = True
    return book


def _find_this_deal(u: Understanding, words: list[str], used: list[bool]) -> None:
    text = " ".join(words)
    for phrase in ("this deal", "this opportunity", "this opp", "this one", "my deal", "the deal"):
        found = re.search(rf"\b{phrase}\b", text)
        if found:
            start = len(text[: found.start()].split())
            for i in range(start, start + len(phrase.split())):
                used[i] = True
            u.this_deal = True
            return


def _windows(words: list[str], used: list[bool], longest: int) -> list[tuple[int, int]]:
    out = []
    for size in range(min(longest, len(words)), 0, -1):
        for start in range(len(words) - size + 1):
            if not any(used[start : start + size]):
                out.append((start, start + size))
    return out


def _name_keys(name: str) -> list[tuple[str, int]]:
    """A deal name's whole form (level 3), and at level 2 its leading words and its trailing words
    ("saint eloi" for Hôpital Saint-Éloi, "eloi") worth matching alone."""
    keys: list[tuple[str, int]] = []
    for words in name_forms(name):
        keys.append((" ".join(words), 3))
        for size in range(len(words) - 1, 0, -1):
            head = words[:size]
            if head[0] not in NOT_A_NAME and len(" ".join(head)) >= 3:
                keys.append((" ".join(head), 2))
        for start in range(1, len(words)):
            tail = words[start:]
            if tail[0] not in NOT_A_NAME and len(" ".join(tail)) >= 4:
                keys.append((" ".join(tail), 2))
    return list(dict.fromkeys(keys))


def _match_names(
    words: list[str],
    used: list[bool],
    names: dict[int, str],
    *,
    fuzzy: bool,
    common: Callable[[str], bool] = lambda _w: False,
) -> list[tuple[int, int, float, int, int]]:
    """(level, span, score, deal id, start) for each deal named in `words`; level 3 whole name, 2 its
    first or last words or several of its words ("mercy nicu" for Mercy Children's NICU), 1 a close
    spelling. One word that is only part of a name and a `common` word ("hospital" of Hôpital Saint-Éloi,
    "clinical" near Clínica) names no deal in a longer question: it is the question's word."""
    table: dict[str, list[tuple[int, int]]] = {}
    postings: dict[str, set[int]] = {}
    for deal_id, name in names.items():
        for key, level in _name_keys(name):
            table.setdefault(key, []).append((deal_id, level))
        for w in {w for form in name_forms(name) for w in form}:
            if w not in NOT_A_NAME:
                postings.setdefault(w, set()).add(deal_id)
    if not table:
        return []
    longest = max(len(k.split()) for k in table)
    found: list[tuple[int, int, float, int, int]] = []
    windows = _windows(words, used, longest)
    for start, end in windows:
        phrase = " ".join(words[start:end])
        for deal_id, level in table.get(phrase, ()):
            found.append((level, end - start, 100.0, deal_id, start))
        window = words[start:end]
        if end - start >= 2 and phrase not in table and all(w in postings for w in window):
            for deal_id in set.intersection(*(postings[w] for w in window)):
                found.append((2, end - start, 95.0, deal_id, start))
    content = [w for w, is_used in zip(words, used, strict=True) if not is_used and w not in NOT_A_NAME]
    if len(content) > 2:
        found = [f for f in found if not (f[1] == 1 and f[0] < 3 and common(words[f[4]]))]
    if not fuzzy:
        return found
    exact_span = max((f[1] for f in found), default=0)
    choices = list(table)
    for start, end in windows:
        window = words[start:end]
        if end - start <= exact_span:  # a close spelling only beats a typed name if it covers more words
            continue
        if any(w in NOT_A_NAME for w in window) or len(" ".join(window)) < 4:
            continue
        if end - start == 1 and len(content) > 2 and common(window[0]):
            continue
        for key, score, _ in process.extract(
            " ".join(window), choices, scorer=fuzz.ratio, score_cutoff=85, limit=5
        ):
            if len(key.split()) < end - start:  # "bump pioneer grocers" is not a spelling of "pioneer grocers"
                continue
            for deal_id, _level in table[key]:
                found.append((1, end - start, score, deal_id, start))
    return found


def _order(rank: tuple[int, int, float]) -> tuple[int, int, float]:
    """Which match is better: more of the question's words first ("globex ret" is Globex Retail, not
    Globex), then whole names over first words over spellings, then similarity."""
    level, span, score = rank
    return (span, level, score)


def _best(found: list[tuple[int, int, float, int, int]]) -> tuple[tuple[int, int, float], list[int], tuple[int, int]]:
    """The best (level, span, score), the deals sharing it (fuzzy: within 3 points) and its word span."""
    top = max(found, key=lambda f: _order((f[0], f[1], f[2])))
    ids: list[int] = []
    for level, span, score, deal_id, _start in sorted(found, key=lambda f: (-f[1], -f[0], -f[2])):
        if level == top[0] and span == top[1] and score >= top[2] - 3 and deal_id not in ids:
            ids.append(deal_id)
    return (top[0], top[1], top[2]), ids, (top[4], top[4] + top[1])


def _find_deals(turn: Turn, u: Understanding, words: list[str], used: list[bool]) -> None:
    owners = visible_owner_ids(turn.db, turn.person)
    clauses = open_deals_of(turn.person.organization_id, owners)
    names = dict(turn.db.execute(select(Deal.id, Deal.name).where(*clauses)).all())
    common = turn.ctx.playbooks.index.uses
    visible = _match_names(words, used, names, fuzzy=True, common=common)
    best = _best(visible) if visible else None
    if owners is not None:
        # Permission before fuzziness: a deal the asker may not see, named better than any of their own,
        # is refused without details, never replaced by a similar deal they can see.
        free = [w for w, is_used in zip(words, used, strict=True) if not is_used and w not in NOT_A_NAME]
        hidden = hidden_names(turn.db, turn.person, free, set(names))
        if hidden:
            found = _match_names(words, used, hidden, fuzzy=True, common=common)
            if found:
                rank, _, span = _best(found)
                if best is None or _order(rank) > _order(best[0]):
                    u.hidden = True
                    # the same words also start a deal of their own: offered, never shown unasked
                    if best is not None and best[0][0] == 2 and best[0][1] == span[1] - span[0]:
                        own = select(Deal).where(Deal.id.in_(best[1])).order_by(Deal.name)
                        u.instead = list(turn.db.scalars(own))
                    u.deal_words = " ".join(words[span[0] : span[1]])
                    for i in range(*span):
                        used[i] = True
                    return
    if best is None or best[0][0] < 2:
        # No open deal by its name or first words: a closed one may be meant ("how did Hooli go?").
        free = [w for w, is_used in zip(words, used, strict=True) if not is_used and w not in NOT_A_NAME]
        closed = closed_names(turn.db, turn.person, free)
        found = _match_names(words, used, closed, fuzzy=False, common=common) if closed else []
        if found and (best is None or max(f[1] for f in found) >= best[0][1]):
            level, size, _score, deal_id, start = max(found, key=lambda f: (f[1], f[0]))
            u.closed = turn.db.get(Deal, deal_id)
            u.deal_words = " ".join(words[start : start + size])
            for i in range(start, start + size):
                used[i] = True
            return
    if best is None:
        return
    rank, ids, span = best
    # Two deals named in one question ("acme or initech?"): a choice, never a guess.
    named = [" ".join(words[span[0] : span[1]])]
    for level, size, _score, deal_id, start in visible:
        if level >= 2 and deal_id not in ids and (start + size <= span[0] or start >= span[1]):
            ids.append(deal_id)
            named.append(" ".join(words[start : start + size]))
    by_id = {d.id: d for d in turn.db.scalars(select(Deal).where(Deal.id.in_(ids)))}
    u.deals = sorted((by_id[i] for i in ids if i in by_id), key=lambda d: d.name)
    u.deal_exact = rank[0] >= 2
    u.deal_words = " or ".join(dict.fromkeys(named))
    for i in range(*span):
        used[i] = True


def _correct(words: list[str], used: list[bool], vocabulary: list[str]) -> list[str]:
    """Words with a typo corrected to the nearest word of stage names, sections and intents."""
    out = list(words)
    for i, word in enumerate(words):
        if used[i] or len(word) < 4 or word in STOPWORDS or word in FILLER:
            continue
        if word in vocabulary:
            continue
        near = process.extractOne(word, vocabulary, scorer=OSA.normalized_similarity, score_cutoff=0.78)
        if near is not None:
            out[i] = near[0]
    return out


def _find_phrases(
    u: Understanding,
    stems: list[str],
    used: list[bool],
    phrases: list[tuple[tuple[str, ...], str]],
    *,
    intents: bool,
) -> None:
    # "what do I *actually* do", "who's *usually* involved": phrases match with such words left out
    kept = [i for i, s in enumerate(stems) if s not in HEDGES]
    for key, kind in phrases:
        size = len(key)
        for first in range(len(kept) - size + 1):
            at = kept[first : first + size]
            start, end = at[0], at[-1] + 1
            if tuple(stems[i] for i in at) == key and (kind == "stuck" or not any(used[start:end])):
                if intents:
                    u.intents.add(kind)
                    if kind != "stuck":  # "stuck" also asks for the exit criteria still open
                        for i in range(start, end):
                            used[i] = True
                elif u.section is None:
                    u.section = kind
                    for i in range(start, end):
                        used[i] = True
                elif u.section == kind:
                    for i in range(start, end):
                        used[i] = True


def _find_stage(
    u: Understanding,
    words: list[str],
    stems: list[str],
    used: list[bool],
    keys: StageKeys,
    preferred: list[str],
    *,
    strong_only: bool = False,
) -> None:
    """The stage the words name. `strong_only`: only a name of several words or one said as a stage
    ("kickoff stage", "stage kickoff")."""
    order = {pid: i for i, pid in enumerate(preferred)}
    found: list[tuple[int, int, int, Playbook, Stage, int, int]] = []  # weight, span, -order, p, s, start, end
    for key, p, s, weight, surface in keys.phrases:
        size = len(key)
        for start in range(len(stems) - size + 1):
            if tuple(stems[start : start + size]) == key and not any(used[start : start + size]):
                same = tuple(words[start : start + size]) == surface  # "close" is Close before "closing"
                found.append((weight + same, size, -order.get(p.id, 99), p, s, start, start + size))
    for i, word_stem in enumerate(stems):
        if used[i] or len(word_stem) < 4:
            continue
        said_as_stage = (i + 1 < len(words) and words[i + 1] in STAGE_NOUNS) or (i > 0 and words[i - 1] in STAGE_NOUNS)
        for key, p, s in keys.words:
            short, long = sorted((word_stem, key), key=len)
            # A word's start ("delivering") only hints at a stage (Value delivery) of a playbook the asker
            # works in, unless it is said as a stage.
            partial = len(short) >= 5 and long.startswith(short) and (said_as_stage or not preferred or p.id in order)
            if word_stem == key or partial:
                found.append((2, 1, -order.get(p.id, 99), p, s, i, i + 1))
    # An event, not a stage: "after a demo", "send a proposal" (unless "stage" follows).
    def event(f: tuple[int, int, int, Playbook, Stage, int, int]) -> bool:
        start, end = f[5], f[6]
        stage_follows = end < len(words) and words[end] in STAGE_NOUNS
        return start > 0 and words[start - 1] in EVENT_BEFORE and not stage_follows and not _relative(words, start)

    found = [f for f in found if not event(f)]
    if strong_only:

        def said_as_stage(f: tuple[int, int, int, Playbook, Stage, int, int]) -> bool:
            start, end = f[5], f[6]
            return (f[0] >= 3 and f[1] > 1) or (end < len(words) and words[end] in STAGE_NOUNS) or (
                start > 0 and words[start - 1] in STAGE_NOUNS
            )

        found = [f for f in found if said_as_stage(f)]
    if not found or u.stages:
        return
    # The asker's own playbooks first ("discovery" is their "Discover"), then the strongest match.
    found.sort(key=lambda f: (f[2] == -99, -f[0], -f[1], -f[2]))
    weight, span, rank = found[0][:3]
    best: list[tuple[Playbook, Stage]] = []
    for f in found:
        if f[:3] == (weight, span, rank) and (f[3].id, f[4].id) not in [(p.id, s.id) for p, s in best]:
            best.append((f[3], f[4]))
    others = [
        (f[3], f[4]) for f in found if f[:2] == (weight, span) and f[2] != rank and f[3].id not in {p.id for p, _ in best}
    ]
    u.stages = best[:1] + (others if not preferred else [])
    start, end = found[0][5], found[0][6]
    # Said as a stage: "the demo stage", "stage demo", or a name of several words ("value delivery").
    u.stage_explicit = (weight >= 3 and span > 1) or (end < len(words) and words[end] in STAGE_NOUNS) or (
        start > 0 and words[start - 1] in STAGE_NOUNS
    )
    for i in range(start, end):
        used[i] = True
    for i in (start - 1, end):
        if 0 <= i < len(words) and words[i] in STAGE_NOUNS:
            used[i] = True
    shift = _relative(words, start)
    if shift:  # "the stage after site assessment": its neighbour in the same playbook
        book, named = u.stages[0]
        index = [s.id for s in book.stages].index(named.id) + shift
        if 0 <= index < len(book.stages):
            u.stages = [(book, book.stages[index])]
            u.stage_explicit = True


RELATIVE = {"after": 1, "following": 1, "past": 1, "before": -1, "preceding": -1, "prior": -1}


def _relative(words: list[str], start: int) -> int:
    """+1 / -1 when the stage named at `start` is said as a neighbour: "the stage after discovery",
    "what comes before negotiation", "step before the demo" (0 for "after a demo": an event)."""
    i = start - 1
    if i >= 0 and words[i] in {"the", "to"}:  # "prior to the demo stage"
        i -= 1
    if i >= 0 and words[i] == "to" and i > 0 and words[i - 1] == "prior":
        i -= 1
    if i < 0 or words[i] not in RELATIVE:
        return 0
    if not (STAGE_NOUNS | {"comes", "come", "then", "stages", "steps"}) & set(words[max(0, i - 4) : i]):
        return 0
    return RELATIVE[words[i]]


def _ordinal_stage(
    turn: Turn, words: list[str], used: list[bool], preferred: list[str]
) -> tuple[Playbook, Stage, int, int] | None:
    """"the first stage", "last step", "stage 2", "stage two": a position in the asker's playbook."""
    library = turn.ctx.playbooks
    book = (library.get(preferred[0]) if preferred else None) or library.default
    for i, word in enumerate(words):
        if used[i]:
            continue
        position = None
        span = (i, i + 1)
        if word in ORDINALS and i + 1 < len(words) and words[i + 1] in STAGE_NOUNS | {"one"}:
            position, span = ORDINALS[word], (i, i + 2)
        elif word in FIRST and i + 1 < len(words) and words[i + 1] in FIRST_CONTACT:
            position, span = 1, (i, i + 2)  # "the first call": the playbook's opening stage
        elif word in STAGE_NOUNS and i + 1 < len(words):
            following = words[i + 1]
            if following.isdigit():
                position, span = int(following), (i, i + 2)
            elif following in NUMBERS:
                position, span = NUMBERS[following], (i, i + 2)
        if position is not None:
            index = position - 1 if position > 0 else len(book.stages) + position
            if 0 <= index < len(book.stages):
                return book, book.stages[index], *span
    return None


# --- answers -------------------------------------------------------------------------------------------


def refuse(turn: Turn, u: Understanding) -> Reply:
    """Refused without details; when the words also start a deal of the asker's own ("castle freight"
    for their Castle Freight Depot Services), that deal is offered as a button, never shown unasked."""
    offered = u.instead[:5]
    return turn.render(
        "refused.j2",
        kind="refusal",
        buttons=tuple(Button(d.name, "deal.next", str(d.id)) for d in offered),
        what=f'the deal "{u.deal_words}"',
        why="it belongs to someone outside your team.",
        instead=[d.name for d in offered],
    )


def deal_choice(turn: Turn, u: Understanding) -> Reply:
    focus = u.section or ("exit_criteria" if "stuck" in u.intents else None)
    return deals.choose(
        turn, u.deals, "deal.next", f":{focus}" if focus else "", reason="ambiguous", words=u.deal_words
    )


def move_forward(turn: Turn, u: Understanding) -> Reply:
    """"push Hooli forward one stage": the deal's next stage; a near name asks first, as every change does."""
    deal = u.deal
    assert deal is not None
    found = deal_playbook_stage(turn, deal)
    next_stage = found[0].next_stage(deal.stage_id) if found else None
    if found is None or next_stage is None:
        return turn.render(
            "message.j2",
            kind="error",
            text=f"{deal.name} is at the last stage of its playbook: there is no stage to move it to.",
        )
    if not u.deal_exact:
        return deals.choose(
            turn, [deal], "deal.move-pick", value_suffix=f":{next_stage.id}", reason="confirm", words=u.deal_words
        )
    return deals.apply_move(turn, deal, found[0], next_stage)


def move_to_stage(turn: Turn, u: Understanding) -> Reply:
    """"Kessler & Sons is ready for risk review, move it": the same path as "move Kessler to risk review",
    so a near name asks first and open exit criteria are recorded as a skipped gate."""
    assert u.deal is not None
    return deals.move(turn, u.deal.name if u.deal_exact else u.deal_words, u.stages[0][1].name)


def deal_answer(turn: Turn, u: Understanding) -> Reply:
    focus = u.section or ("exit_criteria" if "stuck" in u.intents else None)
    assert u.deal is not None
    return deals.deal_card(turn, u.deal, focus=focus)


def this_deal(turn: Turn, u: Understanding) -> Reply:
    found = deals.resolve_deal(turn, "this deal", action="deal.next")
    if isinstance(found, Reply):
        return found
    return deals.deal_card(turn, found, focus=u.section)


def team_answer(turn: Turn, u: Understanding) -> Reply:
    return summaries.team_summary(turn)


def stage_answer(turn: Turn, u: Understanding) -> Reply:
    if len(u.stages) > 1:
        buttons = tuple(Button(f"{s.name} ({p.name})", "stage.show", f"{p.id}:{s.id}") for p, s in u.stages)
        return turn.render("stage_choice.j2", buttons=buttons, kind="choice", words=u.stages[0][1].name)
    book, stage = u.stages[0]
    return turn.render("stage.j2", playbook=book, stage=stage, focus=u.section)


def section_answer(turn: Turn, u: Understanding) -> Reply:
    """A section with no stage: for "this deal" when there is one, else a choice of stages."""
    own = [d for d in deals.visible_deals(turn.db, turn.person) if d.owner_id == turn.person.id]
    if len(own) == 1:
        return deals.deal_card(turn, own[0], focus=u.section)
    preferred = deals.preferred_playbooks(turn)
    book = (turn.ctx.playbooks.get(preferred[0]) if preferred else None) or turn.ctx.playbooks.default
    buttons = tuple(Button(s.name, "stage.show", f"{book.id}:{s.id}") for s in book.stages)
    title = SECTION_TITLES[u.section or "tasks"]
    return turn.render(
        "message.j2", kind="choice", buttons=buttons, text=f"{title}: for which stage of {book.name}?"
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
    Rule("closed-deal", lambda u: u.closed is not None, lambda t, u: deals.closed_card(t, u.closed)),
    Rule("this-deal", lambda u: u.this_deal, this_deal),
    Rule(
        "deals-in-stage",
        lambda u: len(u.stages) >= 1 and u.section is None
        and ("mine" in u.intents or ("team" in u.intents and u.role != Role.REP) or u.asks_which_deals),
        lambda t, u: deals.deals_in_stage(t, *u.stages[0]),
    ),
    # "who on my team should I coach this week?": the coaching cue
    Rule(
        "coach-due",
        lambda u: u.role == Role.MANAGER and "who" in u.words and any(w.startswith("coach") for w in u.words)
        and not u.stages,
        lambda t, u: coaching.show_due(t),
    ),
    Rule("team-members", lambda u: u.names_team, team_answer),
    # "how do I coach a rep stuck in the value analysis committee stage": the stage's section, not the team
    Rule("stage-section", lambda u: u.stage_explicit and u.section is not None and len(u.stages) == 1, stage_answer),
    Rule(
        "team",
        lambda u: "team" in u.intents and u.role != Role.REP and (not u.section or "stuck" in u.intents),
        team_answer,
    ),
    Rule("my-deals", lambda u: "mine" in u.intents and not u.stages, lambda t, u: deals.my_deals(t)),
    Rule(
        "stage",
        lambda u: bool(u.stages)
        and (u.section is not None or u.stage_explicit or not u.content or not u.known_content),
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
