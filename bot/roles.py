"""Who may use which command: one declaration per route or button, checked by the router before the handler.

Someone whose role may not use a command gets one sentence saying what it is for, who can do it, and
(when there is one) the person to ask, instead of a half-working answer for a team they don't have (its
wording: `not_for_your_role` in handlers/templates/replies/refusals.j2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.models import Person, Role

MANAGERS = frozenset({Role.MANAGER})
DIGEST_READERS = frozenset({Role.MANAGER, Role.ENABLEMENT})  # weekly digests go to both
ENABLEMENT = frozenset({Role.ENABLEMENT})
ROLE_NAMES = {Role.MANAGER: "managers", Role.ENABLEMENT: "enablement", Role.REP: "reps"}


@dataclass(frozen=True)
class Allowed:
    """Roles that may use a command, and what using it is called ("Setting a coaching cadence")."""

    roles: frozenset[Role]
    doing: str

    def refusal(self, person: Person) -> dict[str, Any] | None:
        """None when `person` may; else what the refusal says: what it is for, who can, and whom to ask."""
        if person.role in self.roles:
            return None
        if Role.MANAGER in self.roles and person.role == Role.REP:  # (the sentence says who; and whom to ask)
            ask: str | None = "manager"
        elif self.roles == ENABLEMENT:
            ask = "enablement"
        else:
            ask = None
        return {
            "doing": self.doing,
            "who": [name for role, name in ROLE_NAMES.items() if role in self.roles],
            "ask": ask,
            "boss": person.manager if ask == "manager" else None,
        }


# route or button action -> who may use it
ROUTES: dict[str, Allowed] = {
    "due": Allowed(MANAGERS, "Seeing who is due for coaching"),
    "cadence": Allowed(MANAGERS, "Setting a coaching cadence"),
    "pause": Allowed(DIGEST_READERS, "Pausing coaching nudges and weekly digests"),
    "resume": Allowed(DIGEST_READERS, "Resuming coaching nudges and weekly digests"),
    "log-coaching": Allowed(MANAGERS, "Logging coaching"),
    "coached": Allowed(MANAGERS, "Logging coaching"),
    "team-add": Allowed(MANAGERS, "Adding people to a team"),
    "team-remove": Allowed(MANAGERS, "Removing people from a team"),
    "summary-channel": Allowed(DIGEST_READERS, "Posting the weekly summary to a channel"),
    "summary-channel-stop": Allowed(DIGEST_READERS, "Posting the weekly summary to a channel"),
    "quiz-new": Allowed(ENABLEMENT, "Writing quiz questions"),
    "quiz-post": Allowed(ENABLEMENT, "Posting a quiz to a channel"),
    "quiz-review": Allowed(ENABLEMENT, "Reviewing quiz questions whose playbook section changed"),
    "quiz-reviewed": Allowed(ENABLEMENT, "Reviewing quiz questions whose playbook section changed"),
}
CLICKS: dict[str, Allowed] = {
    "coaching.form": ROUTES["log-coaching"],
    "coaching.log": ROUTES["log-coaching"],
    "coaching.snooze": Allowed(MANAGERS, "Snoozing coaching nudges"),
    "quiz.create": ROUTES["quiz-new"],
    "quiz.reviewed": ROUTES["quiz-reviewed"],
}


def refusal(person: Person, *, route: str | None = None, click: str | None = None) -> dict[str, Any] | None:
    """What refusing `person` this route or button says (the values of refusals.j2's `not_for_your_role`),
    or None when they may use it."""
    allowed = ROUTES.get(route or "") if route is not None else CLICKS.get(click or "")
    return allowed.refusal(person) if allowed else None
