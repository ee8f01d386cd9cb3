"""A reproducible, realistic data set for the benchmarks: an org of managers and reps in many time zones,
their deals at every stage of the bundled playbooks, exit-criteria confirmation history, coaching
sessions, quiz questions and each rep's spaced-repetition cards.

`ensure(url, scale, seed)` builds it once per (scale, seed, schema) and reuses it on later runs: the
fingerprint is kept in a table of its own. Rows are written with the database's bulk path (COPY on
PostgreSQL, executemany on SQLite), not through the ORM, so 100k reps and 5M cards take a minute or two.
"""

from __future__ import annotations

import json
import random
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, make_url, select, text

from bot import confirmations
from playbooks.loader import PlaybookLibrary, load_library
from storage import db
from storage.models import Base, Deal, Person, Role, Workspace

PLAYBOOKS_DIR = Path(__file__).resolve().parent.parent / "playbooks"
FINGERPRINT_TABLE = "bench_dataset"
EPOCH = datetime(
    2026, 11, 22, 12, 0, tzinfo=UTC
)  # "now" for generated data: a Sunday, so Monday's jobs are due next

FIRST_NAMES = (
    "Aisha Alejandro Amara Anders Ananya Ben Camila Chen Chloe Daniel Dmitri Elena Emeka Fatima Felix "
    "Grace Hana Hiro Ibrahim Ines Isabel Jack Jamal Javier Jonas Kai Kavya Laila Liam Lucas Maya Mei "
    "Mateo Mohammed Nadia Noah Nora Olivia Omar Priya Rafael Rosa Sami Sara Sofia Tariq Thomas Umar "
    "Valentina Wei Yara Yusuf Zoe Zanele Ravi Lena Marta Pedro Keiko Tomasz"
).split()
LAST_NAMES = (
    "Adeyemi Andersson Bauer Bianchi Chen Costa Cohen Dubois Eriksen Fernandes Fischer Garcia Gupta "
    "Haddad Hansen Ito Ivanova Jensen Kaur Kim Kowalski Lambert Lee Lopez Martin Mensah Moreau Murphy "
    "Nakamura Nguyen Novak Okafor Olsen Park Patel Peralta Petrov Quinn Rahman Rossi Sato Schmidt Silva "
    "Singh Smith Suzuki Tanaka Torres Van Dijk Vargas Wagner Walsh Wang Weber Williams Yamamoto Zhang"
).split()
COMPANY_HEADS = (
    "Acme Apex Aurora Beacon Birch Blue Cedar Cobalt Coral Crest Delta Echo Ember Falcon Fjord Granite "
    "Harbor Helix Horizon Iris Juniper Kestrel Lumen Maple Meridian Nimbus Northwind Nova Oak Onyx Orbit "
    "Pioneer Quartz Raven Redwood Sable Sierra Solstice Summit Tandem Terra Tidal Umber Vertex Willow "
    "Zenith Atlas Boreal Cinder Drift Elm Fable Garnet Halcyon Indigo Jade Kinetic Lark"
).split()
COMPANY_TAILS = (
    "Logistics Health Foods Capital Energy Robotics Media Labs Systems Retail Bank Insurance Telecom "
    "Pharma Motors Analytics Airlines Hotels Foundry Textiles Mining Software Networks Biotech Freight"
).split()
DEAL_KINDS = ("Platform", "Expansion", "Renewal", "Pilot", "Migration", "Rollout", "Upgrade", "Add-on")
# Time zones weighted roughly like a global sales team (Americas heavy, then EMEA, then APAC).
TIME_ZONES = (
    ("America/New_York", 22),
    ("America/Chicago", 12),
    ("America/Denver", 5),
    ("America/Los_Angeles", 16),
    ("America/Sao_Paulo", 4),
    ("Europe/London", 10),
    ("Europe/Berlin", 8),
    ("Europe/Paris", 5),
    ("Asia/Kolkata", 5),
    ("Asia/Singapore", 4),
    ("Asia/Tokyo", 3),
    ("Australia/Sydney", 4),
    ("UTC", 2),
)
BUYER_ROLES = ("CFO", "VP Sales", "CIO", "Head of Procurement", "IT Director", "Champion", "COO")
COACHING_AREAS = ("lead-opportunity", "pipeline", "skills-behaviors", "account", "territory")


