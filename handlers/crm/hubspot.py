"""HubSpot deals through hubspot-api-client (a private app's access token).

Deals are read incrementally through the CRM search API, sorted by `hs_lastmodifieddate` and filtered on
it from the stored cursor. The search API serves at most 10,000 results per query, so past that the
search starts again from the newest modification date read (the cursor moves; upserts are idempotent, so
records read twice change nothing). Owners come from the owners API (their emails match people). A 429
waits as long as HubSpot asks (Retry-After, else the rate-limit interval) and retries; 5xx back off.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any, TypeVar

import urllib3.exceptions
from hubspot import HubSpot
from hubspot.crm.deals import (
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectId,
)

from bot.settings import Settings
from handlers.crm.mapping import BadRecord, CrmDeal, CrmError

T = TypeVar("T")
PROPERTIES = [
    "dealname",
    "dealstage",
    "pipeline",
    "amount",
    "closedate",
    "hubspot_owner_id",
    "hs_is_closed_won",
    "hs_is_closed",
    "hs_lastmodifieddate",
]
PAGE = 100  # the search API's largest page is 200; 100 keeps each request small
WINDOW = 10_000  # the search API returns no result past the 10,000th of one query
RATE_HEADERS = ("X-HubSpot-RateLimit-Daily-Remaining", "X-HubSpot-RateLimit-Remaining")


def _ms(value: str | None) -> str | None:
    """hs_lastmodifieddate (ISO 8601) as milliseconds since the epoch, the form search filters take."""
    if not value:
        return None
    if value.isdigit():
        return value
    return str(int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000))


class HubSpotClient:
    label = "HubSpot"

    def __init__(
        self, config: dict[str, Any], settings: Settings, sleep: Callable[[float], None] = time.sleep
    ):
        name = config.get("token_env") or "HUBSPOT_ACCESS_TOKEN"
        token = os.environ.get(name)
        if not token:
            raise CrmError(
                f"HubSpot: the environment variable {name} (a private app's access token) is not set"
            )
        options: dict[str, Any] = {"access_token": token}
        if config.get("api_url"):
            options["host"] = str(config["api_url"]).rstrip("/")
        self.api = HubSpot(**options)
        self.backoff = settings.crm_backoff_seconds
        self.attempts = settings.crm_max_attempts
        self.sleep = sleep
        self.rate: dict[str, str] = {}
        self._owners: dict[str, str] | None = None
        self._labels: tuple[dict[str, str], dict[str, str]] | None = None
        self.window = WINDOW
        self.page = PAGE

    def _call(self, what: Callable[[], T]) -> T:
        for attempt in range(self.attempts):
            try:
                return what()
            except Exception as exc:  # the generated clients raise one ApiException class per API package
                status = getattr(exc, "status", None)
                if status is None and not isinstance(exc, OSError | urllib3.exceptions.HTTPError):
                    raise
                headers = {k.lower(): v for k, v in dict(getattr(exc, "headers", None) or {}).items()}
                retry = status == 429 or status is None or (isinstance(status, int) and status >= 500)
                if status is None and attempt + 1 >= self.attempts:
                    raise CrmError(
                        f"HubSpot: cannot reach the API ({type(exc).__name__}: {str(exc)[:200]})"
                    ) from exc
                if not retry or attempt + 1 >= self.attempts:
                    body = str(getattr(exc, "body", "") or exc)[:300]
                    raise CrmError(f"HubSpot answered {status}: {body}") from exc
                self.sleep(
                    _wait(headers, self.backoff * 2**attempt) if status == 429 else self.backoff * 2**attempt
                )
        raise CrmError(f"HubSpot: still failing after {self.attempts} attempts")

    def limits(self) -> str | None:
        if not self.rate:
            return None
        return ", ".join(f"{k.removeprefix('X-HubSpot-RateLimit-')} {v}" for k, v in self.rate.items())

    def owners(self) -> dict[str, str]:
        """Owner id -> email, every page."""
        if self._owners is None:
            owners: dict[str, str] = {}
            after = None
            while True:
                page = self._call(
                    functools.partial(
                        self.api.crm.owners.owners_api.get_page, limit=100, after=after, archived=False
                    )
                )
                for owner in page.results or []:
                    if owner.email:
                        owners[str(owner.id)] = owner.email
                after = page.paging.next.after if page.paging and page.paging.next else None
                if not after:
                    break
            self._owners = owners
        return self._owners

    def labels(self) -> tuple[dict[str, str], dict[str, str]]:
        """(pipeline id -> label, stage id -> label) of deal pipelines, so playbooks may name either. Needs
        no extra scope beyond deals; if HubSpot refuses, stage ids alone are matched."""
        if self._labels is None:
            pipelines: dict[str, str] = {}
            stages: dict[str, str] = {}
            try:
                found = self._call(lambda: self.api.crm.pipelines.pipelines_api.get_all(object_type="deals"))
            except CrmError:
                found = None
            for pipeline in (found.results if found is not None else None) or []:
                pipelines[str(pipeline.id)] = pipeline.label or ""
                for stage in pipeline.stages or []:
                    stages[str(stage.id)] = stage.label or ""
            self._labels = (pipelines, stages)
        return self._labels

    def _search(self, filters: list[dict[str, Any]], after: str | None) -> Any:
        request = PublicObjectSearchRequest(
            filter_groups=[{"filters": filters}],
            sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            properties=PROPERTIES,
            limit=self.page,
            after=after,
        )
        data, _status, headers = self._call(
            lambda: self.api.crm.deals.search_api.do_search_with_http_info(
                request, _return_http_data_only=False
            )
        )
        headers = dict(headers or {})
        self.rate = {k: headers[k] for k in RATE_HEADERS if k in headers}
        return data

    def pages(
        self, cursor: str | None, now: datetime
    ) -> Iterator[tuple[list[CrmDeal | BadRecord], str | None]]:
        since = cursor or "0"
        after: str | None = None
        while True:
            filters = [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": since}]
            page = self._search(filters, after)
            records = [self.deal(d.id, d.properties or {}) for d in page.results or []]
            stamps = [_ms((d.properties or {}).get("hs_lastmodifieddate")) for d in page.results or []]
            newest = max((int(s) for s in stamps if s), default=None)
            yield records, str(newest) if newest is not None else cursor
            following = page.paging.next.after if page.paging and page.paging.next else None
            if not following:
                return
            if int(following) + self.page > self.window:
                if newest is None or str(newest) == since:
                    raise CrmError(
                        f"HubSpot: over {self.window:,} deals share the modification time {since}; the search API "
                        "cannot page past them"
                    )
                since, after = str(newest), None  # the 10k window: search again from the newest date read
            else:
                after = following

    def write_note(self, deal_id: str, title: str, body: str, now: datetime) -> str:
        """A note on the deal's timeline (write-back of a confirmation); returns the note's id."""
        from hubspot.crm.objects.notes import SimplePublicObjectInputForCreate

        text = f"<p><strong>{escape(title)}</strong></p>" + "".join(
            f"<p>{escape(line)}</p>" for line in body.splitlines()
        )
        note = SimplePublicObjectInputForCreate(
            properties={"hs_note_body": text, "hs_timestamp": now.isoformat().replace("+00:00", "Z")},
            associations=[
                {
                    "to": {"id": deal_id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 214}],
                }
            ],  # 214: note to deal
        )
        created = self._call(
            lambda: self.api.crm.objects.notes.basic_api.create(simple_public_object_input_for_create=note)
        )
        return str(created.id)

    def deals_by_id(self, ids: list[str]) -> list[CrmDeal | BadRecord]:
        """The current state of these deals (a webhook names them), read by id with the batch read API:
        the search index lags a change by seconds, so searching would often return the old stage. Deleted
        ones are simply absent (HubSpot answers 207 with an error per missing id)."""
        found: list[CrmDeal | BadRecord] = []
        for start in range(0, len(ids), 100):  # the batch API reads at most 100 records a call
            chunk = ids[start : start + 100]
            request = BatchReadInputSimplePublicObjectId(
                properties=PROPERTIES, inputs=[SimplePublicObjectId(id=i) for i in chunk]
            )
            data, _status, headers = self._call(
                functools.partial(
                    self.api.crm.deals.batch_api.read_with_http_info, request, _return_http_data_only=False
                )
            )
            headers = dict(headers or {})
            self.rate = {k: headers[k] for k in RATE_HEADERS if k in headers}
            found += [self.deal(d.id, d.properties or {}) for d in data.results or []]
        return found

    def deal(self, deal_id: str, p: dict[str, Any]) -> CrmDeal | BadRecord:
        try:
            amount = Decimal(p["amount"]) if p.get("amount") not in (None, "") else None
        except InvalidOperation:
            return BadRecord(str(deal_id), f"amount '{p.get('amount')}' is not a number")
        close = None
        if p.get("closedate"):
            try:
                close = date.fromisoformat(str(p["closedate"])[:10])
            except ValueError:
                return BadRecord(str(deal_id), f"closedate '{p.get('closedate')}' is not a date")
        owner_id = p.get("hubspot_owner_id")
        pipeline_labels, stage_labels = self.labels()
        return CrmDeal(
            crm_id=str(deal_id),
            name=str(p.get("dealname") or ""),
            stage=str(p.get("dealstage") or ""),
            owner_email=self.owners().get(str(owner_id)) if owner_id else None,
            amount=amount,
            close_date=close,
            closed=str(p.get("hs_is_closed", "")).lower() == "true",
            won=str(p.get("hs_is_closed_won", "")).lower() == "true",
            pipeline=str(p.get("pipeline") or ""),
            stage_label=stage_labels.get(str(p.get("dealstage") or ""), ""),
            pipeline_label=pipeline_labels.get(str(p.get("pipeline") or ""), ""),
            modified=_ms(p.get("hs_lastmodifieddate")) or "",  # the cursor's form: milliseconds
        )


def _wait(headers: dict[str, str], fallback: float) -> float:
    """How long HubSpot asks a client to wait after a 429."""
    for name in ("retry-after",):
        if headers.get(name, "").replace(".", "", 1).isdigit():
            return min(float(headers[name]), 60.0)
    interval = headers.get("x-hubspot-ratelimit-interval-milliseconds", "")
    if interval.isdigit() and headers.get("x-hubspot-ratelimit-remaining") == "0":
        return min(int(interval) / 1000, 60.0)
    return fallback
