"""Demo data for the embedded default: a small team with deals, loaded on first run of `chat`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.confirmations import record
from bot.importers.deals import import_deals
from bot.importers.people import import_people
from bot.quizfile import import_quizzes
from bot.settings import BUNDLED_PLAYBOOKS_DIR
from playbooks.loader import PlaybookLibrary
from storage.models import Deal, Person
from storage.people import person_by_email

DEMO_DIR = Path(__file__).resolve().parent
STARTER_QUIZZES = BUNDLED_PLAYBOOKS_DIR / "quizzes" / "starter.yaml"
DEMO_REP = "rep@example.com"


def load_if_empty(db: Session, organization_id: int, library: PlaybookLibrary, now: datetime) -> bool:
    """Load the demo people and deals into an empty organization; returns whether it did.

    `now` is the app's clock: the demo's stage dates and its one confirmation are stamped with it, so the
    data is as fresh on any date (and consistent with a frozen clock in tests).
    """
    if db.scalar(select(Person.id).where(Person.organization_id == organization_id).limit(1)) is not None:
        return False
    import_people(db, organization_id, DEMO_DIR / "people.csv")
    if all(library.get(pid) for pid in ("enterprise", "transactional")):
        import_deals(db, organization_id, DEMO_DIR / "deals.csv", library, now=now)
        _confirm_one(db, organization_id, library, now)
        import_quizzes(db, organization_id, STARTER_QUIZZES, library, now, drop_unknown_links=True)
    return True


def _confirm_one(db: Session, organization_id: int, library: PlaybookLibrary, now: datetime) -> None:
    """One confirmed criterion on Acme, so "what's next for Acme?" shows what is still open."""
    deal = db.scalar(select(Deal).where(Deal.organization_id == organization_id, Deal.crm_id == "DEMO-001"))
    playbook = library.get("enterprise")
    stage = playbook.stage("discovery") if playbook else None
    criterion = stage.criterion("pain-confirmed") if stage else None
    rep = person_by_email(db, organization_id, DEMO_REP)
    if deal is None or criterion is None or rep is None:
        return
    record(
        db,
        {
            "organization_id": organization_id,
            "deal_id": deal.id,
            "playbook_id": "enterprise",
            "stage_id": "discovery",
            "criterion_id": criterion.id,
            "criterion_text": criterion.text,
            "confirmed": True,
            "actor_id": rep.id,
            "buyer_name": "Dana Lee",
            "buyer_role": "VP Operations",
            "evidence": "Discovery call notes: late shipments cost about $40k a month",
            "created_at": now,
        },
    )
