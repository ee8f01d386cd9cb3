"""Exit-criteria confirmations: a deal's checklist for its current stage, confirming (with buyer and
evidence) and un-confirming (with a reason).

Every confirmation is an append-only event; a criterion's state is its latest event. Each form carries a
nonce, and each event's idempotency key includes it, so a double click or a retried delivery of the
same submission records nothing twice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.confirmations import record
from bot.messages import Button, Form, FormField, Reply
from handlers.common import Turn, deal_playbook_stage
from handlers.deals.cards import deal_by_id, resolve_deal
from playbooks.schema import Playbook, Stage
from storage.models import CriterionEvent, CriterionStatus, Deal

MAX_EVIDENCE = 1000
MAX_REASON = 500
MAX_BUYER = 200


@dataclass(frozen=True)
class CriterionState:
    id: str
    text: str
    confirmed: bool
    buyer_name: str | None = None
    buyer_role: str | None = None
    evidence: str | None = None
    reason: str | None = None
    at: datetime | None = None


def states(turn: Turn, deal: Deal, stage: Stage) -> list[CriterionState]:
    """Each criterion of the stage with its latest event (events of removed criteria stay in the table)."""
    events = turn.db.scalars(
        select(CriterionEvent)
        .join(CriterionStatus, CriterionStatus.event_id == CriterionEvent.id)
        .where(CriterionStatus.deal_id == deal.id, CriterionStatus.stage_id == stage.id)
    ).all()
    latest = {e.criterion_id: e for e in events}
    out = []
    for criterion in stage.exit_criteria:
        event = latest.get(criterion.id)
        if event is None:
            out.append(CriterionState(criterion.id, criterion.text, False))
        else:
            out.append(
                CriterionState(
                    criterion.id,
                    criterion.text,
                    event.confirmed,
                    event.buyer_name,
                    event.buyer_role,
                    event.evidence,
                    event.reason,
                    event.created_at,
                )
            )
    return out


def checklist(turn: Turn, words: str) -> Reply:
    """ "confirm Acme": the current stage's exit criteria for the deal, with who confirmed what."""
    deal = resolve_deal(turn, words, action="criteria.show")
    return deal if isinstance(deal, Reply) else _checklist(turn, deal)


def show_clicked(turn: Turn, value: str) -> Reply:
    deal = deal_by_id(turn, value)
    return deal if isinstance(deal, Reply) else _checklist(turn, deal)


def _checklist(turn: Turn, deal: Deal, recorded: int | None = None, confirmed: bool = True) -> Reply:
    """The deal's checklist at its stage; after a form, `recorded` says how many criteria it changed."""
    found = deal_playbook_stage(turn, deal)
    if found is None:
        return turn.render("replies/criteria.j2#stage_gone", kind="error", deal=deal)
    _, stage = found
    items = states(turn, deal, stage)
    buttons = []
    if any(not s.confirmed for s in items):
        buttons.append(Button("Confirm criteria", "criteria.form", str(deal.id), style="primary"))
    else:
        buttons.append(Button("Add a buyer's confirmation", "criteria.form", str(deal.id)))
    if any(s.confirmed for s in items):
        buttons.append(Button("Un-confirm", "criteria.revoke-form", str(deal.id)))
    return turn.render(
        "criteria.j2",
        buttons=tuple(buttons),
        deal=deal,
        stage=stage,
        items=items,
        recorded=recorded,
        confirmed=confirmed,
    )


def _locate(turn: Turn, deal_id: str) -> tuple[Deal, Playbook, Stage] | Reply:
    """The deal a button or form names, with its playbook and current stage, or why not."""
    deal = deal_by_id(turn, deal_id)
    if isinstance(deal, Reply):
        return deal
    found = deal_playbook_stage(turn, deal)
    if found is None:
        return turn.render("replies/criteria.j2#stage_gone", kind="error", deal=deal)
    return deal, found[0], found[1]


def confirm_form(turn: Turn, value: str) -> Reply:
    located = _locate(turn, value)
    if isinstance(located, Reply):
        return located
    deal, _, stage = located
    items = states(turn, deal, stage)
    open_items = [
        s for s in items if not s.confirmed
    ] or items  # all confirmed: another buyer may confirm too
    form = Form(
        title="Confirm exit criteria",
        submit_label="Confirm",
        action="criteria.confirm",
        value=f"{deal.id}:{stage.id}:{secrets.token_hex(6)}",
        fields=(
            FormField(
                "criteria",
                "Which criteria has the buyer confirmed?",
                "checkboxes",
                options=tuple((s.id, s.text) for s in open_items),
                optional=False,
            ),
            FormField(
                "buyer_name",
                "Buyer who confirmed (name)",
                "text",
                max_length=MAX_BUYER,
                placeholder="Dana Lee",
            ),
            FormField("buyer_role", "Their role", "text", max_length=MAX_BUYER, placeholder="VP Operations"),
            FormField(
                "evidence",
                "Evidence (a note or a link)",
                "text",
                multiline=True,
                max_length=MAX_EVIDENCE,
                placeholder="Call notes, email, document link",
            ),
        ),
    )
    return turn.render("criteria_form.j2", form=form, deal=deal, stage=stage, revoking=False)


