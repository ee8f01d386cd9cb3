"""The services one process shares, built once at start-up and passed explicitly (no globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.rendering import Renderer
from bot.settings import Settings
from playbooks.loader import PlaybookLibrary, load_library
from storage import db


@dataclass
class AppContext:
    """Settings, database, playbooks, templates and the clock: everything handlers and channels use."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    playbooks: PlaybookLibrary
    renderer: Renderer
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    @classmethod
    def create(cls, settings: Settings) -> AppContext:
        """Load playbooks first (raises YamlFileError on a broken file) then connect to the database."""
        library = load_library(settings.playbooks_dir)
        engine = db.make_engine(settings.database_url)
        return cls(settings, engine, db.make_sessionmaker(engine), library, Renderer())

    def close(self) -> None:
        self.engine.dispose()
