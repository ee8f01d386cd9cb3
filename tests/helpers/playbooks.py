"""Playbook folders as enablement edits them."""

from __future__ import annotations

import shutil
from pathlib import Path

from bot.settings import BUNDLED_PLAYBOOKS_DIR


def edited_copy(tmp_path: Path, *edits: tuple[str, str]) -> Path:
    """The bundled playbooks copied to a folder, with `enterprise.yaml` edited as enablement would."""
    folder = tmp_path / "playbooks"
    folder.mkdir()
    for path in BUNDLED_PLAYBOOKS_DIR.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    shutil.copytree(BUNDLED_PLAYBOOKS_DIR / "thesaurus", folder / "thesaurus")
    enterprise = folder / "enterprise.yaml"
    source = enterprise.read_text(encoding="utf-8")
    for old, new in edits:
        assert old in source
        source = source.replace(old, new)
    enterprise.write_text(source, encoding="utf-8")
    return folder
