"""A HubSpot CRM v3 double on 127.0.0.1: deals search (filters, sorts, `after` paging, the 10,000-result
window), owners, notes, bearer-token checks, rate-limit headers and 429s, shaped after HubSpot's API docs."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.doubles.server import HttpDouble

WINDOW = 10_000


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def ms(value: str) -> int:
    return int(dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


@dataclass
class HubSpotDouble(HttpDouble):
    token: str = "pat-na1-test"
    port: int = 0
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)
    owners: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    throttle: list[dict[str, str]] = field(default_factory=list)  # headers of 429s answered next
    searches: list[dict[str, Any]] = field(default_factory=list)
    unindexed: set[str] = field(default_factory=set)  # changed deals the search index has not caught up with
    window: int = WINDOW
    _lock: threading.Lock = field(default_factory=threading.Lock)
    url_path = ""

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/crm/v3/objects/deals/search", self._search),
            web.post("/crm/v3/objects/deals/batch/read", self._batch_read),
            web.get("/crm/v3/owners/", self._owners),
            web.get("/crm/v3/pipelines/deals", self._pipelines),
            web.post("/crm/v3/objects/notes", self._note),
        ]

    # -- test controls ---------------------------------------------------------------------------------

    def owner(self, owner_id: str, email: str) -> None:
        self.owners.append(
            {"id": owner_id, "email": email, "firstName": email.split("@")[0], "lastName": "", "userId": int(owner_id),
             "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z", "archived": False}
        )

    def put(self, deal_id: str, name: str, stage: str, owner_id: str, modified: dt.datetime, **more: Any) -> None:
        closed, won = more.get("closed", False), more.get("won", False)
        properties = {
            "dealname": name,
            "dealstage": stage,
            "pipeline": more.get("pipeline", "default"),
            "amount": str(more.get("amount", "25000")),
            "closedate": more.get("closedate", "2027-01-31T00:00:00Z"),
            "hubspot_owner_id": owner_id,
            "hs_is_closed": "true" if closed else "false",
            "hs_is_closed_won": "true" if won else "false",
            "hs_lastmodifieddate": iso(modified),
            "hs_object_id": deal_id,
        }
        with self._lock:
            if more.get("indexed", True):
                self.unindexed.discard(deal_id)
            else:
                self.unindexed.add(deal_id)
            self.deals[deal_id] = {
                "id": deal_id,
                "properties": properties,
                "createdAt": "2026-01-01T00:00:00.000Z",
                "updatedAt": iso(modified),
                "archived": False,
            }

    # -- endpoints -------------------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Daily": "250000",
            "X-HubSpot-RateLimit-Daily-Remaining": "249990",
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Remaining": "189",
        }

    def _refused(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response(
                {"status": "error", "message": "Authentication credentials not found.", "category": "INVALID_AUTHENTICATION"},
                status=401,
            )
        with self._lock:
            if self.throttle:
                headers = self.throttle.pop(0)
                return web.json_response(
                    {"status": "error", "message": "You have reached your secondly limit.", "errorType": "RATE_LIMIT",
                     "policyName": "SECONDLY", "category": "RATE_LIMITS"},
                    status=429,
                    headers=headers,
                )
        return None

    async def _search(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        self.searches.append(body)
        filters = [f for g in body.get("filterGroups", []) for f in g.get("filters", [])]
        with self._lock:
            rows = list(self.deals.values())
        rows = [r for r in rows if r["id"] not in self.unindexed]  # the search index lags new changes
        for f in filters:
            if f["propertyName"] == "hs_lastmodifieddate" and f["operator"] == "GTE":
                rows = [r for r in rows if ms(r["properties"]["hs_lastmodifieddate"]) >= int(f["value"])]
            elif f["propertyName"] == "hs_object_id" and f["operator"] == "IN":
                rows = [r for r in rows if r["id"] in set(f["values"])]
        rows.sort(key=lambda r: (ms(r["properties"]["hs_lastmodifieddate"]), r["id"]))
        limit = min(int(body.get("limit") or 10), 200)
        after = int(body.get("after") or 0)
        if after + limit > self.window:
            return web.json_response(
                {"status": "error", "message": "There was a problem with the request.", "category": "VALIDATION_ERROR"},
                status=400,
            )
        wanted = set(body.get("properties") or [])
        page = [
            {**r, "properties": {k: v for k, v in r["properties"].items() if k in wanted or k == "hs_object_id"}}
            for r in rows[after : after + limit]
        ]
        answer: dict[str, Any] = {"total": len(rows), "results": page}
        if after + limit < len(rows):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return web.json_response(answer, headers=self._headers())

    async def _batch_read(self, request: web.Request) -> web.Response:
        """POST /crm/v3/objects/deals/batch/read: the records by id, current at once (no index lag); ids not
        found make it a 207 with an error naming them, as HubSpot answers."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        wanted = set(body.get("properties") or [])
        ids = [str(i.get("id")) for i in body.get("inputs") or []]
        with self._lock:
            rows = [self.deals[i] for i in ids if i in self.deals]
        results = [
            {**r, "properties": {k: v for k, v in r["properties"].items() if k in wanted or k == "hs_object_id"},
             "archived": False}
            for r in rows
        ]
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": "2026-11-23T15:00:00Z",
                                  "completedAt": "2026-11-23T15:00:00Z"}
        missing = [i for i in ids if i not in self.deals]
        if missing:
            answer["numErrors"] = 1
            answer["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": "Could not get some DEAL objects",
                                 "context": {"ids": missing}}]
        return web.json_response(answer, status=207 if missing else 200, headers=self._headers())

    async def _pipelines(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        stages = [("appointmentscheduled", "Appointment Scheduled"), ("qualifiedtobuy", "Qualified To Buy"),
                  ("presentationscheduled", "Presentation Scheduled"), ("decisionmakerboughtin", "Decision Maker Bought-In"),
                  ("contractsent", "Contract Sent"), ("closedwon", "Closed Won"), ("closedlost", "Closed Lost"),
                  ("1234567", "Legal Review")]
        pipeline = {
            "id": "default", "label": "Sales Pipeline", "displayOrder": 0, "archived": False,
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
            "stages": [
                {"id": sid, "label": label, "displayOrder": i, "archived": False,
                 "metadata": {"isClosed": "true" if sid.startswith("closed") else "false", "probability": "0.2"},
                 "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}
                for i, (sid, label) in enumerate(stages)
            ],
        }
        return web.json_response({"results": [pipeline]}, headers=self._headers())

    async def _owners(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        after = int(request.query.get("after") or 0)
        limit = int(request.query.get("limit") or 100)
        page = self.owners[after : after + limit]
        answer: dict[str, Any] = {"results": page}
        if after + limit < len(self.owners):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return web.json_response(answer, headers=self._headers())

    async def _note(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        note = {"id": str(len(self.notes) + 1), "properties": body.get("properties", {}), "associations": body.get("associations", [])}
        self.notes.append(note)
        return web.json_response(note, status=201, headers=self._headers())