@dataclass(frozen=True)
class Scale:
    """How big the org is. `http()` for the request-path benchmarks, `full()` for the scale targets."""

    managers: int
    reps_per_manager: int
    deals: int
    questions: int
    cards_per_rep: int
    events: int
    coaching_per_rep: int = 2
    enablement: int = 5
    platform: str = "slack"
    workspace_external_id: str = "T0BENCH01"

    @classmethod
    def http(cls, platform: str = "slack") -> Scale:
        external = "T0BENCH01" if platform == "slack" else "bench-tenant-0001"
        return cls(100, 10, 10_000, 50, 10, 50_000, platform=platform, workspace_external_id=external)

    @classmethod
    def full(cls) -> Scale:
        return cls(10_000, 10, 200_000, 50, 50, 1_000_000)

    @classmethod
    def tiny(cls) -> Scale:
        """For checking the benchmark scripts themselves (seconds, not minutes)."""
        return cls(20, 5, 500, 10, 10, 5_000)

    def scaled(self, factor: float) -> Scale:
        def n(x: int) -> int:
            return max(1, int(x * factor))

        return replace(self, managers=n(self.managers), deals=n(self.deals), events=n(self.events))

    @property
    def reps(self) -> int:
        return self.managers * self.reps_per_manager


@dataclass(frozen=True)
class RepSample:
    """One rep as a load generator addresses them: chat ids and the names of their open deals."""

    person_id: int
    email: str
    slack_user_id: str
    teams_user_id: str
    timezone: str
    deal_names: tuple[str, ...]


@dataclass(frozen=True)
class Dataset:
    url: str
    organization_id: int
    workspace_external_id: str
    platform: str
    scale: Scale
    seed: int
    now: datetime
    samples: tuple[RepSample, ...]


def ensure(
    url: str, scale: Scale, seed: int = 20261122, now: datetime | None = None, samples: int = 200
) -> Dataset:
    """The data set for (scale, seed, now) at `url`, generated unless the database already has it."""
    now = now or EPOCH
    fingerprint = json.dumps({"scale": asdict(scale), "seed": seed, "now": now.isoformat()}, sort_keys=True)
    engine = db.make_engine(url)
    try:
        if _fingerprint(engine) != fingerprint:
            engine.dispose()
            recreate_database(url)
            engine = db.make_engine(url)
            db.upgrade(engine)
            with engine.begin() as connection:
                _generate(connection, scale, random.Random(seed), now, load_library(PLAYBOOKS_DIR))
                connection.execute(text(f"CREATE TABLE {FINGERPRINT_TABLE} (fingerprint TEXT)"))
                connection.execute(text(f"INSERT INTO {FINGERPRINT_TABLE} VALUES (:f)"), {"f": fingerprint})
        elif (revisions := db.schema_status(engine))[0] != revisions[1]:
            db.upgrade(engine)  # a data set from an older schema: migrations fill new tables from its rows
        else:
            return _describe(engine, url, scale, seed, now, samples)
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("VACUUM ANALYZE"))
        return _describe(engine, url, scale, seed, now, samples)
    finally:
        engine.dispose()


