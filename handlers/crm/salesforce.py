"""Salesforce Opportunities through simple-salesforce.

Sign-in is the OAuth 2.0 JWT bearer flow of a connected app (a private key file) or, for trials, the
username-password flow (password + security token). Opportunities are read incrementally with SOQL on
`SystemModstamp` through `queryAll` (so deleted ones come back with IsDeleted), paging by `nextRecordsUrl`.
REQUEST_LIMIT_EXCEEDED and 5xx answers are retried with exponential back-off; an expired session
(INVALID_SESSION_ID) signs in again once. The API usage Salesforce reports (Sforce-Limit-Info) is kept.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import jwt
import requests
from simple_salesforce import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from bot.settings import Settings
from handlers.crm.mapping import BadRecord, CrmDeal, CrmError
from playbooks.loader import PlaybookLibrary

T = TypeVar("T")
API_VERSION = "59.0"
FIRST_SYNC_DAYS = 90  # the first run reads open opportunities and those changed in the last 90 days
RETRIED = {"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"}


def soql_time(stamp: str) -> str:
    """A SystemModstamp as Salesforce returns it ("2026-12-03T05:00:00.000+0000") as a SOQL literal."""
    parsed = (
        datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%f%z") if "." in stamp else datetime.fromisoformat(stamp)
    )
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SalesforceClient:
    label = "Salesforce"

    def __init__(
        self,
        config: dict[str, Any],
        settings: Settings,
        library: PlaybookLibrary | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.config = config
        self.login_url = (config.get("login_url") or "https://login.salesforce.com").rstrip("/")
        self.version = str(config.get("api_version") or API_VERSION)
        self.backoff = settings.crm_backoff_seconds
        self.attempts = settings.crm_max_attempts
        self.sleep = sleep
        self.record_types = bool(config.get("record_types"))
        self.http = requests.Session()
        self.sf: Salesforce | None = None
        self.logins = 0

    # -- signing in ------------------------------------------------------------------------------------

    def _secret(self, key: str) -> str:
        name = self.config.get(key)
        value = os.environ.get(name) if name else None
        if not value:
            raise CrmError(
                f"Salesforce: the environment variable {name or key} is not set (see README: Connect your CRM)"
            )
        return value

    def _token_request(self) -> dict[str, str]:
        username = self.config.get("username") or ""
        client_id = self.config.get("consumer_key") or ""
        if self.config.get("private_key_file"):
            try:
                key = Path(self.config["private_key_file"]).read_bytes()
            except OSError as exc:
                raise CrmError(
                    f"Salesforce: cannot read the private key file {self.config['private_key_file']}: {exc.strerror}"
                ) from exc
            claims = {
                "iss": client_id,
                "sub": username,
                "aud": self.login_url,
                "exp": int(time.time()) + 180,
            }
            try:
                assertion = jwt.encode(claims, key, algorithm="RS256")
            except (ValueError, TypeError) as exc:
                raise CrmError(
                    f"Salesforce: the private key file is not an RSA private key in PEM format ({exc})"
                ) from exc
            return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
        return {
            "grant_type": "password",
            "client_id": client_id,
            "client_secret": self._secret("consumer_secret_env"),
            "username": username,
            "password": self._secret("password_env")
            + (os.environ.get(self.config.get("security_token_env") or "", "")),
        }

    def _login(self) -> Salesforce:
        url = f"{self.login_url}/services/oauth2/token"
        try:
            response = self.http.post(url, data=self._token_request(), timeout=30)
        except requests.RequestException as exc:
            raise CrmError(f"Salesforce: cannot reach {url}: {exc}") from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200 or "access_token" not in body:
            raise CrmError(
                f"Salesforce refused the sign-in ({response.status_code} {body.get('error', '')}: "
                f"{body.get('error_description', response.text[:200])})"
            )
        self.logins += 1
        self.sf = Salesforce(
            instance_url=body["instance_url"],
            session_id=body["access_token"],
            version=self.version,
            session=self.http,
        )
        return self.sf

    # -- calls, retried --------------------------------------------------------------------------------

    def _call(self, what: Callable[[Salesforce], T]) -> T:
        relogged = False
        for attempt in range(self.attempts):
            sf = self.sf or self._login()
            try:
                return what(sf)
            except SalesforceExpiredSession:
                if relogged:
                    raise CrmError("Salesforce: the session expired again right after signing in") from None
                relogged = True
                self.sf = None  # INVALID_SESSION_ID: the token expired; sign in again and repeat the call
                continue
            except SalesforceError as exc:
                code = _error_code(exc)
                if (code in RETRIED or exc.status >= 500) and attempt + 1 < self.attempts:
                    self.sleep(self.backoff * 2**attempt)
                    continue
                raise CrmError(
                    f"Salesforce answered {exc.status} {code or ''}: {_error_message(exc)}"
                ) from exc
            except requests.RequestException as exc:
                if attempt + 1 < self.attempts:
                    self.sleep(self.backoff * 2**attempt)
                    continue
                raise CrmError(f"Salesforce: {exc}") from exc
        raise CrmError(f"Salesforce: still failing after {self.attempts} attempts")

    def limits(self) -> str | None:
        usage = self.sf.api_usage.get("api-usage") if self.sf is not None else None
        return f"{usage.used}/{usage.total} API requests in the last 24 hours" if usage else None

    # -- reading ---------------------------------------------------------------------------------------

    def soql(self, cursor: str | None, now: datetime) -> str:
        fields = (
            "Id, Name, StageName, Amount, CloseDate, IsClosed, IsWon, IsDeleted, SystemModstamp, Owner.Email"
        )
        if self.record_types:
            fields += ", RecordType.Name"
        if cursor:
            where = f"SystemModstamp >= {soql_time(cursor)}"
        else:
            since = (now - timedelta(days=FIRST_SYNC_DAYS)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            where = f"(IsClosed = false OR SystemModstamp >= {since})"
        return f"SELECT {fields} FROM Opportunity WHERE {where} ORDER BY SystemModstamp, Id"

    def write_note(self, opportunity_id: str, title: str, body: str, now: datetime) -> str:
        """A completed Task on the Opportunity (write-back of a confirmation); returns the Task's id."""
        task = {
            "WhatId": opportunity_id,
            "Subject": title[:255],
            "Description": body[:32000],
            "Status": "Completed",
            "ActivityDate": now.date().isoformat(),
        }
        created = self._call(lambda sf: _sobject(sf, "Task").create(task))
        return str(created.get("id", ""))

    def pages(
        self, cursor: str | None, now: datetime
    ) -> Iterator[tuple[list[CrmDeal | BadRecord], str | None]]:
        query = self.soql(cursor, now)
        result = self._call(lambda sf: sf.query(query, include_deleted=True))
        while True:
            records = [opportunity(r) for r in result.get("records", [])]
            stamps = [r.get("SystemModstamp") for r in result.get("records", []) if r.get("SystemModstamp")]
            yield records, (max(stamps) if stamps else cursor)
            if stamps:
                cursor = max(stamps)
            if result.get("done", True) or not result.get("nextRecordsUrl"):
                return
            next_url = result["nextRecordsUrl"]
            result = self._call(functools.partial(_query_more, url=next_url))


