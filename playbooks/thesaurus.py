"""The sales thesaurus: what reps and buyers say, mapped to the words the playbooks use.

"who signs the cheque" means the economic buyer; "my champion stopped answering" means a stalled deal
with no response. A bundled, reviewed file (`playbooks/thesaurus/sales.yaml`) holds the domain's common
phrases; a playbook folder may add its own in `thesaurus/*.yaml` next to its playbooks. Phrases are
matched on word stems, so "ghosting" and "ghosted" are one phrase.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import snowballstemmer
from pydantic import BaseModel, ConfigDict, Field

from playbooks import yamlfile
from playbooks.yamlfile import FileError

BUNDLED = Path(__file__).parent / "thesaurus" / "sales.yaml"

# Words the snowball stemmer would merge although they mean different things in a playbook.
PROTECTED_STEMS = {
    "objection": "objection",
    "objections": "objection",
    "objective": "objective",
    "objectives": "objective",
    "organization": "organization",
    "organizations": "organization",
    "organisation": "organization",
    "organisations": "organization",
    "general": "general",
    "generic": "generic",
    "university": "university",
    "universal": "universal",
}

# A snowball stemmer keeps the word it is working on in itself, so one shared by the web process's worker
# threads (answers are worked out in several at once) mixes their words up and fails: one per thread.
_per_thread = threading.local()


def stem(word: str) -> str:
    """The word's stem, except for words whose stems would collide with other words'."""
    protected = PROTECTED_STEMS.get(word)
    if protected:
        return protected
    stemmer = getattr(_per_thread, "stemmer", None)
    if stemmer is None:
        stemmer = _per_thread.stemmer = snowballstemmer.stemmer("english")
    return stemmer.stemWord(word)


def words(text: str) -> list[str]:
    """Lower-case words and digits, apostrophes dropped ("what's" -> "whats")."""
    return re.findall(r"[a-z0-9]+", text.lower().replace("'", "").replace("\u2019", ""))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SectionKind = Literal[
    "exit_criteria", "tasks", "objectives", "questions", "coaching_questions", "buyer_roles", "talk_tracks",
    "objections", "content",
]


class Term(_Strict):
    means: str = Field(min_length=1)  # the playbook's words
    said: list[str] = Field(min_length=1)  # what people say instead
    section: SectionKind | None = None  # the kind of section such a question is usually after


class ThesaurusFile(_Strict):
    terms: list[Term] = Field(min_length=1)


@dataclass(frozen=True)
class Meaning:
    """A phrase found in a question: which of the question's words it covered and what it means."""

    start: int
    end: int  # exclusive, in words
    means: str
    section: str | None = None


class Thesaurus:
    """Phrases (as stem sequences) -> meaning; the longest phrase at a position wins."""

    def __init__(self, terms: list[Term]):
        self._phrases: dict[tuple[str, ...], tuple[str, str | None]] = {}
        for term in terms:
            for said in term.said:
                key = tuple(stem(w) for w in words(said))
                if key:
                    self._phrases.setdefault(key, (term.means, term.section))
        self._longest = max((len(k) for k in self._phrases), default=0)

    def __len__(self) -> int:
        return len(self._phrases)

    def find(self, text_words: list[str]) -> list[Meaning]:
        """The phrases in `text_words` (already lower-cased words), left to right, not overlapping."""
        stems = [stem(w) for w in text_words]
        found: list[Meaning] = []
        i = 0
        while i < len(stems):
            for size in range(min(self._longest, len(stems) - i), 0, -1):
                meaning = self._phrases.get(tuple(stems[i : i + size]))
                if meaning is not None:
                    found.append(Meaning(i, i + size, *meaning))
                    i += size
                    break
            else:
                i += 1
        return found


def check_files(paths: list[Path]) -> tuple[list[Term], list[FileError]]:
    """Validate thesaurus files; every error as file:line, like playbooks."""
    terms: list[Term] = []
    errors: list[FileError] = []
    for path in paths:
        doc = yamlfile.load(path)
        if doc.data is not None and not doc.errors:
            if not isinstance(doc.data, dict):
                doc.errors.append(FileError(doc.file, 1, "a thesaurus file must be a mapping with 'terms'"))
            else:
                parsed = yamlfile.validate(doc, ThesaurusFile)
                if isinstance(parsed, ThesaurusFile):
                    doc.errors.extend(_cross_checks(doc, parsed))
                    if not doc.errors:
                        terms.extend(parsed.terms)
        errors.extend(doc.errors)
    return terms, errors


def _cross_checks(doc: yamlfile.LoadedYaml, parsed: ThesaurusFile) -> list[FileError]:
    """A phrase may mean one thing only (word endings aside); empty phrases say nothing."""
    errors: list[FileError] = []
    seen: dict[tuple[str, ...], tuple[int, str]] = {}
    for i, term in enumerate(parsed.terms):
        if not words(term.means):
            errors.append(FileError(doc.file, doc.line_of(("terms", i, "means")), f"terms[{i}].means has no words"))
        for j, said in enumerate(term.said):
            line = doc.line_of(("terms", i, "said", j))
            key = tuple(stem(w) for w in words(said))
            if not key:
                errors.append(FileError(doc.file, line, f"terms[{i}].said[{j}] has no words"))
            elif key in seen and seen[key][1] != term.means:
                errors.append(
                    FileError(
                        doc.file,
                        line,
                        f"terms[{i}].said[{j}] '{said}' already means '{seen[key][1]}' (line {seen[key][0]}); "
                        "a phrase can mean one thing only",
                    )
                )
            else:
                seen.setdefault(key, (line, term.means))
    return errors


def thesaurus_files(folder: Path | None) -> list[Path]:
    """The bundled thesaurus, then the playbook folder's own (`thesaurus/*.yaml`), if any."""
    paths = [BUNDLED]
    if folder is not None and (folder / "thesaurus").is_dir():
        own = sorted([*(folder / "thesaurus").glob("*.yaml"), *(folder / "thesaurus").glob("*.yml")])
        paths += [p for p in own if p.resolve() != BUNDLED.resolve()]
    return paths