def recreate_database(url: str) -> None:
    """An empty database at `url`: a new file for SQLite, DROP/CREATE DATABASE on PostgreSQL."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            for suffix in ("", "-wal", "-shm"):
                Path(parsed.database + suffix).unlink(missing_ok=True)
        return
    server = db.make_engine(parsed.set(database="postgres").render_as_string(hide_password=False))
    try:
        with server.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        server.dispose()


def _fingerprint(engine: Engine) -> str | None:
    try:
        with engine.connect() as connection:
            return connection.execute(text(f"SELECT fingerprint FROM {FINGERPRINT_TABLE}")).scalar()
    except Exception:  # noqa: BLE001 - no database, or no such table: not generated yet
        return None


def _describe(engine: Engine, url: str, scale: Scale, seed: int, now: datetime, count: int) -> Dataset:
    """Every n-th rep with their open deals, spread over the org so lookups hit the whole table."""
    with engine.connect() as connection:
        organization_id = connection.execute(
            select(Workspace.organization_id).where(Workspace.external_id == scale.workspace_external_id)
        ).scalar_one()
        reps = connection.execute(
            select(Person.id, Person.email, Person.slack_user_id, Person.teams_user_id, Person.timezone)
            .where(Person.organization_id == organization_id, Person.role == Role.REP)
            .order_by(Person.id)
        ).all()
        step = max(1, len(reps) // count)
        chosen = reps[::step][:count]
        deals: dict[int, list[str]] = {r.id: [] for r in chosen}
        for owner_id, name in connection.execute(
            select(Deal.owner_id, Deal.name)
            .where(Deal.owner_id.in_(deals), Deal.status == "open")
            .order_by(Deal.id)
        ):
            deals[owner_id].append(name)
    samples = tuple(
        RepSample(r.id, r.email, r.slack_user_id, r.teams_user_id, r.timezone, tuple(deals[r.id]))
        for r in chosen
        if deals[r.id]
    )
    return Dataset(url, organization_id, scale.workspace_external_id, scale.platform, scale, seed, now, samples)


# -- generation ----------------------------------------------------------------------------------------


def _generate(
    connection: Connection, scale: Scale, rng: random.Random, now: datetime, library: PlaybookLibrary
) -> None:
    tables = Base.metadata.tables
    organization_id = 1
    _bulk(connection, "organizations", ("id", "name", "settings", "created_at"), [(organization_id, "Bench Corp", "{}", now)])
    _bulk(
        connection,
        "workspaces",
        ("id", "organization_id", "platform", "external_id", "name", "created_at"),
        [(organization_id, organization_id, scale.platform, scale.workspace_external_id, "Bench Corp", now)],
    )
    people, reps, managers = _people(scale, rng, now, organization_id)
    _bulk(connection, "people", PEOPLE_COLUMNS, people)
    deals, deal_stages = _deals(scale, rng, now, organization_id, reps, library)
    _bulk(connection, "deals", DEAL_COLUMNS, deals)
    _bulk(
        connection, "deal_stage_changes", STAGE_CHANGE_COLUMNS, _stage_changes(rng, now, deal_stages, library)
    )
    _bulk(connection, "criterion_events", EVENT_COLUMNS, _events(scale, rng, now, deal_stages, library))
    confirmations.rebuild_status(connection)  # the current-state table the bot writes with each event
    _bulk(connection, "coaching_sessions", COACHING_COLUMNS, _coaching(scale, rng, now, reps, deal_stages))
    questions = _questions(scale, rng, now, organization_id, library)
    _bulk(connection, "quiz_questions", QUESTION_COLUMNS, questions)
    cards = _cards(scale, rng, now, reps, [q[0] for q in questions])
    _bulk(connection, "review_cards", CARD_COLUMNS, cards)
    _bulk(connection, "review_logs", LOG_COLUMNS, _logs(rng, now, scale, len(reps)))
    if connection.dialect.name == "postgresql":
        for name in (
            "organizations",
            "workspaces",
            "people",
            "deals",
            "deal_stage_changes",
            "criterion_events",
            "coaching_sessions",
            "quiz_questions",
            "review_cards",
            "review_logs",
        ):
            if "id" in tables[name].c:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                    )
                )
    del managers


PEOPLE_COLUMNS = (
    "id",
    "workspace_id",  # the organization (column name kept, see storage.models)
    "email",
    "name",
    "role",
    "manager_id",
    "timezone",
    "slack_user_id",
    "teams_user_id",
    "quiet_start",
    "quiet_end",
    "working_days",
    "preferences",
    "active",
    "created_at",
)
DEAL_COLUMNS = (
    "id",
    "workspace_id",  # the organization (column name kept, see storage.models)
    "name",
    "owner_id",
    "playbook_id",
    "stage_id",
    "amount",
    "close_date",
    "crm_id",
    "status",
    "stage_entered_at",
    "created_at",
)
STAGE_CHANGE_COLUMNS = (
    "id",
    "workspace_id",  # the organization (column name kept, see storage.models)
    "deal_id",
    "from_stage_id",
    "to_stage_id",
    "changed_by_id",
    "skipped_criteria",
    "changed_at",
)
EVENT_COLUMNS = (
    "id",
    "workspace_id",  # the organization (column name kept, see storage.models)
    "deal_id",
    "playbook_id",
    "stage_id",
    "criterion_id",
    "criterion_text",
    "confirmed",
    "actor_id",
    "buyer_name",
    "buyer_role",
    "evidence",
    "reason",
    "created_at",
)
COACHING_COLUMNS = (
    "id",
    "workspace_id",  # the organization (column name kept, see storage.models)
    "manager_id",
    "rep_id",
    "area",
    "deal_id",
    "note",
    "occurred_at",
    "created_at",
)
QUESTION_COLUMNS = (
    "id",
    "workspace_id",  # the organization (column name kept, see storage.models)
    "external_id",
    "topic",
    "question",
    "choices",
    "answer",
    "explanation",
    "audience",
    "active",
    "version",
    "updated_at",
)
CARD_COLUMNS = (
    "id",
    "workspace_id",  # the organization (column name kept, see storage.models)
    "person_id",
    "question_id",
    "card",
    "due",
    "pending_since",
    "created_at",
)
LOG_COLUMNS = (
    "id",
    "workspace_id",  # the organization (column name kept, see storage.models)
    "card_id",
    "question_version",
    "rating",
    "chosen",
    "correct",
    "response_ms",
    "reviewed_at",
)


@dataclass(frozen=True)
class _Rep:
    id: int
    manager_id: int


@dataclass(frozen=True)
class _DealStage:
    id: int
    owner_id: int
    manager_id: int
    playbook_id: str
    stage_index: int


def _people(
    scale: Scale, rng: random.Random, now: datetime, organization_id: int
) -> tuple[list[tuple[Any, ...]], list[_Rep], list[int]]:
    zones = [z for z, _ in TIME_ZONES]
    weights = [w for _, w in TIME_ZONES]
    rows: list[tuple[Any, ...]] = []
    reps: list[_Rep] = []
    managers: list[int] = []
    next_id = 1

    def person(role: str, manager_id: int | None) -> int:
        nonlocal next_id
        pid = next_id
        next_id += 1
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        email = f"{first}.{last}.{pid}@bench.example".lower().replace(" ", "")
        rows.append(
            (
                pid,
                organization_id,
                email,
                f"{first} {last}",
                role,
                manager_id,
                rng.choices(zones, weights)[0],
                f"U{pid:09d}",
                f"29:bench-{pid}",
                "19:00",
                "08:00",
                "mon,tue,wed,thu,fri",
                "{}",
                True,
                now,
            )
        )
        return pid

    for _ in range(scale.enablement):
        person("enablement", None)
    for _ in range(scale.managers):
        manager_id = person("manager", None)
        managers.append(manager_id)
        for _ in range(scale.reps_per_manager):
            reps.append(_Rep(person("rep", manager_id), manager_id))
    return rows, reps, managers


def _deal_names(count: int, rng: random.Random) -> Iterator[str]:
    """Unique, readable deal names ("Cobalt Freight Expansion"); numbered once the word lists run out."""
    seen: set[str] = set()
    while len(seen) < count:
        name = f"{rng.choice(COMPANY_HEADS)} {rng.choice(COMPANY_TAILS)} {rng.choice(DEAL_KINDS)}"
        if name in seen:
            name = f"{name} {len(seen)}"
        seen.add(name)
        yield name


def _deals(
    scale: Scale,
    rng: random.Random,
    now: datetime,
    organization_id: int,
    reps: Sequence[_Rep],
    library: PlaybookLibrary,
) -> tuple[list[tuple[Any, ...]], list[_DealStage]]:
    rows: list[tuple[Any, ...]] = []
    stages: list[_DealStage] = []
    playbooks = [(p.id, len(p.stages)) for p in library.playbooks]
    for i, name in enumerate(_deal_names(scale.deals, rng), start=1):
        rep = reps[rng.randrange(len(reps))]
        playbook_id, stage_count = playbooks[0] if rng.random() < 0.8 or len(playbooks) == 1 else playbooks[1]
        stage_index = min(int(rng.expovariate(0.45)), stage_count - 1)  # more deals early in the funnel
        status = "open" if rng.random() < 0.85 else rng.choice(("won", "lost"))
        entered = now - timedelta(days=rng.uniform(0, 60))
        playbook = library.get(playbook_id)
        assert playbook is not None
        rows.append(
            (
                i,
                organization_id,
                name,
                rep.id,
                playbook_id,
                playbook.stages[stage_index].id,
                round(rng.lognormvariate(10.5, 1.0), 2),
                (now + timedelta(days=rng.randint(10, 180))).date(),
                f"CRM-{i:07d}",
                status,
                entered,
                entered - timedelta(days=rng.uniform(0, 120)),
            )
        )
        stages.append(_DealStage(i, rep.id, rep.manager_id, playbook_id, stage_index))
    return rows, stages


def _stage_changes(
    rng: random.Random, now: datetime, deals: Sequence[_DealStage], library: PlaybookLibrary
) -> Iterator[tuple[Any, ...]]:
    """Each deal's moves into its current stage; about one move in five skipped an exit criterion."""
    next_id = 1
    for deal in deals:
        playbook = library.get(deal.playbook_id)
        assert playbook is not None
        for index in range(deal.stage_index + 1):
            skipped: list[str] = []
            if index and rng.random() < 0.2:
                criteria = playbook.stages[index - 1].exit_criteria
                skipped = [rng.choice(criteria).id] if criteria else []
            yield (
                next_id,
                1,
                deal.id,
                playbook.stages[index - 1].id if index else None,
                playbook.stages[index].id,
                deal.owner_id,
                json.dumps(skipped),
                now - timedelta(days=(deal.stage_index - index) * 20 + rng.uniform(0, 20)),
            )
            next_id += 1


