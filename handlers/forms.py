"""What every form handler shares: sending a submission back to be fixed, and fuzzy deal fields.

A failed submission keeps the answers and says which field to fix, the same way in every channel: the
reply carries the form again, filled in, with an error per field (Slack answers the view_submission
with `response_action: errors`; Teams shows the card again with the answers in it; the terminal asks
the wrong questions again and keeps the others).
"""

from __future__ import annotations

from bot.messages import Form, Reply
from handlers.common import Turn, find_deal
from storage.models import Deal, Person


def send_back(turn: Turn, form: Form, errors: dict[str, str]) -> Reply:
    """The form again, with the answers of this submission and what to fix; nothing was recorded."""
    labels = {f.id: f.label for f in form.fields}
    problems = " ".join(f"{labels.get(k, k)}: {v}" for k, v in errors.items())
    return turn.render(
        "replies/common.j2#form_sent_back",
        kind="error",
        form=form.again(turn.request.form, errors),
        problems=problems,
    )


def deal_field(turn: Turn, owner: Person, words: str) -> Deal | str:
    """The deal a form's deal field names among `owner`'s open deals, with the project's fuzzy matcher
    ("Acme" finds "Acme Corp"); else what to write in the field's error (a choice when ambiguous)."""
    found = find_deal(turn.db, owner, words)
    if found.deal is not None and found.deal.owner_id == owner.id:
        return found.deal
    own = [d for d in found.candidates if d.owner_id == owner.id]
    if own:
        names = " or ".join(f'"{d.name}"' for d in own[:5])
        return f'"{words}" could be {names}: write the one you mean.'
    return f'{owner.name} has no open deal called "{words}". Check the name, or leave it empty.'
