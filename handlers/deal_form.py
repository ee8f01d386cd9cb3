"""`new deal` said without a name: ask for it (a form in every channel) instead of searching for "deal"."""

from __future__ import annotations

import secrets

from bot.messages import Form, FormField, Reply
from handlers.common import Turn
from handlers.deals import lifecycle as deal_lifecycle
from handlers.forms import send_back


def deal_form(nonce: str) -> Form:
    return Form(
        title="New deal",
        submit_label="Add deal",
        action="deal.create",
        value=nonce,
        fields=(
            FormField("name", "Deal name", "text", optional=False, max_length=200, placeholder="Acme Corp"),
            FormField(
                "stage", "Stage (leave empty for the first)", "text", max_length=100, placeholder="discovery"
            ),
        ),
    )


def ask(turn: Turn) -> Reply:
    return turn.render("replies/deals.j2#new_deal_form", form=deal_form(secrets.token_hex(6)))


def submitted(turn: Turn, nonce: str) -> Reply:
    answers = turn.request.form or {}
    name = " ".join(str(answers.get("name") or "").split())
    stage = " ".join(str(answers.get("stage") or "").split()).strip("-").strip()
    if not name:
        return send_back(turn, deal_form(nonce), {"name": "This one is needed."})
    return deal_lifecycle.create(turn, name, stage or None)
