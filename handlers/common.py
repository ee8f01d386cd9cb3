"""What several handlers share: the per-message Turn, visibility rules and deal lookup by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rapidfuzz import fuzz, process, utils
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.messages import Button, Form, Reply, Request
from bot.models import CriterionEvent, Deal, DealStatus, Person, Role, Workspace
from playbooks.schema import Playbook, Stage


@dataclass
class Turn:
    """One incoming message or click, with the services to answer it (one database session per turn)."""

    ctx: AppContext
    db: Session
    request: Request
    person: Person
    workspace: Workspace

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

    def now(self):  # type: ignore[no-untyped-def]
        return self.ctx.clock()


def team_ids(db: Session, manager: Person) -> set[int]:
    """Ids of everyone below `manager` in the reporting tree (managers of managers see it all)."""
    found: set[int] = set()
    frontier = {manager.id}
    while frontier:
        rows = db.scalars(
            select(Person.id).where(
                Person.workspace_id == manager.workspace_id, Person.manager_id.in_(frontier)
            )
        ).all()
        frontier = set(rows) - found - {manager.id}
        found |= frontier
    return found


def visible_owner_ids(db: Session, person: Person) -> set[int] | None:
    """Whose deals `person` may see: None means everyone in the workspace (enablement)."""
    if person.role == Role.ENABLEMENT:
        return None
    return {person.id} | team_ids(db, person)


def visible_deals(db: Session, person: Person, *, open_only: bool = True) -> list[Deal]:
    query = select(Deal).where(Deal.workspace_id == person.workspace_id)
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


def find_deal(db: Session, person: Person, name: str) -> DealMatch:
    """Find a visible open deal by name: case-insensitive, typo-tolerant; ties become a choice."""
    wanted = utils.default_process(name)
    if not wanted:
        return DealMatch()
    deals = visible_deals(db, person)
    exact = [d for d in deals if utils.default_process(d.name) == wanted]
    if len(exact) == 1:
        return DealMatch(deal=exact[0])
    if len(exact) > 1:
        return DealMatch(candidates=tuple(exact))
    by_id = {d.id: d for d in deals}
    scored = process.extract(
        wanted,
        {d.id: d.name for d in deals},
        scorer=_name_score,
        processor=utils.default_process,
        score_cutoff=75,
        limit=6,
    )
    if scored:
        best = scored[0][1]
        close = [by_id[key] for _, score, key in scored if score >= best - 5]
        if len(close) == 1 and best >= 85:
            return DealMatch(deal=close[0])
        if len(close) > 1 or best < 85:
            return DealMatch(candidates=tuple(close))
    hidden = _exists_elsewhere(db, person, wanted)
    return DealMatch(hidden=hidden)


def _name_score(wanted: str, name: str, **_: object) -> float:
    """How well typed words fit a deal name: whole-name similarity, or a close fit to its first words
    ("acmee" is a typo of "acme", the start of "acme corp")."""
    head = " ".join(name.split()[: len(wanted.split())])
    return max(fuzz.WRatio(wanted, name), fuzz.ratio(wanted, head))


def _exists_elsewhere(db: Session, person: Person, wanted: str) -> bool:
    names = db.scalars(
        select(Deal.name).where(Deal.workspace_id == person.workspace_id, Deal.status == DealStatus.OPEN)
    ).all()
    return any(utils.default_process(n) == wanted for n in names)


def can_see(db: Session, person: Person, deal: Deal) -> bool:
    if deal.workspace_id != person.workspace_id:
        return False
    owners = visible_owner_ids(db, person)
    return owners is None or deal.owner_id in owners


def confirmed_criteria(db: Session, deal: Deal, stage_id: str | None = None) -> set[str]:
    """Criterion ids of the deal's stage whose latest event is a confirmation (state derived from events)."""
    stage_id = stage_id or deal.stage_id
    rows = db.execute(
        select(CriterionEvent.criterion_id, CriterionEvent.confirmed)
        .where(CriterionEvent.deal_id == deal.id, CriterionEvent.stage_id == stage_id)
        .order_by(CriterionEvent.created_at, CriterionEvent.id)
    ).all()
    state: dict[str, bool] = {}
    for criterion_id, confirmed in rows:
        state[criterion_id] = confirmed
    return {c for c, ok in state.items() if ok}


def deal_playbook_stage(turn: Turn, deal: Deal) -> tuple[Playbook, Stage] | None:
    """The playbook and stage a deal is at, or None if a playbook edit removed them."""
    playbook = turn.ctx.playbooks.get(deal.playbook_id)
    stage = playbook.stage(deal.stage_id) if playbook else None
    return (playbook, stage) if playbook and stage else None


def weekly_due(db: Session, now, *, kind: str, weekday: int, at: str, grace):  # type: ignore[no-untyped-def]
    """(manager, ISO week) for each active manager whose weekly `kind` slot, in their own time zone, has
    come within `grace`. A manager's preferences `<kind>_weekday` and `<kind>_time` override the default.
    """
    from bot.localtime import parse_hhmm, weekly_slot, zone

    managers = db.scalars(
        select(Person).where(Person.role == Role.MANAGER, Person.active.is_(True)).order_by(Person.id)
    ).all()
    for manager in managers:
        prefs = manager.preferences or {}
        week, slot = weekly_slot(
            zone(manager.timezone),
            int(prefs.get(f"{kind}_weekday", weekday)),
            parse_hhmm(prefs.get(f"{kind}_time", at)),
            now,
        )
        if slot <= now < slot + grace:
            yield manager, week
