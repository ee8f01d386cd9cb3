"""What a question talks about: its deal, stage, section and intent words, found in any order."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlalchemy import select

from handlers.common import (
    Turn,
    closed_names,
    hidden_names,
    open_deals_of,
    visible_owner_ids,
)
from handlers.deals import cards as deal_cards
from handlers.understand.names import (
    StageKeys,
    _best,
    _match_names,
    _named_playbook,
    _names_team_member,
    _order,
    _ordinal_stage,
    _relative,
    stage_keys,
)
from handlers.understand.words import (
    BUYER_SAYS,
    COACHING_MARKS,
    EVENT_BEFORE,
    FILLER,
    FINISHED,
    FORWARD_VERBS,
    FORWARD_WORDS,
    HEDGES,
    INTENT_PHRASES,
    MOVE_VERBS,
    NOT_A_NAME,
    SECTION_PHRASES,
    STAGE_NOUNS,
    STRONG_CONTENT,
    tokens,
)
from playbooks.schema import Playbook, Stage
from playbooks.search import STOPWORDS
from playbooks.thesaurus import stem
from storage.models import Deal, Role

# An arrow from a deal to where it goes: "acme -> evaluation", "summit dental group → next stage".
POINTS_TO = re.compile(r"→|->|=>|⇒")
POINTS_TO_NEXT = re.compile(rf"(?:{POINTS_TO.pattern})\s*(?:the\s+)?next")


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
    move_to_stage: bool = (
        False  # a deal, a stage and a move verb: "Kessler is ready for risk review, move it"
    )
    names_team: bool = False  # a manager names people of their team ("where are Tomas and Lena's deals")
    buyer_says: bool = False  # someone on the buyer's side takes a position: an objection, most likely
    everyday: bool = False  # lunch, parking, the weather: a word of everyday life the playbooks never use
    text: str = ""

    @property
    def asks_which_deals(self) -> bool:
        """ "which deals are in proposal", "who has deals in evaluation", "deals at negotiation?"."""
        return bool({"deals", "opps", "opportunities"} & set(self.words)) and bool(
            {"which", "who", "what", "list", "show", "any", "how", "many"} & set(self.words)
            or self.words[0] == "deals"
        )

    @property
    def deal(self) -> Deal | None:
        return self.deals[0] if len(self.deals) == 1 else None


def understand(turn: Turn, text: str) -> Understanding:
    words = tokens(text)
    u = Understanding(words, role=turn.person.role, text=text)
    used = [False] * len(words)
    keys = stage_keys(turn.ctx.playbooks)
    preferred = deal_cards.preferred_playbooks(turn)
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
    if (
        u.section == "questions"
        and u.role != Role.REP
        and (COACHING_MARKS & said or _names_team_member(turn, words, used))
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
    arrow = POINTS_TO_NEXT.search(text.lower()) is not None
    # "push it to the next stage", "hold is placed, move it forward": on from where it is, whatever stage is named
    next_stage = bool(MOVE_VERBS & said) and (
        {"next", "stage"} <= said or bool({"forward", "ahead", "along"} & said)
    )
    u.forward = (
        bool(u.deals)
        and (next_stage or arrow or not u.stages)
        and (
            (
                bool(words)
                and words[0] in FORWARD_VERBS
                and (
                    bool(FORWARD_WORDS & said)
                    or words[0] in {"advance", "promote", "progress"}
                    or "on" in words[-1:]
                )
            )
            or next_stage  # "move O'Rourke to next stage pls", "move it forward"
            or arrow  # "summit dental group → next stage"
        )
    )
    # "move Initech to evaluation", "prairie-hill pecans -> water audit"
    pointed = POINTS_TO.search(text) is not None
    u.move_to_stage = bool(u.deals) and bool(u.stages) and bool(MOVE_VERBS & said or pointed) and not u.forward
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
    u.everyday = any(index.everyday(w) for w in words)
    u.content = u.meanings + [
        w
        for w, is_used in zip(corrected, used, strict=True)
        if not is_used and w not in STOPWORDS and w not in FILLER and w not in STAGE_NOUNS and len(w) > 1
    ]
    # Asked by the stage rule, and by search (a section asked about plus known words is a real question).
    if u.content and (u.section is not None or (u.stages and not u.stage_explicit)):
        u.known_content = bool(u.meanings) or any(index.known(w) for w in u.content)
    return u


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
    found: list[
        tuple[int, int, int, Playbook, Stage, int, int]
    ] = []  # weight, span, -order, p, s, start, end
    for key, p, s, weight, surface in keys.phrases:
        size = len(key)
        for start in range(len(stems) - size + 1):
            if tuple(stems[start : start + size]) == key and not any(used[start : start + size]):
                same = tuple(words[start : start + size]) == surface  # "close" is Close before "closing"
                found.append((weight + same, size, -order.get(p.id, 99), p, s, start, start + size))
    for i, word_stem in enumerate(stems):
        if used[i] or len(word_stem) < 4:
            continue
        said_as_stage = (i + 1 < len(words) and words[i + 1] in STAGE_NOUNS) or (
            i > 0 and words[i - 1] in STAGE_NOUNS
        )
        for stage_word, p, s in keys.words:
            short, long = sorted((word_stem, stage_word), key=len)
            # A word's start ("delivering") only hints at a stage (Value delivery) of a playbook the asker
            # works in, unless it is said as a stage.
            partial = (
                len(short) >= 5
                and long.startswith(short)
                and (said_as_stage or not preferred or p.id in order)
            )
            if word_stem == stage_word or partial:
                found.append((2, 1, -order.get(p.id, 99), p, s, i, i + 1))

    # An event, not a stage: "after a demo", "send a proposal" (unless "stage" follows).
    def event(f: tuple[int, int, int, Playbook, Stage, int, int]) -> bool:
        start, end = f[5], f[6]
        stage_follows = end < len(words) and words[end] in STAGE_NOUNS
        return (
            start > 0
            and words[start - 1] in EVENT_BEFORE
            and not stage_follows
            and not _relative(words, start)
        )

    found = [f for f in found if not event(f)]
    if strong_only:

        def named_as_stage(f: tuple[int, int, int, Playbook, Stage, int, int]) -> bool:
            start, end = f[5], f[6]
            return (
                (f[0] >= 3 and f[1] > 1)
                or (end < len(words) and words[end] in STAGE_NOUNS)
                or (start > 0 and words[start - 1] in STAGE_NOUNS)
            )

        found = [f for f in found if named_as_stage(f)]
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
        (f[3], f[4])
        for f in found
        if f[:2] == (weight, span) and f[2] != rank and f[3].id not in {p.id for p, _ in best}
    ]
    u.stages = best[:1] + (others if not preferred else [])
    start, end = found[0][5], found[0][6]
    # Said as a stage: "the demo stage", "stage demo", or a name of several words ("value delivery").
    u.stage_explicit = (
        (weight >= 3 and span > 1)
        or (end < len(words) and words[end] in STAGE_NOUNS)
        or (start > 0 and words[start - 1] in STAGE_NOUNS)
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
