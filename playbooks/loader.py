"""Load and validate every playbook file in a folder, collecting every error as `file:line: message`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from rapidfuzz import fuzz, utils

from playbooks import yamlfile
from playbooks.schema import Playbook, Stage
from playbooks.search import Hit, SearchIndex
from playbooks.thesaurus import Thesaurus, check_files, thesaurus_files
from playbooks.yamlfile import FileError, YamlFileError


@dataclass
class PlaybookLibrary:
    """All playbooks the bot serves, in file order; the first is the default for people with no deals."""

    playbooks: list[Playbook]
    folder: Path
    thesaurus: Thesaurus = field(default_factory=lambda: Thesaurus([]))
    _by_id: dict[str, Playbook] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {p.id: p for p in self.playbooks}

    def get(self, playbook_id: str) -> Playbook | None:
        return self._by_id.get(playbook_id)

    @cached_property
    def index(self) -> SearchIndex:
        """Built on first search, then reused for the life of the process."""
        return SearchIndex(self.playbooks, self.thesaurus)

    def search(
        self,
        query: str,
        prefer: list[str] | None = None,
        limit: int = 3,
        every_word: bool = False,
        kind: str | None = None,
        kind_boost: float = 1.5,
    ) -> list[Hit]:
        return self.index.search(
            query, prefer=prefer, limit=limit, every_word=every_word, kind=kind, kind_boost=kind_boost
        )

    @property
    def default(self) -> Playbook:
        return self.playbooks[0]

    def find_stage(
        self, words: str, prefer: list[str] | None = None, *, fuzzy: bool = True
    ) -> list[tuple[Playbook, Stage]]:
        """Stages whose id or name match `words` (exactly, else fuzzily), preferred playbooks first.

        Several results mean the words fit stages in more than one playbook; the caller asks or picks the
        preferred one.
        """
        wanted = utils.default_process(words.removesuffix(" stage").removeprefix("the "))
        if not wanted:
            return []
        order = sorted(
            self.playbooks, key=lambda p: (prefer or []).index(p.id) if p.id in (prefer or []) else 99
        )
        exact = [
            (p, s)
            for p in order
            for s in p.stages
            if wanted
            in (
                utils.default_process(s.id.replace("-", " ")),
                utils.default_process(s.name),
                *(utils.default_process(a) for a in s.aliases),
            )
        ]
        if exact or not fuzzy:
            return exact
        scored = []
        for playbook in order:
            for stage in playbook.stages:
                score = max(
                    fuzz.WRatio(wanted, utils.default_process(stage.name)),
                    fuzz.ratio(wanted, stage.id.replace("-", " ")),
                    *(fuzz.ratio(wanted, utils.default_process(a)) for a in stage.aliases),
                )
                if score >= 80:
                    scored.append((score, playbook, stage))
        if not scored:
            return []
        best = max(score for score, _, _ in scored)
        return [(p, s) for score, p, s in sorted(scored, key=lambda t: -t[0]) if score >= best - 3]


def load_library(folder: Path) -> PlaybookLibrary:
    """Load every `*.yaml`/`*.yml` file in `folder`; raise YamlFileError listing all problems."""
    playbooks, errors = check_folder(folder)
    if errors:
        raise YamlFileError(errors)
    terms, _ = check_files(thesaurus_files(folder))
    return PlaybookLibrary(playbooks, folder, Thesaurus(terms))


def check_folder(folder: Path) -> tuple[list[Playbook], list[FileError]]:
    """Validate a folder of playbooks; returns the valid playbooks and every error found."""
    if not folder.is_dir():
        return [], [
            FileError(str(folder), 1, "no such folder (set PLAYBOOKS_DIR to a folder of playbook YAML files)")
        ]
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not files:
        return [], [FileError(str(folder), 1, "no playbook files (*.yaml) in this folder")]
    playbooks: list[Playbook] = []
    errors: list[FileError] = []
    first_seen: dict[str, str] = {}
    crm_seen: dict[tuple[str, str], str] = {}  # (pipeline, CRM stage) -> "file:line" that maps it
    for path in files:
        doc = yamlfile.load(path)
        if doc.data is not None and not doc.errors:
            if isinstance(doc.data, dict):
                playbook = yamlfile.validate(doc, Playbook)
                doc.errors.extend(_cross_checks(doc, playbook, first_seen))
                doc.errors.extend(_crm_checks(doc, playbook, crm_seen))
                if playbook is not None and not doc.errors:
                    playbooks.append(playbook.model_copy(update={"source": str(path)}))
            else:
                doc.errors.append(
                    FileError(doc.file, 1, "a playbook file must be a mapping with id, name and stages")
                )
        errors.extend(doc.errors)
    errors.extend(check_files(thesaurus_files(folder))[1])
    return playbooks, errors


def _cross_checks(
    doc: yamlfile.LoadedYaml, playbook: Playbook | None, first_seen: dict[str, str]
) -> list[FileError]:
    """Rules pydantic cannot see alone: unique ids across files, stages and criteria."""
    if playbook is None:
        return []
    errors: list[FileError] = []
    where = f"{doc.file}:{doc.line_of(('id',))}"
    if playbook.id in first_seen:
        errors.append(
            FileError(
                doc.file,
                doc.line_of(("id",)),
                f"playbook id '{playbook.id}' is already used by {first_seen[playbook.id]}",
            )
        )
    else:
        first_seen[playbook.id] = where
    stage_lines: dict[str, int] = {}
    name_lines: dict[str, int] = {}
    for i, stage in enumerate(playbook.stages):
        line = doc.line_of(("stages", i, "id"))
        if stage.id in stage_lines:
            errors.append(
                FileError(
                    doc.file,
                    line,
                    f"stages[{i}]: stage id '{stage.id}' is used twice (first at line {stage_lines[stage.id]}); each stage needs its own id",
                )
            )
        stage_lines.setdefault(stage.id, line)
        name_line = doc.line_of(("stages", i, "name"))
        if stage.name.casefold() in name_lines:
            errors.append(
                FileError(
                    doc.file,
                    name_line,
                    f"stages[{i}]: stage name '{stage.name}' is used twice (first at line {name_lines[stage.name.casefold()]})",
                )
            )
        name_lines.setdefault(stage.name.casefold(), name_line)
        for k, alias in enumerate(stage.aliases):
            key = utils.default_process(alias)
            alias_line = doc.line_of(("stages", i, "aliases", k))
            if key in name_lines and name_lines[key] != name_line:
                errors.append(
                    FileError(
                        doc.file,
                        alias_line,
                        f"stages[{i}].aliases[{k}]: '{alias}' is already a name or alias of another stage "
                        f"(line {name_lines[key]}); an alias must point to one stage",
                    )
                )
            name_lines.setdefault(key, name_line)
        criterion_lines: dict[str, int] = {}
        for j, criterion in enumerate(stage.exit_criteria):
            cline = doc.line_of(("stages", i, "exit_criteria", j, "id"))
            if criterion.id in criterion_lines:
                errors.append(
                    FileError(
                        doc.file,
                        cline,
                        f"stages[{i}].exit_criteria[{j}]: criterion id '{criterion.id}' is used twice in stage '{stage.id}' (first at line {criterion_lines[criterion.id]})",
                    )
                )
            criterion_lines.setdefault(criterion.id, cline)
    return errors


def _crm_checks(
    doc: yamlfile.LoadedYaml, playbook: Playbook | None, seen: dict[tuple[str, str], str]
) -> list[FileError]:
    """A CRM stage value must mean one stage: once per playbook, and once across playbooks of one pipeline."""
    if playbook is None:
        return []
    errors: list[FileError] = []
    pipeline = playbook.crm_pipeline.strip().casefold()
    for i, stage in enumerate(playbook.stages):
        for k, value in enumerate(stage.crm_stages):
            line = doc.line_of(("stages", i, "crm_stages", k))
            key = (pipeline, value.casefold())
            if key in seen:
                where = "any pipeline" if not pipeline else f"pipeline '{playbook.crm_pipeline}'"
                errors.append(
                    FileError(
                        doc.file,
                        line,
                        f"stages[{i}].crm_stages[{k}]: CRM stage '{value}' of {where} is already mapped at "
                        f"{seen[key]}; a CRM stage must mean one stage (remove one, or give the playbooks "
                        "different crm_pipeline values)",
                    )
                )
            else:
                seen[key] = f"{doc.file}:{line} (stage '{stage.id}')"
    return errors