def _events(
    scale: Scale, rng: random.Random, now: datetime, deals: Sequence[_DealStage], library: PlaybookLibrary
) -> Iterator[tuple[Any, ...]]:
    """Confirmations (and one in ten revocations) of the criteria of each deal's current or earlier stages."""
    for i in range(1, scale.events + 1):
        deal = deals[rng.randrange(len(deals))]
        playbook = library.get(deal.playbook_id)
        assert playbook is not None
        stage = playbook.stages[rng.randint(0, deal.stage_index)]
        if not stage.exit_criteria:
            stage = playbook.stages[0]
        criterion = rng.choice(stage.exit_criteria)
        confirmed = rng.random() < 0.9
        yield (
            i,
            1,
            deal.id,
            deal.playbook_id,
            stage.id,
            criterion.id,
            criterion.text,
            confirmed,
            deal.owner_id,
            f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}" if confirmed else None,
            rng.choice(BUYER_ROLES) if confirmed else None,
            "Confirmed on the call; notes in the CRM." if confirmed else None,
            None if confirmed else "The buyer walked it back.",
            now - timedelta(days=rng.uniform(0, 180)),
        )


def _coaching(
    scale: Scale, rng: random.Random, now: datetime, reps: Sequence[_Rep], deals: Sequence[_DealStage]
) -> Iterator[tuple[Any, ...]]:
    next_id = 1
    for rep in reps:
        for _ in range(rng.randint(0, 2 * scale.coaching_per_rep)):
            when = now - timedelta(days=rng.uniform(1, 90))
            deal_id = deals[rng.randrange(len(deals))].id if rng.random() < 0.5 else None
            yield (
                next_id,
                1,
                rep.manager_id,
                rep.id,
                rng.choice(COACHING_AREAS),
                deal_id,
                "Walked through next steps.",
                when,
                when,
            )
            next_id += 1


