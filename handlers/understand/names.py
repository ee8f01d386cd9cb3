"""Names in a question: deals (whole, first words, close spellings), team members, playbooks and
stages (every way of naming one, neighbours, "the first stage")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from sqlalchemy import select

from handlers.common import (
    Turn,
    team_ids,
)
from handlers.understand.words import (
    FIRST,
    FIRST_CONTACT,
    GENERIC_PLAYBOOK_WORDS,
    GENERIC_STAGE_WORDS,
    INTENTS,
    NOT_A_NAME,
    NUMBERS,
    ORDINALS,
    PLAYBOOK_NOUNS,
    RELATIVE,
    SECTIONS,
    STAGE_NOUNS,
    name_forms,
    tokens,
)
from playbooks.loader import PlaybookLibrary
from playbooks.schema import Playbook, Stage
from playbooks.search import STOPWORDS
from playbooks.thesaurus import stem
from storage.models import Person


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


def _names_team_member(turn: Turn, words: list[str], used: list[bool]) -> bool:
    """Whether the words name (first name or full name) someone in the asker's reporting tree."""
    ids = team_ids(turn.db, turn.person)
    if not ids:
        return False
    names = turn.db.scalars(select(Person.name).where(Person.id.in_(ids))).all()
    firsts = {tokens(n)[0] for n in names if tokens(n)}
    free = {w for w, is_used in zip(words, used, strict=True) if not is_used and len(w) >= 3}
    return bool(firsts & free)


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