def _sobject(sf: Salesforce, name: str) -> SFType:
    """`sf.<name>`: the REST handle of one object type (the library's attribute access also returns the
    bulk handlers, for `bulk` and `bulk2`)."""
    handle = getattr(sf, name)
    assert isinstance(handle, SFType)
    return handle


def _query_more(sf: Salesforce, url: str) -> Any:
    return sf.query_more(url, identifier_is_url=True)


def opportunity(record: dict[str, Any]) -> CrmDeal | BadRecord:
    """One Opportunity from a query result, or why it cannot be read."""
    crm_id = str(record.get("Id") or "?")
    try:
        amount = None if record.get("Amount") is None else Decimal(str(record["Amount"]))
    except InvalidOperation:
        return BadRecord(crm_id, f"Amount '{record.get('Amount')}' is not a number")
    try:
        close = date.fromisoformat(record["CloseDate"]) if record.get("CloseDate") else None
    except (TypeError, ValueError):
        return BadRecord(crm_id, f"CloseDate '{record.get('CloseDate')}' is not a date")
    owner = record.get("Owner") or {}
    record_type = record.get("RecordType") or {}
    return CrmDeal(
        crm_id=crm_id,
        name=str(record.get("Name") or ""),
        stage=str(record.get("StageName") or ""),
        owner_email=owner.get("Email"),
        amount=amount,
        close_date=close,
        closed=bool(record.get("IsClosed")),
        won=bool(record.get("IsWon")),
        deleted=bool(record.get("IsDeleted")),
        pipeline=str(record_type.get("Name") or ""),
        modified=str(record.get("SystemModstamp") or ""),
    )


def _error_code(exc: SalesforceError) -> str | None:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return content[0].get("errorCode")
    return None


def _error_message(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("message", ""))[:300]
    return str(content)[:300]
