"""Ranked search over every playbook section: "how do I handle a pricing objection?" -> the right advice.

Each objection, talk track, content item and each stage's lists (objectives, tasks, exit criteria,
questions) is one document. Words are stemmed (snowball), so "pricing" finds "price", and a query word
that is in no document is replaced by its closest vocabulary words (rapidfuzz), so "objecton" still works.
Documents are ranked with BM25; each kind of section also carries the words people use to ask for it
("send", "share" for content; "handle", "pushback" for objections), so the question's intent counts.
The sales thesaurus adds the playbook's words for what people say ("signs the cheque" -> economic
buyer); a question is searched on the words the playbooks know, so one unknown word does not lose it.
Stems never merge words the thesaurus protects (objection / objective).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import OSA

from playbooks.schema import Playbook, Stage
from playbooks.thesaurus import Thesaurus, stem

STOPWORDS = frozenset(
    """a an and are as at be by can do does for from how i if in is it me my of on or our should so
    that the their them then there they this to we what when where which who why will with you your
    about after before into get got""".split()
)

# Words that say how someone asks, not what about: not counted against a question when unknown.
CASUAL = frozenset(
    """tips tip advice help best way ideas idea good great really just need want keep keeps saying say says
    thing things thingy stuff quick pls please thanks hey hi lol ok okay any some theyre were dont cant wont
    im ive its whats hows thats""".split()
)

# Everyday life and office errands: a question about these is not about selling, even when it also holds
# words the playbooks use ("order lunch for the team meeting"). Such a word counts as two unknown words and
# is never read as a close spelling of a playbook word ("lunch" is not "launch"), unless a playbook itself
# uses it.
EVERYDAY = frozenset(
    """lunch dinner breakfast brunch pizza sandwich sandwiches coffee snacks food catering restaurant
    cake beer drinks weather rain snow forecast parking wifi printer laptop password vpn birthday party
    movie movies football soccer basketball baseball score joke jokes song music recipe gym taxi uber
    flight flights hotel expenses payroll salary haircut mileage reimbursement reimbursed timesheet
    vacation cooler fridge microwave kitchen bathroom toilet elevator leaking leak""".split()
)

# The words a person uses when they want this kind of section.
KIND_WORDS = {
    "objection": "objection objections handle handling pushback push back respond response concern",
    "talk_track": "talk track say pitch position explain messaging",
    "content": "content send share asset deck email document guide template material",
    "questions": "question questions ask asking discovery",
    "tasks": "task tasks do next steps action",
    "objectives": "objective objectives goal goals accomplish",
    "exit_criteria": "exit criteria criterion gate done complete move forward",
    "buyer_roles": "buyer buyers role roles persona personas stakeholder stakeholders involved who",
    "coaching_questions": "coach coaching manager review",
}

KIND_TITLES = {
    "objection": "Objection",
    "talk_track": "Talk track",
    "content": "Content",
    "questions": "Questions to ask",
    "tasks": "Tasks",
    "objectives": "Objectives",
    "exit_criteria": "Exit criteria",
    "buyer_roles": "Buyer roles",
    "coaching_questions": "Coaching questions",
}


@dataclass(frozen=True)
class Hit:
    """One matching section: where it is and what it says (markup text ready for a reply)."""

    playbook: Playbook
    stage: Stage
    kind: str
    title: str
    text: str
    score: float


@dataclass(frozen=True)
class _Doc:
    playbook: Playbook
    stage: Stage
    kind: str
    title: str
    text: str
    searchable: str
    terms: Counter[str]
    length: int


class SearchIndex:
    """BM25 over stemmed terms; built once per playbook library."""

    K1 = 1.2
    B = 0.75

    def __init__(self, playbooks: list[Playbook], thesaurus: Thesaurus | None = None):
        self._thesaurus = thesaurus or Thesaurus([])
        self._docs = [self._doc(*parts) for p in playbooks for s in p.stages for parts in _sections(p, s)]
        self._avg_length = sum(d.length for d in self._docs) / max(len(self._docs), 1)
        frequency: Counter[str] = Counter()
        for doc in self._docs:
            frequency.update(doc.terms.keys())
        total = len(self._docs)
        self._idf = {t: math.log(1 + (total - n + 0.5) / (n + 0.5)) for t, n in frequency.items()}
        # Surface words -> stems, so a typo is compared with real words ("pricng" ~ "pricing" -> "price").
        self._surface = {w: stem(w) for d in self._docs for w in _words(d.searchable)}
        self._surface_words = sorted(self._surface)

    def terms(self, text: str) -> list[str]:
        return [stem(w) for w in _words(text)]

    def uses(self, word: str) -> bool:
        """Whether the playbooks use this very word (its stem), typos not forgiven."""
        return stem(word) in self._idf

    def everyday(self, word: str) -> bool:
        """A word of everyday life or office errands (EVERYDAY) that no playbook uses: not about selling."""
        return word in EVERYDAY and not self.uses(word)

    def known(self, word: str) -> bool:
        """Whether a word (or a close spelling of it) is in the playbooks' vocabulary."""
        return bool(self._expand(word))

    def _doc(
        self, playbook: Playbook, stage: Stage, kind: str, title: str, text: str, aliases: str = ""
    ) -> _Doc:
        stage_names = " ".join([stage.name, *stage.aliases])
        searchable = f"{title} {text} {aliases} {stage_names} {KIND_WORDS[kind]}"
        terms = Counter(self.terms(searchable))
        return _Doc(playbook, stage, kind, title, text, searchable, terms, sum(terms.values()))

    def _expand(self, word: str) -> list[tuple[str, float]]:
        """A known word's stem as is; an unknown word as the stems of its nearest real words."""
        stemmed = stem(word)
        if stemmed in self._idf:
            return [(stemmed, 1.0)]
        if len(word) < 4:
            return []
        # Optimal string alignment counts a swap of two letters as one edit: "handel" ~ "handle".
        near = process.extract(
            word, self._surface_words, scorer=OSA.normalized_similarity, score_cutoff=0.8, limit=2
        )
        return [(self._surface[w], score) for w, score, _ in near if self._surface[w] in self._idf]

    def search(
        self,
        query: str,
        *,
        prefer: list[str] | None = None,
        limit: int = 3,
        every_word: bool = False,
        kind: str | None = None,
        kind_boost: float = 1.5,
    ) -> list[Hit]:
        """Best sections for `query`, searched on the words the playbooks know (and what the thesaurus says
        the question's phrases mean). With `every_word` (messages nothing else understood) a question
        whose words are mostly unknown gets nothing, so "lunch plans?" is not answered with noise.
        """
        weights: dict[str, float] = {}
        raw = [w for w in re.findall(r"[a-z0-9]+", query.lower().replace("'", ""))]
        meanings = self._thesaurus.find(raw)
        covered_by = {i: m.end - m.start for m in meanings for i in range(m.start, m.end)}
        covered = set(covered_by)
        for meaning in meanings:
            for known in self.terms(meaning.means):
                if known in self._idf:
                    weights[known] = 1.0
        known_words = 2 * len(meanings)  # a phrase the thesaurus knows is strong evidence
        unknown_words = 0
        for i, word in enumerate(raw):
            if word in STOPWORDS:
                continue
            if self.everyday(word):
                unknown_words += 2
                continue
            expanded = self._expand(word)
            if i in covered:  # the phrase counted once; a jargon word ("roi") still searches as itself,
                # an idiom's words ("put a number on their pain") at half weight
                share = 1.0 if covered_by[i] == 1 else 0.5
                expanded = [(known, weight * share) for known, weight in expanded]
            elif expanded:
                known_words += 1
            elif word not in CASUAL:
                unknown_words += 1
            for known, weight in expanded:
                weights[known] = max(weights.get(known, 0.0), weight)
        if not weights or (every_word and unknown_words * 2 > known_words):
            return []
        scored: list[tuple[float, _Doc]] = []
        for doc in self._docs:
            score = 0.0
            for term, weight in weights.items():
                count = doc.terms.get(term, 0)
                if count:
                    norm = (
                        count
                        * (self.K1 + 1)
                        / (count + self.K1 * (1 - self.B + self.B * doc.length / self._avg_length))
                    )
                    score += weight * self._idf[term] * norm
            if score > 0:
                # The asker's own playbooks first; the kind of section they asked for (a talk track).
                if prefer and doc.playbook.id in prefer:
                    score *= 1.5 if doc.playbook.id == prefer[0] else 1.25
                if kind is not None and doc.kind == kind:
                    score *= kind_boost
                scored.append((score, doc))
        scored.sort(key=lambda pair: -pair[0])
        if not scored:
            return []
        if prefer:  # a rep's own playbook answers when it has anything close to the best hit
            own = [pair for pair in scored if pair[1].playbook.id in prefer]
            if own and own[0][0] >= scored[0][0] * 0.5:
                scored = own
        floor = scored[0][0] * 0.5  # keep only hits reasonably close to the best one
        return [
            Hit(d.playbook, d.stage, d.kind, d.title, d.text, round(s, 3))
            for s, d in scored[:limit]
            if s >= floor
        ]


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower().replace("'", "")) if w not in STOPWORDS]


def _sections(playbook: Playbook, stage: Stage) -> list[tuple[Playbook, Stage, str, str, str, str]]:
    out: list[tuple[Playbook, Stage, str, str, str, str]] = []
    for objection in stage.objections:
        out.append(
            (playbook, stage, "objection", f'"{objection.objection}"', objection.response, " ".join(objection.aliases))
        )
    for track in stage.talk_tracks:
        out.append((playbook, stage, "talk_track", track.title, track.text, " ".join(track.aliases)))
    for item in stage.content:
        when = f" ({item.when})" if item.when else ""
        out.append(
            (playbook, stage, "content", item.title, f"[{item.title}]({item.url}){when}", " ".join(item.aliases))
        )
    lists = {
        "objectives": stage.objectives,
        "tasks": stage.tasks,
        "exit_criteria": [c.text for c in stage.exit_criteria],
        "questions": stage.questions,
        "coaching_questions": stage.coaching_questions,
        "buyer_roles": stage.buyer_roles,
    }
    for kind, items in lists.items():
        if items:
            out.append((playbook, stage, kind, KIND_TITLES[kind], "\n".join(f"- {i}" for i in items), ""))
    return out