def _questions(
    scale: Scale, rng: random.Random, now: datetime, organization_id: int, library: PlaybookLibrary
) -> list[tuple[Any, ...]]:
    topics = [s.id for p in library.playbooks for s in p.stages] + ["coaching", "exit-criteria"]
    rows = []
    for i in range(1, scale.questions + 1):
        topic = topics[(i - 1) % len(topics)]
        choices = [f"Option {c} for question {i}" for c in "ABCD"]
        rows.append(
            (
                i,
                organization_id,
                f"bench-q{i:03d}",
                topic,
                f"Benchmark question {i} about {topic}?",
                json.dumps(choices),
                rng.randrange(4),
                "Because the playbook says so.",
                "all reps",
                True,
                1,
                now,
            )
        )
    return rows


def _cards(
    scale: Scale, rng: random.Random, now: datetime, reps: Sequence[_Rep], question_ids: Sequence[int]
) -> Iterator[tuple[Any, ...]]:
    """Cards in the Review state with a spread of stabilities, so that on any day some are due."""
    next_id = 1
    per_rep = min(scale.cards_per_rep, len(question_ids))
    for rep in reps:
        for question_id in rng.sample(question_ids, per_rep):
            stability = rng.lognormvariate(2.0, 0.9)
            last = now - timedelta(days=rng.uniform(0, min(60.0, stability * 1.5)), hours=rng.uniform(0, 24))
            due = last + timedelta(days=max(1.0, round(stability)))
            pending = now - timedelta(days=1) if rng.random() < 0.03 else None
            card = {
                "card_id": next_id,
                "state": 2,
                "step": None,
                "stability": round(stability, 4),
                "difficulty": round(rng.uniform(3, 8), 4),
                "due": due.isoformat(),
                "last_review": last.isoformat(),
            }
            yield (next_id, 1, rep.id, question_id, json.dumps(card), due, pending, last)
            next_id += 1


