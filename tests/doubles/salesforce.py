"""A Salesforce double on 127.0.0.1 over HTTPS (simple-salesforce only speaks https): the OAuth token
endpoint (JWT bearer and username-password flows), SOQL `query`/`queryAll` with `nextRecordsUrl` paging,
the Sforce-Limit-Info header and Salesforce's error bodies, shaped after the REST API documentation.

It understands the SOQL the sync sends (a SystemModstamp lower bound, IsClosed, ORDER BY SystemModstamp, Id).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from tests.doubles.server import BackgroundServer

VERSION = "59.0"
SOQL_TIME = re.compile(r"SystemModstamp >= (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key (the tests trust it through REQUESTS_CA_BUNDLE)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=400))
        .not_valid_after(now + dt.timedelta(days=400))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "sf-double.pem", folder / "sf-double.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def rsa_key_pair(folder: Path) -> tuple[Path, bytes]:
    """A connected app's private key file and the certificate's public key (to check JWT assertions)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "connected-app.key"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, public


def stamp(when: dt.datetime) -> str:
    """SystemModstamp as the REST API returns it."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@dataclass
class SalesforceDouble:
    folder: Path
    consumer_key: str = "3MVG9-test-consumer-key"
    username: str = "integration@acme.example"
    password: str = "s3cret"
    security_token: str = "TOKEN123"
    public_key: bytes | None = None
    page_size: int = 2000
    daily_limit: int = 15000
    opportunities: dict[str, dict[str, Any]] = field(default_factory=dict)
    # answered to the next query calls in order; None lets a call through
    faults: list[tuple[int, list[dict[str, str]]] | None] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)  # grant types, in order
    queries: list[str] = field(default_factory=list)  # SOQL received
    calls: int = 0
    _cursors: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> SalesforceDouble:
        cert, key = self_signed(self.folder)
        self.ca_bundle = cert
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
        app = web.Application()
        app.router.add_post("/services/oauth2/token", self._token)
        app.router.add_get(f"/services/data/v{VERSION}/{{kind:query|queryAll}}/", self._query)
        app.router.add_get(f"/services/data/v{VERSION}/{{kind:query|queryAll}}/{{locator}}", self._more)
        app.router.add_post(f"/services/data/v{VERSION}/sobjects/Task/", self._task)
        self._server = BackgroundServer(app, ssl_context=context).start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.port}"

    # -- test controls ---------------------------------------------------------------------------------

    def put(self, opportunity_id: str, name: str, stage: str, owner_email: str, modified: dt.datetime, **more: Any) -> None:
        record = {
            "attributes": {"type": "Opportunity", "url": f"/services/data/v{VERSION}/sobjects/Opportunity/{opportunity_id}"},
            "Id": opportunity_id,
            "Name": name,
            "StageName": stage,
            "Amount": more.get("amount", 50000.0),
            "CloseDate": more.get("close_date", "2027-03-31"),
            "IsClosed": more.get("closed", False),
            "IsWon": more.get("won", False),
            "IsDeleted": more.get("deleted", False),
            "SystemModstamp": stamp(modified),
            "Owner": {"attributes": {"type": "User"}, "Email": owner_email},
        }
        if "record_type" in more:
            record["RecordType"] = {"attributes": {"type": "RecordType"}, "Name": more["record_type"]}
        with self._lock:
            self.opportunities[opportunity_id] = record

    def expire_sessions(self) -> None:
        with self._lock:
            self.tokens.clear()

    def pass_next(self, times: int = 1) -> None:
        with self._lock:
            self.faults += [None] * times

    def fail_next(self, status: int, code: str, message: str, times: int = 1) -> None:
        with self._lock:
            self.faults += [(status, [{"message": message, "errorCode": code}])] * times

    # -- endpoints -------------------------------------------------------------------------------------

    def _limit_header(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.calls}/{self.daily_limit}"}

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = str(form.get("grant_type", ""))
        self.logins.append(grant)
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:
                claims = jwt.decode(
                    str(form.get("assertion", "")),
                    self.public_key or b"",
                    algorithms=["RS256"],
                    audience=self.url,  # the login URL the assertion is for
                )
            except jwt.PyJWTError as exc:
                return web.json_response({"error": "invalid_grant", "error_description": f"invalid assertion: {exc}"}, status=400)
            if claims.get("iss") != self.consumer_key or claims.get("sub") != self.username:
                return web.json_response({"error": "invalid_grant", "error_description": "user hasn't approved this consumer"}, status=400)
        elif grant == "password":
            if (form.get("username"), form.get("password")) != (self.username, self.password + self.security_token):
                return web.json_response({"error": "invalid_grant", "error_description": "authentication failure"}, status=400)
        else:
            return web.json_response({"error": "unsupported_grant_type", "error_description": "grant type not supported"}, status=400)
        token = "00D" + uuid.uuid4().hex
        with self._lock:
            self.tokens.add(token)
        return web.json_response(
            {
                "access_token": token,
                "instance_url": self.url,
                "id": f"{self.url}/id/00Dxx0000001gPL/005xx000001Sv6e",
                "token_type": "Bearer",
                "issued_at": "1764000000000",
                "signature": "double",
            }
        )

    def _refused(self, request: web.Request) -> web.Response | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        with self._lock:
            self.calls += 1
            if token not in self.tokens:
                return web.json_response(
                    [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}], status=401
                )
            fault = self.faults.pop(0) if self.faults else None
            if fault is not None:
                status, body = fault
                return web.json_response(body, status=status, headers=self._limit_header())
        return None

    async def _task(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        if body.get("WhatId") not in self.opportunities:
            return web.json_response(
                [{"message": "What ID: id value of incorrect type", "errorCode": "FIELD_INTEGRITY_EXCEPTION", "fields": ["WhatId"]}],
                status=400,
            )
        task_id = f"00T{len(self.tasks) + 1:015d}"
        self.tasks.append({"Id": task_id, **body})
        return web.json_response({"id": task_id, "success": True, "errors": []}, status=201, headers=self._limit_header())

    async def _query(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        soql = request.query.get("q", "")
        self.queries.append(soql)
        match = SOQL_TIME.search(soql)
        since = match.group(1).replace("Z", ".000+0000") if match else ""
        include_deleted = request.match_info["kind"] == "queryAll"
        only_open_or_recent = "IsClosed = false OR" in soql
        with self._lock:
            rows = [
                r
                for r in self.opportunities.values()
                if (include_deleted or not r["IsDeleted"])
                and (
                    (not r["IsClosed"] or r["SystemModstamp"] >= since)
                    if only_open_or_recent
                    else r["SystemModstamp"] >= since
                )
            ]
        rows.sort(key=lambda r: (r["SystemModstamp"], r["Id"]))
        if "RecordType.Name" not in soql:
            rows = [{k: v for k, v in r.items() if k != "RecordType"} for r in rows]
        locator = "01g" + uuid.uuid4().hex[:15]
        self._cursors[locator] = rows
        return self._page(request.match_info["kind"], locator, 0)

    async def _more(self, request: web.Request) -> web.Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        locator, _, offset = request.match_info["locator"].rpartition("-")
        if locator not in self._cursors or not offset.isdigit():
            return web.json_response([{"message": "invalid query locator", "errorCode": "INVALID_QUERY_LOCATOR"}], status=400)
        return self._page(request.match_info["kind"], locator, int(offset))

    def _page(self, kind: str, locator: str, offset: int) -> web.Response:
        rows = self._cursors[locator]
        page = rows[offset : offset + self.page_size]
        done = offset + self.page_size >= len(rows)
        body: dict[str, Any] = {"totalSize": len(rows), "done": done, "records": page}
        if not done:
            body["nextRecordsUrl"] = f"/services/data/v{VERSION}/{kind}/{locator}-{offset + self.page_size}"
        return web.json_response(body, headers=self._limit_header())
