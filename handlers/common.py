"""What several handlers share: the per-message Turn, visibility rules and deal lookup by name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import ColumnElement, Select, and_, any_, bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased

from bot.context import AppContext
from bot.messages import Button, Form, Reply, Request
from bot.text import fold, like_any_accent
from playbooks.schema import Playbook, Stage
from storage.models import CriterionStatus, Deal, DealStatus, Organization, Person, Role, Workspace


@dataclass
class Turn:
    """One incoming message or click, with the services to answer it (one database session per turn)."""

    ctx: AppContext
    db: Session
    request: Request
    person: Person
    workspace: Workspace  # the way in the request came through (Slack workspace, Teams tenant, terminal)
    # whose data the turn reads and writes: given, or read from the session when first asked for (the hot
    # "what's next for <deal>" answer never needs the row, only the person's organization id)
    _organization: Organization | None = None

    @property
    def organization(self) -> Organization:
        if self._organization is None:
            # the workspace's organization always exists (a foreign key)
            self._organization = self.db.get_one(Organization, self.workspace.organization_id)
        return self._organization

    def render(
        self,
        template: str,
        *,
        buttons: tuple[Button, ...] = (),
        kind: str = "answer",
        form: Form | None = None,
        **values: Any,
    ) -> Reply:
        return self.ctx.renderer.render(
            template, buttons=buttons, kind=kind, form=form, me=self.person, **values
        )

    def now(self):
        return self.ctx.clock()


@cache
def _team_of_me() -> Select[Any]:
    """The ids of the person `:me` and of everyone below them in the reporting tree of `:organization`, in
    one statement (a recursive CTE; UNION stops at a loop in the tree). Built once."""
    team = select(Person.id.label("id")).where(Person.id == bindparam("me")).cte("team", recursive=True)
    below = aliased(Person)
    team = team.union(
        select(below.id).where(
            below.organization_id == bindparam("organization"), below.manager_id == team.c.id
        )
    )
    return select(team.c.id)


def team_ids(db: Session, manager: Person) -> set[int]:
    """Ids of everyone below `manager` in the reporting tree (managers of managers see it all)."""
    values = {"me": manager.id, "organization": manager.organization_id}
    return set(db.scalars(_team_of_me(), values)) - {manager.id}


def visible_owner_ids(db: Session, person: Person) -> set[int] | None:
    """Whose deals `person` may see: None means everyone in the workspace (enablement)."""
    if person.role == Role.ENABLEMENT:
        return None
    return {person.id} | team_ids(db, person)


def visible_deals(db: Session, person: Person, *, open_only: bool = True) -> list[Deal]:
    query = select(Deal).where(Deal.organization_id == person.organization_id)
    owners = visible_owner_ids(db, person)
    if owners is not None:
        query = query.where(Deal.owner_id.in_(owners))
    if open_only:
        query = query.where(Deal.status == DealStatus.OPEN)
    return list(db.scalars(query.order_by(Deal.name)).all())


@dataclass(frozen=True)
class DealMatch:
    """Result of looking a deal up by name: one deal, several to choose from, or none (with near names)."""

    deal: Deal | None = None
    candidates: tuple[Deal, ...] = ()
    hidden: bool = False  # a deal of that name exists but belongs to someone the asker may not see
    exact: bool = False  # `deal` has exactly the name asked for (ignoring case and punctuation)


def find_deal(db: Session, person: Person, name: str) -> DealMatch:
    """Find a visible open deal by name: case-insensitive, typo-tolerant; ties become a choice.

    The exact name (ignoring case and punctuation) is looked up in SQL first, so asking about one of
    thousands of visible deals does not load them all; only a miss scores the visible names for typos.
    Permission comes before fuzziness: a name that fits a deal the asker may not see better than any of
    their own is refused (`hidden`), never answered with a similar deal of theirs."""
    wanted = fold(name)  # accents folded: "cafe muller" is "Café Müller"
    if not wanted:
        return DealMatch()
    owners = visible_owner_ids(db, person)
    exact = _same_name(db, person.organization_id, wanted, owners)
    if len(exact) == 1:
        return DealMatch(deal=exact[0], exact=True)
    if len(exact) > 1:
        return DealMatch(candidates=tuple(exact))
    if owners is not None and _same_name(db, person.organization_id, wanted, None):
        return DealMatch(hidden=True)
    names = _visible_names(db, person.organization_id, owners)
    scored = process.extract(wanted, names, scorer=_name_score, processor=fold, score_cutoff=75, limit=6)
    best = scored[0][1] if scored else 0.0
    if owners is not None:
        hidden = hidden_names(db, person, wanted.split(), set(names))
        near_hidden = process.extractOne(wanted, hidden, scorer=_name_score, processor=fold, score_cutoff=85)
        if near_hidden is not None and near_hidden[1] > best:
            return DealMatch(hidden=True)
    if scored:
        close = _deals_by_id(db, [key for _, score, key in scored if score >= best - 5])
        if len(close) == 1 and best >= 85:
            return DealMatch(deal=close[0])
        if len(close) > 1 or best < 85:
            return DealMatch(candidates=tuple(close))
    return DealMatch()


def hidden_names(db: Session, person: Person, words: list[str], visible: set[int]) -> dict[int, str]:
    """Open deals of the workspace outside `visible` whose names contain one of `words` (3+ letters):
    the deals a question may name although the asker may not see them."""
    candidates = sorted({w for w in words if len(w) >= 3 and w.isascii()})[:8]
    if not candidates:
        return {}
    rows = db.execute(
        select(Deal.id, Deal.name)
        .where(*open_deals_of(person.organization_id, None), or_(*_name_has(candidates)))
        .limit(200)
    ).all()
    return {deal_id: deal_name for deal_id, deal_name in rows if deal_id not in visible}


def _name_has(words: list[str]) -> list[ColumnElement[bool]]:
    """LIKE clauses: a deal name containing one of `words`, as typed or with accents ("cafe" finds Café)."""
    clauses: list[ColumnElement[bool]] = []
    for w in words:
        clauses.append(func.lower(Deal.name).like(f"%{w}%"))
        if len(w) >= 4 and like_any_accent(w) != f"%{w}%":
            clauses.append(func.lower(Deal.name).like(like_any_accent(w)))
    return clauses


def closed_names(db: Session, person: Person, words: list[str]) -> dict[int, str]:
    """Closed deals the asker may see whose names contain one of `words` (3+ letters), newest first."""
    candidates = sorted({w for w in words if len(w) >= 3 and w.isascii()})[:8]
    if not candidates:
        return {}
    owners = visible_owner_ids(db, person)
    clauses = [
        Deal.organization_id == person.organization_id,
        Deal.status != DealStatus.OPEN,
        or_(*_name_has(candidates)),
    ]
    if owners is not None:
        clauses.append(Deal.owner_id.in_(owners))
    rows = db.execute(
        select(Deal.id, Deal.name).where(*clauses).order_by(Deal.closed_at.desc()).limit(200)
    ).all()
    return {deal_id: deal_name for deal_id, deal_name in rows}


def closed_deal_named(db: Session, person: Person, name: str) -> Deal | None:
    """The one closed deal the asker may see whose name is `name` (ignoring case and punctuation) or whose
    first words it is ("hooli" for Hooli Express), most recently closed first; None when there is none."""
    wanted = fold(name)
    if len(wanted) < 3:
        return None
    owners = visible_owner_ids(db, person)
    clauses = [
        Deal.organization_id == person.organization_id,
        Deal.status != DealStatus.OPEN,
        func.lower(Deal.name).like(like_any_accent(wanted)),
    ]
    if owners is not None:
        clauses.append(Deal.owner_id.in_(owners))
    rows = db.scalars(select(Deal).where(*clauses).order_by(Deal.closed_at.desc(), Deal.name).limit(50)).all()
    exact = [d for d in rows if fold(d.name) == wanted]
    if exact:
        return exact[0]
    heads = [d for d in rows if fold(d.name).startswith(wanted + " ")]
    return heads[0] if len(heads) == 1 else None


def open_deals_of(organization_id: int, owners: set[int] | None) -> list[ColumnElement[bool]]:
    """WHERE clauses: open deals of the workspace, of `owners` only unless None (everyone)."""
    clauses = [Deal.organization_id == organization_id, Deal.status == DealStatus.OPEN]
    if owners is not None:
        clauses.append(Deal.owner_id.in_(owners))
    return clauses


@cache
def _same_name_statements() -> tuple[Select[Deal], Select[Deal]]:
    """(everyone's, some owners') open deals whose lower-cased name is LIKE a pattern, by name: built once,
    so each call only binds its values (the compiled form is cached by SQLAlchemy on the statement)."""
    everyone = (
        select(Deal)
        .where(
            Deal.organization_id == bindparam("organization"),
            Deal.status == DealStatus.OPEN,
            func.lower(Deal.name).like(bindparam("pattern")),
        )
        .order_by(Deal.name)
    )
    return everyone, everyone.where(Deal.owner_id.in_(bindparam("owners", expanding=True)))


def _same_name(db: Session, organization_id: int, wanted: str, owners: set[int] | None) -> list[Deal]:
    """Open deals whose name, folded like `wanted` (bot.text.fold: no case, punctuation or accents), equals
    it; by name.

    SQL narrows with LIKE: each ASCII consonant or digit of `wanted` must appear lower-cased in place, any
    other position (a space from punctuation, a letter that may carry an accent in the stored name)
    matches any one character; Python then checks the candidates exactly."""
    everyone, of_owners = _same_name_statements()
    values: dict[str, Any] = {"organization": organization_id, "pattern": like_any_accent(wanted)}
    if owners is not None:
        values["owners"] = sorted(owners)
    rows = db.scalars(everyone if owners is None else of_owners, values).all()
    return [d for d in rows if fold(d.name) == wanted]


@cache
def _named_with_confirmed_statements(dialect: str) -> tuple[Select[Deal, str], Select[Deal, str]]:
    """(for everyone's deals, for the deals a person may see) the open deals whose lower-cased name is LIKE
    a pattern, each with the exit criteria confirmed at its current stage (one row per confirmed criterion,
    or one row with None): the hot "what's next for <name>" read in one statement, built once per dialect.

    Who may be seen is the person and everyone below them in the reporting tree (`visible_owner_ids`),
    worked out in the same statement (`_team_of_me`, which team_ids runs alone). On
    PostgreSQL the owners are compared as `= ANY(ARRAY(...))`, computed once, so the deals are read through
    their (organization, owner, status) index; an `IN (SELECT ...)` there is planned as a scan of every
    deal of the organization. SQLite reads `IN (SELECT ...)` through that index as it is."""
    base = (
        select(Deal, CriterionStatus.criterion_id)
        .outerjoin(
            CriterionStatus,
            and_(
                CriterionStatus.deal_id == Deal.id,
                CriterionStatus.stage_id == Deal.stage_id,
                CriterionStatus.confirmed.is_(True),
            ),
        )
        .where(
            Deal.organization_id == bindparam("organization"),
            Deal.status == DealStatus.OPEN,
            func.lower(Deal.name).like(bindparam("pattern")),
        )
        .order_by(Deal.name, Deal.id)
    )
    owners = _team_of_me()
    if dialect == "postgresql":
        return base, base.where(Deal.owner_id == any_(func.array(owners.scalar_subquery())))
    return base, base.where(Deal.owner_id.in_(owners))


def visible_deal_named(db: Session, person: Person, wanted: str) -> tuple[Deal, set[str]] | None:
    """The one open deal `person` may see whose folded name is `wanted` (bot.text.fold), with the ids of the
    exit criteria confirmed at its stage; None when there is no such deal or several. One statement: the
    same deals as `_same_name` over `visible_owner_ids`, and the same criteria as `confirmed_criteria`."""
    everyone, visible = _named_with_confirmed_statements(db.get_bind().dialect.name)
    values: dict[str, Any] = {"organization": person.organization_id, "pattern": like_any_accent(wanted)}
    if person.role != Role.ENABLEMENT:
        values["me"] = person.id
    found: dict[int, tuple[Deal, set[str]]] = {}
    for deal, criterion_id in db.execute(everyone if "me" not in values else visible, values):
        if fold(deal.name) != wanted:
            continue
        entry = found.setdefault(deal.id, (deal, set()))
        if criterion_id is not None:
            entry[1].add(criterion_id)
    return next(iter(found.values())) if len(found) == 1 else None


def _visible_names(db: Session, organization_id: int, owners: set[int] | None) -> dict[int, str]:
    """Deal id -> name of the open deals `owners` have, in name order (ties in scoring keep that order)."""
    rows = db.execute(
        select(Deal.id, Deal.name).where(*open_deals_of(organization_id, owners)).order_by(Deal.name)
    ).all()
    return {deal_id: deal_name for deal_id, deal_name in rows}


def _deals_by_id(db: Session, ids: list[int]) -> list[Deal]:
    """The deals with these ids, in the order given."""
    found = {d.id: d for d in db.scalars(select(Deal).where(Deal.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def _name_score(wanted: str, name: str, **_: object) -> float:
    """How well typed words fit a deal name: whole-name similarity, a close fit to its first words
    ("acmee" is a typo of "acme", the start of "acme corp"), or words all found in it ("express" for
    Hooli Express). Extra typed words count against a name: "acme rockets" does not fit "acme"."""
    typed = wanted.split()
    words = name.split()
    head = " ".join(words[: len(typed)])
    score = max(fuzz.ratio(wanted, name), fuzz.ratio(wanted, head) if len(typed) < len(words) else 0.0)
    if typed and set(typed) <= set(words):
        score = max(score, 90.0)
    return score


def can_see(db: Session, person: Person, deal: Deal) -> bool:
    if deal.organization_id != person.organization_id:
        return False
    owners = visible_owner_ids(db, person)
    return owners is None or deal.owner_id in owners


def deal_playbook_stage(turn: Turn, deal: Deal) -> tuple[Playbook, Stage] | None:
    """The playbook and stage a deal is at, or None if a playbook edit removed them."""
    playbook = turn.ctx.playbooks.get(deal.playbook_id)
    stage = playbook.stage(deal.stage_id) if playbook else None
    return (playbook, stage) if playbook and stage else None


@dataclass(frozen=True)
class WeeklyGroup:
    """Active managers sharing a time zone and a weekly slot that has come: `who` selects them in SQL."""

    week: str  # ISO week of the slot, e.g. "2026-W48": part of each message's idempotency key
    local_date: date  # today in their time zone
    who: ColumnElement[bool]


def weekly_due_groups(
    db: Session, now, *, kind: str, weekday: int, at: str, grace, role: Role = Role.MANAGER
) -> list[WeeklyGroup]:
    """The groups of active managers whose weekly `kind` slot, in their own time zone, has come within
    `grace`. A manager's preferences `<kind>_weekday` and `<kind>_time` override the default.

    Managers are grouped by (time zone, those two preferences) in SQL and each group's slot is worked out
    once, so a tick over 10k managers costs one small query and a condition per group, not a step per
    manager (the condition compares the same JSON expressions it grouped by, on PostgreSQL and SQLite).
    """
    from bot.localtime import parse_hhmm, weekly_slot, zone

    day_pref = Person.preferences[f"{kind}_weekday"].as_string()
    time_pref = Person.preferences[f"{kind}_time"].as_string()
    managers = and_(Person.role == role, Person.active.is_(True))  # (or enablement, for their digest)
    groups = db.execute(
        select(Person.timezone, day_pref, time_pref)
        .where(managers)
        .group_by(Person.timezone, day_pref, time_pref)
    ).all()
    due = []
    for tz_name, day_value, time_value in groups:
        tz = zone(tz_name)
        day = int(day_value) if day_value is not None else weekday
        week, slot = weekly_slot(tz, day, parse_hhmm(time_value or at), now)
        if slot <= now < slot + grace:
            who = and_(
                managers,
                Person.timezone == tz_name,
                day_pref.is_not_distinct_from(day_value),
                time_pref.is_not_distinct_from(time_value),
            )
            due.append(WeeklyGroup(week, now.astimezone(tz).date(), who))
    return due


MAX_ID = 2**31 - 1  # the largest INTEGER (PostgreSQL's int4) a database id or stored number can be


def not_paused(local_date: date, key: str = "paused_until"):
    """WHERE clause: people who have not paused these messages past `local_date` (`key` in their preferences:
    "paused_until" for nudges and digests, "quiz_paused_until" for knowledge checks; ISO dates compare as
    text)."""
    paused = Person.preferences[key].as_string()
    return or_(paused.is_(None), paused == "", paused <= local_date.isoformat())


def small_number(text: str) -> int | None:
    """A record id or small count from a button or form value (untrusted: values can be forged): ASCII
    digits in 0..MAX_ID, else None, so a 40-digit value reads as "no such record" instead of failing."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    number = int(text)
    return number if number <= MAX_ID else None
