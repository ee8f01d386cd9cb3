"""Reading an import CSV: the header checked for its required columns, each row with its line number."""

from __future__ import annotations

import bisect
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

PEOPLE_COLUMNS = ("email", "name", "role", "manager_email", "slack_user_id", "teams_user_id", "timezone")
DEAL_COLUMNS = ("name", "owner_email", "stage", "amount", "close_date", "crm_id")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class ImportResult:
    """What an import did: counts, and one `file:line: reason` per rejected row."""

    file: str
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)  # in line order, however they were found
    rejected: dict[str, tuple[int, str]] = field(default_factory=dict)  # a row's key -> (line, reason)
    _lines: list[int] = field(default_factory=list)

    def reject(self, line: int, reason: str, key: str | None = None) -> None:
        at = bisect.bisect_right(self._lines, line)
        self._lines.insert(at, line)
        self.errors.insert(at, f"{self.file}:{line}: {reason}")
        if key is not None:
            self.rejected[key] = (line, reason)

    def summary(self, noun: str) -> str:
        singular = {"people": "person", "deals": "deal"}.get(noun, noun)
        text = f"{self.file}: {self.created} {singular if self.created == 1 else noun} created, {self.updated} updated"
        if self.errors:
            text += (
                f", {len(self.errors)} {'row' if len(self.errors) == 1 else 'rows'} rejected:\n"
                + "\n".join(f"  {e}" for e in self.errors)
            )
        return text


class CsvFileError(Exception):
    """The file as a whole cannot be imported (missing columns, not UTF-8): nothing was written."""


def read_rows(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs, with header names normalized; raises CsvFileError for file-level problems."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise CsvFileError(f"{path}: no such file") from exc
    except UnicodeDecodeError as exc:
        raise CsvFileError(f"{path}: not UTF-8 text (save it as 'CSV UTF-8'): {exc.reason}") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise CsvFileError(f"{path}:1: the file is empty; the first row must be the header")
    reader.fieldnames = [(name or "").strip().lower() for name in reader.fieldnames]
    missing = [c for c in required if c not in reader.fieldnames]
    if missing:
        raise CsvFileError(
            f"{path}:1: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(the header must include {','.join(required)})"
        )
    rows = []
    for row in reader:
        clean = {k: (v or "").strip() for k, v in row.items() if k}
        if any(clean.values()):
            rows.append((reader.line_num, clean))
    return rows