def _logs(rng: random.Random, now: datetime, scale: Scale, rep_count: int) -> Iterator[tuple[Any, ...]]:
    """A few recent answers per rep (their latest cards), right about three times in four."""
    per_rep = min(scale.cards_per_rep, 3)
    next_id = 1
    for rep_index in range(rep_count):
        for k in range(per_rep):
            card_id = rep_index * scale.cards_per_rep + k + 1
            correct = rng.random() < 0.75
            yield (
                next_id,
                1,
                card_id,
                1,
                3 if correct else 1,
                0 if correct else 1,
                correct,
                rng.randint(3_000, 40_000),
                now - timedelta(days=rng.uniform(0, 14)),
            )
            next_id += 1


# -- bulk writing --------------------------------------------------------------------------------------

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"


def _bulk(connection: Connection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
    """Write rows fast: COPY on PostgreSQL; executemany on SQLite, in SQLAlchemy's storage formats."""
    raw = connection.connection.driver_connection
    count = 0
    if connection.dialect.name == "postgresql":
        copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(copy_sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    placeholders = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
    cursor = raw.cursor()  # type: ignore[union-attr]
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(tuple(_sqlite_value(v) for v in row))
        if len(batch) >= 20_000:
            cursor.executemany(statement, batch)
            count += len(batch)
            batch.clear()
    if batch:
        cursor.executemany(statement, batch)
        count += len(batch)
    return count


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime(_SQLITE_TIME)
    if isinstance(value, date):
        return value.isoformat()
    return value


@contextmanager
def fresh_database(url: str | None) -> Iterator[tuple[str, str]]:
    """(label, url) of a fresh, migrated database: a SQLite file, or a new database on the given server."""
    if url is None:
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_url = f"sqlite:///{tmp}/faults.db"
            engine = db.make_engine(sqlite_url)
            db.upgrade(engine)
            engine.dispose()
            yield "sqlite", sqlite_url
        return
    name = f"faults_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    fresh = make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        engine = db.make_engine(fresh)
        db.upgrade(engine)
        engine.dispose()
        yield "postgresql", fresh
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