def revoke_form(turn: Turn, value: str) -> Reply:
    located = _locate(turn, value)
    if isinstance(located, Reply):
        return located
    deal, _, stage = located
    confirmed = [s for s in states(turn, deal, stage) if s.confirmed]
    if not confirmed:
        return turn.render("replies/criteria.j2#nothing_confirmed", kind="error", deal=deal, stage=stage)
    form = Form(
        title="Un-confirm criteria",
        submit_label="Un-confirm",
        action="criteria.revoke",
        value=f"{deal.id}:{stage.id}:{secrets.token_hex(6)}",
        fields=(
            FormField(
                "criteria",
                "Which criteria are no longer confirmed?",
                "checkboxes",
                options=tuple((s.id, s.text) for s in confirmed),
                optional=False,
            ),
            FormField(
                "reason",
                "Why?",
                "text",
                multiline=True,
                max_length=MAX_REASON,
                optional=False,
                placeholder="The new CFO wants to revisit the business case",
            ),
        ),
    )
    return turn.render("criteria_form.j2", form=form, deal=deal, stage=stage, revoking=True)


def confirm_submitted(turn: Turn, value: str) -> Reply:
    return _record(turn, value, confirmed=True)


def revoke_submitted(turn: Turn, value: str) -> Reply:
    return _record(turn, value, confirmed=False)


def _record(turn: Turn, value: str, *, confirmed: bool) -> Reply:
    deal_id, stage_id, nonce = (value.split(":") + ["", "", ""])[:3]
    located = _locate(turn, deal_id)
    if isinstance(located, Reply):
        return located
    deal, playbook, stage = located
    if stage.id != stage_id:
        return turn.render("replies/criteria.j2#deal_moved_since", kind="error", deal=deal, stage=stage)
    answers = turn.request.form or {}
    chosen = _as_list(answers.get("criteria"))
    problem = _problem(playbook, stage, chosen, answers, confirmed)
    if problem:
        field = _field_of(problem)
        again = (confirm_form if confirmed else revoke_form)(turn, str(deal.id)).form
        if field is not None and again is not None and field in {f.id for f in again.fields}:
            from dataclasses import replace

            from handlers.forms import send_back

            return send_back(turn, replace(again, value=value), {field: problem})
        return turn.render("replies/criteria.j2#nothing_recorded", kind="error", problem=problem)
    recorded = 0
    written: list[dict[str, Any]] = []
    for criterion_id in chosen:
        criterion = stage.criterion(criterion_id)
        event = {
            "organization_id": deal.organization_id,
            "deal_id": deal.id,
            "playbook_id": playbook.id,
            "stage_id": stage.id,
            "criterion_id": criterion_id,
            "criterion_text": criterion.text if criterion else "",
            "confirmed": confirmed,
            "actor_id": turn.person.id,
            "buyer_name": _text(answers.get("buyer_name")) if confirmed else None,
            "buyer_role": _text(answers.get("buyer_role")) if confirmed else None,
            "evidence": _text(answers.get("evidence")) if confirmed else None,
            "reason": None if confirmed else _text(answers.get("reason")),
            "idempotency_key": f"criterion:{deal.id}:{stage.id}:{criterion_id}:{int(confirmed)}:{nonce}",
            "created_at": turn.now(),
        }
        if record(turn.db, event):
            recorded += 1
            written.append(event)
    if confirmed and written:
        from handlers.crm.writeback import queue_confirmations

        queue_confirmations(turn.db, deal, written, turn.now())  # only when the organization writes back
    return _checklist(turn, deal, recorded=recorded, confirmed=confirmed)


def _problem(
    playbook: Playbook, stage: Stage, chosen: list[str], answers: dict, confirmed: bool
) -> str | None:
    if not chosen:
        return "pick at least one criterion."
    unknown = [c for c in chosen if stage.criterion(c) is None]
    if unknown:
        return f"'{unknown[0]}' is not an exit criterion of {stage.name} in {playbook.name} (the playbook may have changed)."
    limits = (
        ("evidence", MAX_EVIDENCE),
        ("buyer_name", MAX_BUYER),
        ("buyer_role", MAX_BUYER),
        ("reason", MAX_REASON),
    )
    for field, limit in limits:
        text = _text(answers.get(field)) or ""
        if len(text) > limit:
            return f"{field.replace('_', ' ')} is limited to {limit} characters and yours has {len(text)}; shorten it or link a document."
    if not confirmed and not _text(answers.get("reason")):
        return "say why the criteria are no longer confirmed."
    return None


def _field_of(problem: str) -> str | None:
    """Which form field a problem of `_problem` is about (so the form comes back with that field marked)."""
    if problem.startswith(("pick at least", "'")):
        return "criteria"
    for field in ("evidence", "buyer_name", "buyer_role", "reason"):
        if problem.startswith(field.replace("_", " ")):
            return field
    return "reason" if problem.startswith("say why") else None


def _as_list(value: str | list[str] | None) -> list[str]:
    """Checkbox answers: a list (Slack, terminal) or comma-separated text (Teams multi-select)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else value.split(",")
    return list(dict.fromkeys(i.strip() for i in items if i and i.strip()))


def _text(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        value = ", ".join(value)
    value = (value or "").strip()
    return value if value and value != "-" else None  # a lone "-" is how people say "nothing here"
