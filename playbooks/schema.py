"""The playbook file format (see ../shared/CONTRACT.md): what enablement may write, and what it means."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def _slug(value: str) -> str:
    if not SLUG.match(value):
        suggestion = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-") or "my-id"
        raise ValueError(f"id '{value}' must be lower-case letters, digits and dashes, like '{suggestion}'")
    return value


def _url(value: str) -> str:
    if not re.match(r"^https?://\S+$", value):
        raise ValueError(f"url '{value}' must start with http:// or https:// and contain no spaces")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Slug = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64), AfterValidator(_slug)
]
Url = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExitCriterion(_Strict):
    """A verifiable buyer outcome that shows the stage is done; confirmed per deal and per buyer."""

    id: Slug
    text: Text


class ContentItem(_Strict):
    title: Text
    url: Url
    when: str = ""
    aliases: list[Text] = []  # other words people use for it ("one-pager", "battlecard")


class TalkTrack(_Strict):
    title: Text
    text: Text
    aliases: list[Text] = []


class Objection(_Strict):
    objection: Text
    response: Text
    aliases: list[Text] = []  # how buyers say it ("too expensive", "no budget this year")


class Stage(_Strict):
    """One stage of the buyer's journey: what the buyer does, what the rep does, and the exit gate."""

    id: Slug
    name: Text
    aliases: list[Text] = []  # other names people use for the stage ("negotiations", "closing")
    summary: str = ""
    objectives: list[Text] = []
    tasks: list[Text] = []
    exit_criteria: list[ExitCriterion] = Field(min_length=1)
    questions: list[Text] = []
    coaching_questions: list[Text] = []
    buyer_roles: list[Text] = []
    talk_tracks: list[TalkTrack] = []
    objections: list[Objection] = []
    content: list[ContentItem] = []
    # CRM stage values that mean this stage: Salesforce StageName values, HubSpot deal stage ids or labels
    crm_stages: list[Text] = []

    def criterion(self, criterion_id: str) -> ExitCriterion | None:
        return next((c for c in self.exit_criteria if c.id == criterion_id), None)


class Playbook(_Strict):
    """A sales playbook: ordered stages a deal moves forward through."""

    id: Slug
    name: Text
    description: str = ""
    stages: list[Stage] = Field(min_length=1)
    # The CRM pipeline (HubSpot pipeline id or label) or record type (Salesforce Opportunity record type
    # name) whose deals this playbook serves; empty serves deals of any pipeline no other playbook names.
    crm_pipeline: str = ""
    source: str = Field(default="", exclude=True)  # file it came from, set by the loader

    def stage(self, stage_id: str) -> Stage | None:
        return next((s for s in self.stages if s.id == stage_id), None)

    def next_stage(self, stage_id: str) -> Stage | None:
        ids = [s.id for s in self.stages]
        position = ids.index(stage_id) if stage_id in ids else -1
        return self.stages[position + 1] if 0 <= position < len(ids) - 1 else None

    def position(self, stage_id: str) -> int:
        """1-based position of a stage, for "stage 2 of 7"."""
        return [s.id for s in self.stages].index(stage_id) + 1
