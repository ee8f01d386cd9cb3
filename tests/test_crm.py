"""CRM sync: Salesforce and HubSpot doubles on 127.0.0.1 driven through simple-salesforce and
hubspot-api-client, the signed HubSpot webhook through the real web app, and the stage card a CRM move
sends the deal's owner."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.web import RUNNER_OPTIONS, create_app
from handlers.crm.hubspot import HubSpotClient
from handlers.crm.sync import run_sync
from playbooks.loader import check_folder
from storage.models import (
    CrmConnection,
    Deal,
    DealStageChange,
    DealStatus,
    Organization,
    OutboxMessage,
    Person,
    Platform,
)
from storage.people import get_or_create_workspace, person_by_email
from tests.doubles.hubspot import HubSpotDouble
from tests.doubles.salesforce import SalesforceDouble, rsa_key_pair
from tests.doubles.server import BackgroundServer
from tests.helpers.chat import deliver
from tests.helpers.cli import REPO
from tests.helpers.clock import FIXED_NOW

T0 = FIXED_NOW - timedelta(hours=6)
APP_SECRET = "hubspot-app-secret"
PORTAL = "4455667"


@pytest.fixture
def fast(ctx):
    """The test context with short retry waits (the waits themselves are checked where they matter)."""
    return dataclasses.replace(ctx, settings=ctx.settings.model_copy(update={"crm_backoff_seconds": 0.01}))


@pytest.fixture
def salesforce(tmp_path: Path, monkeypatch):
    key_file, public = rsa_key_pair(tmp_path)
    double = SalesforceDouble(tmp_path, public_key=public).start()
    double.key_file = key_file  # type: ignore[attr-defined]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(double.ca_bundle))  # trust the double's certificate
    yield double
    double.stop()


@pytest.fixture
def hubspot(monkeypatch):
    double = HubSpotDouble().start()
    double.owner("101", "rep@example.com")
    double.owner("102", "sam@example.com")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", double.token)
    yield double
    double.stop()


def connect(ctx, workspace, system: str, settings: dict, account_id: str | None = None) -> int:
    with ctx.sessions.begin() as db:
        connection = CrmConnection(
            organization_id=workspace.organization_id, system=system, settings=settings, account_id=account_id, last_result={}
        )
        db.add(connection)
        db.flush()
        return connection.id


def jwt_settings(sf) -> dict:
    return {"login_url": sf.url, "username": sf.username, "consumer_key": sf.consumer_key, "private_key_file": str(sf.key_file)}


def deal(ctx, crm_id: str) -> Deal | None:
    with ctx.sessions() as db:
        return db.scalar(select(Deal).where(Deal.crm_id == crm_id))


def count(ctx, model) -> int:
    with ctx.sessions() as db:
        return db.scalar(select(func.count()).select_from(model))


# -- stage mapping in the playbooks --------------------------------------------------------------------


def test_a_crm_stage_mapped_to_two_stages_is_an_error_with_file_and_line(tmp_path):
    text = (REPO / "playbooks" / "transactional.yaml").read_text().replace(
        "crm_stages: [Needs Analysis, Value Proposition]", "crm_stages: [Needs Analysis, Prospecting]"
    )
    (tmp_path / "transactional.yaml").write_text(text)
    _, errors = check_folder(tmp_path)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "[Needs Analysis, Prospecting]" in row)
    first = next(i for i, row in enumerate(text.splitlines(), 1) if "[Prospecting, Qualification]" in row)
    assert [str(e) for e in errors] == [
        f"{tmp_path / 'transactional.yaml'}:{line}: stages[1].crm_stages[1]: CRM stage 'Prospecting' of pipeline "
        f"'Transactional' is already mapped at {tmp_path / 'transactional.yaml'}:{first} (stage 'qualify'); a CRM stage "
        "must mean one stage (remove one, or give the playbooks different crm_pipeline values)"
    ]


# -- Salesforce ------------------------------------------------------------------------------------------


def test_a_salesforce_stage_change_records_the_skipped_gate_and_sends_the_owner_the_stage_card(fast, demo, salesforce):
    ctx = fast
    connection = connect(ctx, demo, "salesforce", jwt_settings(salesforce))
    salesforce.put("DEMO-001", "Acme Corp", "Needs Analysis", "rep@example.com", T0, amount=120000.0, close_date="2027-02-26")
    salesforce.put("006A000001", "Globex renewal", "Prospecting", "sam@example.com", T0 + timedelta(minutes=1))

    first = run_sync(ctx, connection, FIXED_NOW)
    assert (first.read, first.created, first.unchanged, first.moved, first.errors) == (2, 1, 1, 0, [])
    globex = deal(ctx, "006A000001")
    assert (globex.name, globex.playbook_id, globex.stage_id, globex.status) == ("Globex renewal", "enterprise", "awareness", DealStatus.OPEN)
    assert salesforce.logins == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assert "SystemModstamp" in salesforce.queries[0] and "IsDeleted" in salesforce.queries[0]

    salesforce.put("DEMO-001", "Acme Corp", "Value Proposition", "rep@example.com", FIXED_NOW - timedelta(minutes=5),
                   amount=120000.0, close_date="2027-02-26")
    moved = run_sync(ctx, connection, FIXED_NOW)
    assert (moved.moved, moved.messages) == (1, 1)
    assert salesforce.queries[-1].count(">=") == 1 and first.cursor[:19] in salesforce.queries[-1].replace("Z", "")
    acme = deal(ctx, "DEMO-001")
    assert acme.stage_id == "evaluation"
    discovery = ctx.playbooks.get("enterprise").stage("discovery")
    with ctx.sessions() as db:
        change = db.scalars(select(DealStageChange).where(DealStageChange.deal_id == acme.id).order_by(DealStageChange.id)).all()[-1]
        from bot.confirmations import confirmed_criteria

        open_gates = [c.id for c in discovery.exit_criteria if c.id not in confirmed_criteria(db, acme, "discovery")]
    assert (change.from_stage_id, change.to_stage_id) == ("discovery", "evaluation")
    assert change.skipped_criteria == open_gates and open_gates

    again = run_sync(ctx, connection, FIXED_NOW)  # a second sync changes nothing
    assert (again.moved, again.created, again.updated, again.messages) == (0, 0, 0, 0)
    assert count(ctx, OutboxMessage) == 1

    shown = deliver(ctx, FIXED_NOW)
    assert "Acme Corp moved to Evaluation in Salesforce" in shown
    assert "Gates left open in Discovery" in shown
    flat = " ".join(shown.split())  # the terminal wraps long lines
    assert all(c.text in flat for c in discovery.exit_criteria if c.id in open_gates)
    assert "Confirm criteria" in shown
    assert deliver(ctx, FIXED_NOW) == ""  # sent once


def test_closed_deleted_unmapped_unknown_and_bad_records(fast, demo, salesforce, chat_as):
    ctx = fast
    connection = connect(ctx, demo, "salesforce", jwt_settings(salesforce))
    salesforce.put("DEMO-002", "Initech", "Closed Won", "rep@example.com", T0, closed=True, won=True)
    salesforce.put("DEMO-003", "Hooli Express", "Needs Analysis", "rep@example.com", T0, deleted=True)
    salesforce.put("006U1", "Mystery One", "Pending Legal", "rep@example.com", T0)
    salesforce.put("006U2", "Mystery Two", "Pending Legal", "rep@example.com", T0)
    salesforce.put("006G1", "Ghost deal", "Prospecting", "ghost@example.com", T0)
    salesforce.put("006B1", "", "Prospecting", "rep@example.com", T0)

    report = run_sync(ctx, connection, FIXED_NOW)

    assert deal(ctx, "DEMO-002").status == DealStatus.WON
    hooli = deal(ctx, "DEMO-003")
    assert (hooli.status, hooli.closed_reason) == (DealStatus.LOST, "Deleted in Salesforce")
    listed = chat_as().say("my deals").plain_text()
    assert "Initech" not in listed and "Hooli Express" not in listed and "Acme Corp" in listed
    assert list(report.unmapped.values()) == [2]  # reported once for the run, with how many deals
    (hint,) = report.unmapped
    assert "Salesforce stage 'Pending Legal'" in hint and "crm_stages" in hint and "enterprise" in hint
    assert dict(report.unknown_owners) == {"ghost@example.com": 1}
    assert report.errors == ["Salesforce record 006B1 (''): the deal has no name; skipped"]
    assert deal(ctx, "006U1") is None and deal(ctx, "006G1") is None and deal(ctx, "006B1") is None
    with ctx.sessions() as db:
        assert db.scalar(select(Person).where(Person.email == "ghost@example.com")) is None
        stored = db.get(CrmConnection, connection).last_result
    assert stored["unmapped"] == report.unmapped and stored["unknown_owners"] == {"ghost@example.com": 1}


def test_paging_retries_and_an_expired_session(fast, demo, salesforce):
    ctx = fast
    connection = connect(ctx, demo, "salesforce", jwt_settings(salesforce))
    salesforce.page_size = 2
    for i in range(5):
        salesforce.put(f"006P{i}", f"Paged {i}", "Prospecting", "rep@example.com", T0 + timedelta(minutes=i))
    salesforce.fail_next(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    salesforce.fail_next(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
    salesforce.pass_next()  # the first page
    salesforce.fail_next(401, "INVALID_SESSION_ID", "Session expired or invalid")
    from handlers.crm.salesforce import SalesforceClient

    slept: list[float] = []
    client = SalesforceClient(jwt_settings(salesforce), ctx.settings, sleep=slept.append)
    report = run_sync(ctx, connection, FIXED_NOW, client=client)
    assert slept == [0.01, 0.02]  # back-off doubles; the expired session signs in again at once

    assert (report.read, report.created, report.errors) == (5, 5, [])
    assert len(salesforce.logins) == 2  # signed in again once the session expired
    assert report.limits and "API requests in the last 24 hours" in report.limits
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Deal).where(Deal.crm_id.like("006P%"))) == 5


def test_a_run_that_fails_midway_resumes_from_its_cursor_and_writes_nothing_twice(fast, demo, salesforce):
    ctx = fast
    connection = connect(ctx, demo, "salesforce", jwt_settings(salesforce))
    salesforce.page_size = 2
    for i in range(5):
        salesforce.put(f"006R{i}", f"Resumed {i}", "Prospecting", "rep@example.com", T0 + timedelta(minutes=i))
    salesforce.pass_next()
    salesforce.fail_next(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred", times=ctx.settings.crm_max_attempts)

    broken = run_sync(ctx, connection, FIXED_NOW)
    assert broken.created == 2 and broken.errors and "UNKNOWN_EXCEPTION" in broken.errors[0]
    with ctx.sessions() as db:
        assert db.get(CrmConnection, connection).cursor == salesforce.opportunities["006R1"]["SystemModstamp"]

    resumed = run_sync(ctx, connection, FIXED_NOW)
    assert (resumed.created, resumed.errors) == (3, [])
    assert run_sync(ctx, connection, FIXED_NOW).created == 0
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Deal).where(Deal.crm_id.like("006R%"))) == 5
        assert db.scalar(select(func.count()).select_from(DealStageChange).join(Deal).where(Deal.crm_id.like("006R%"))) == 5


def test_username_password_sign_in_and_a_refused_one(fast, demo, salesforce, monkeypatch):
    ctx = fast
    monkeypatch.setenv("SF_PASSWORD", salesforce.password)
    monkeypatch.setenv("SF_TOKEN", salesforce.security_token)
    monkeypatch.setenv("SF_SECRET", "consumer-secret")
    settings = {"login_url": salesforce.url, "username": salesforce.username, "consumer_key": salesforce.consumer_key,
                "password_env": "SF_PASSWORD", "security_token_env": "SF_TOKEN", "consumer_secret_env": "SF_SECRET"}
    connection = connect(ctx, demo, "salesforce", settings)
    salesforce.put("006W1", "Wayne deal", "Prospecting", "rep@example.com", T0)
    assert run_sync(ctx, connection, FIXED_NOW).created == 1
    assert salesforce.logins == ["password"]

    monkeypatch.setenv("SF_PASSWORD", "wrong")
    refused = run_sync(ctx, connection, FIXED_NOW)
    assert refused.errors == ["Salesforce refused the sign-in (400 invalid_grant: authentication failure)"]
    assert refused.read == 0


# -- HubSpot ---------------------------------------------------------------------------------------------


def hubspot_client(ctx, double, slept: list[float]) -> HubSpotClient:
    return HubSpotClient({"token_env": "HUBSPOT_ACCESS_TOKEN", "api_url": double.url}, ctx.settings, sleep=slept.append)


def test_hubspot_sync_by_search_with_owners_and_a_429(fast, demo, hubspot):
    ctx = fast
    connection = connect(ctx, demo, "hubspot", {"api_url": hubspot.url}, PORTAL)
    hubspot.put("9001", "Wonka Industries", "qualifiedtobuy", "101", T0, amount="48000.50")
    hubspot.put("9002", "Soylent", "contractsent", "102", T0 + timedelta(minutes=1))
    hubspot.throttle.append({"Retry-After": "1", "X-HubSpot-RateLimit-Remaining": "0"})
    slept: list[float] = []

    first = run_sync(ctx, connection, FIXED_NOW, client=hubspot_client(ctx, hubspot, slept))
    assert (first.created, first.errors) == (2, [])
    assert slept == [1.0]  # waited as long as HubSpot asked
    wonka = deal(ctx, "9001")
    with ctx.sessions() as db:
        owner = db.get(Person, wonka.owner_id).email
    assert (wonka.stage_id, str(wonka.amount), owner) == ("discovery", "48000.50", "rep@example.com")
    assert "Daily-Remaining 249990" in first.limits
    search = hubspot.searches[-1]
    assert search["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]

    hubspot.put("9001", "Wonka Industries", "presentationscheduled", "101", FIXED_NOW - timedelta(minutes=2), amount="48000.50")
    hubspot.put("9002", "Soylent", "closedwon", "102", FIXED_NOW - timedelta(minutes=1), closed=True, won=True)
    second = run_sync(ctx, connection, FIXED_NOW, client=hubspot_client(ctx, hubspot, slept))
    assert (second.moved, second.messages, second.closed) == (1, 1, 1)
    assert hubspot.searches[-1]["filterGroups"][0]["filters"][0]["value"] == first.cursor
    assert deal(ctx, "9001").stage_id == "evaluation" and deal(ctx, "9002").status == DealStatus.WON
    third = run_sync(ctx, connection, FIXED_NOW, client=hubspot_client(ctx, hubspot, slept))
    assert (third.moved, third.messages, third.created, third.updated) == (0, 0, 0, 0)
    assert "Wonka Industries moved to Evaluation in HubSpot" in deliver(ctx, FIXED_NOW)


def test_hubspot_search_moves_its_cursor_past_the_result_window(fast, demo, hubspot):
    ctx = fast
    connection = connect(ctx, demo, "hubspot", {"api_url": hubspot.url}, PORTAL)
    hubspot.window = 6
    for i in range(9):
        hubspot.put(f"77{i}", f"Windowed {i}", "appointmentscheduled", "101", T0 + timedelta(minutes=i))
    client = hubspot_client(ctx, hubspot, [])
    client.window, client.page = 6, 2
    report = run_sync(ctx, connection, FIXED_NOW, client=client)
    assert (report.created, report.errors) == (9, [])
    assert any(s.get("after") is None for s in hubspot.searches[1:])  # a new search from the cursor


# -- the signed webhook, through the real web app -------------------------------------------------------


def sign(uri: str, body: bytes, timestamp: str, secret: str = APP_SECRET) -> str:
    digest = hmac.new(secret.encode(), f"POST{uri}{body.decode()}{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def post_webhook(server, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    async def send() -> tuple[int, str]:
        async with aiohttp.ClientSession() as session, session.post(
            f"{server.url}/crm/hubspot/webhook", data=body, headers={"Content-Type": "application/json", **headers}
        ) as r:
            return r.status, await r.text()

    return asyncio.run(send())


def stage_event(deal_id: str, stage: str) -> bytes:
    return json.dumps(
        [{"eventId": 1, "subscriptionId": 25, "portalId": int(PORTAL), "appId": 1160452, "occurredAt": 1764000000000,
          "subscriptionType": "deal.propertyChange", "attemptNumber": 0, "objectId": int(deal_id),
          "propertyName": "dealstage", "propertyValue": stage, "changeSource": "CRM_UI"}]
    ).encode()


@pytest.fixture
def webhook_ctx(fast):
    return dataclasses.replace(fast, settings=fast.settings.model_copy(update={"hubspot_app_secret": APP_SECRET}))


def test_webhook_signatures(webhook_ctx, demo, hubspot):
    ctx = webhook_ctx
    connect(ctx, demo, "hubspot", {"api_url": hubspot.url}, PORTAL)
    hubspot.put("9100", "Vandelay Imports", "qualifiedtobuy", "101", T0)
    server = BackgroundServer(create_app(ctx), **RUNNER_OPTIONS).start()
    try:
        uri = f"{server.url}/crm/hubspot/webhook"
        body = stage_event("9100", "qualifiedtobuy")
        now_ms = str(int(FIXED_NOW.timestamp() * 1000))
        stale_ms = str(int((FIXED_NOW - timedelta(minutes=6)).timestamp() * 1000))
        wrong = post_webhook(server, body, {"X-HubSpot-Signature-v3": sign(uri, body, now_ms, "not-the-secret"), "X-HubSpot-Request-Timestamp": now_ms})
        stale = post_webhook(server, body, {"X-HubSpot-Signature-v3": sign(uri, body, stale_ms), "X-HubSpot-Request-Timestamp": stale_ms})
        unsigned = post_webhook(server, body, {})
        assert [wrong[0], stale[0], unsigned[0]] == [401, 401, 401]
        # Headers no clock or signature could send are refused, never a server error.
        for timestamp, signature in (("9" * 400, sign(uri, body, now_ms)), ("\u00b2", sign(uri, body, now_ms)),
                                     (now_ms, "s\u00efgnature")):
            odd = post_webhook(server, body, {"X-HubSpot-Signature-v3": signature, "X-HubSpot-Request-Timestamp": timestamp})
            assert odd[0] == 401, (timestamp[:10], odd)
        assert "5 minutes" in stale[1]
        assert deal(ctx, "9100") is None
        bad = b"{not json"
        assert post_webhook(server, bad, {"X-HubSpot-Signature-v3": sign(uri, bad, now_ms), "X-HubSpot-Request-Timestamp": now_ms})[0] == 400
        status, text = post_webhook(server, body, {"X-HubSpot-Signature-v3": sign(uri, body, now_ms), "X-HubSpot-Request-Timestamp": now_ms})
        assert (status, json.loads(text)) == (200, {"deals": 1})
        assert deal(ctx, "9100").stage_id == "discovery"
        deleted = json.dumps([{"eventId": 2, "subscriptionId": 26, "portalId": int(PORTAL), "appId": 1160452,
                               "occurredAt": 1764000000001, "subscriptionType": "deal.deletion", "attemptNumber": 0,
                               "objectId": 9100, "changeSource": "CRM_UI"},
                              {"eventId": 3, "subscriptionId": 26, "portalId": 999, "subscriptionType": "deal.deletion",
                               "objectId": 1}]).encode()  # a portal nobody connected is ignored
        signed = {"X-HubSpot-Signature-v3": sign(uri, deleted, now_ms), "X-HubSpot-Request-Timestamp": now_ms}
        assert post_webhook(server, deleted, signed)[0] == 200
        gone = deal(ctx, "9100")
        assert (gone.status, gone.closed_reason) == (DealStatus.LOST, "Deleted in HubSpot")
    finally:
        server.stop()


def test_a_hubspot_stage_change_reaches_the_owner_in_slack_as_a_stage_card(webhook_ctx, slack, hubspot):
    from bot.channels.senders import build_senders
    from bot.demo import load_if_empty
    from scheduler.jobs import DrainOutbox
    from tests.doubles.people import SLACK_TEAM
    from tests.helpers.slack import chat_posts, header_of

    ctx = dataclasses.replace(
        webhook_ctx,
        settings=webhook_ctx.settings.model_copy(
            update={"slack_signing_secret": "s", "slack_bot_token": "xoxb-test", "slack_api_url": slack.url}
        ),
    )
    with ctx.sessions.begin() as db:
        workspace = get_or_create_workspace(db, Platform.SLACK, SLACK_TEAM, "Test team")
        load_if_empty(db, workspace.organization_id, ctx.playbooks, ctx.clock())
        person_by_email(db, workspace.organization_id, "rep@example.com").slack_user_id = "URILEY"
        db.flush()
        organization_id = workspace.organization_id
    with ctx.sessions.begin() as db:
        db.add(CrmConnection(organization_id=organization_id, system="hubspot", settings={"api_url": hubspot.url},
                             account_id=PORTAL, last_result={}))
    hubspot.put("9200", "Pied Piper", "qualifiedtobuy", "101", T0)
    server = BackgroundServer(create_app(ctx), **RUNNER_OPTIONS).start()
    try:
        uri = f"{server.url}/crm/hubspot/webhook"
        now_ms = str(int(FIXED_NOW.timestamp() * 1000))

        def webhook(stage: str) -> int:
            body = stage_event("9200", stage)
            headers = {"X-HubSpot-Signature-v3": sign(uri, body, now_ms), "X-HubSpot-Request-Timestamp": now_ms}
            return post_webhook(server, body, headers)[0]

        assert webhook("qualifiedtobuy") == 200  # created at Discovery: nothing to tell yet
        # HubSpot's search index has not caught up with the change the webhook announces: read by id
        hubspot.put("9200", "Pied Piper", "presentationscheduled", "101", FIXED_NOW - timedelta(minutes=1), indexed=False)
        assert webhook("presentationscheduled") == 200
        drain = DrainOutbox(build_senders)
        drain(ctx, lambda: FIXED_NOW)
        (card,) = chat_posts(slack)
        assert card["channel"] == "DURILEY"  # a direct message to the owner
        assert header_of(card) == "Pied Piper moved to Evaluation in HubSpot"
        blob = json.dumps(card["blocks"])
        assert "Gates left open in Discovery" in blob and "Confirm criteria" in blob

        assert webhook("presentationscheduled") == 200  # HubSpot retries, or a second sync: nothing more
        drain(ctx, lambda: FIXED_NOW)
        assert len(chat_posts(slack)) == 1
    finally:
        server.stop()


# -- CSV re-import records skipped gates too --------------------------------------------------------------


def test_a_csv_reimport_that_moves_a_deal_forward_records_the_skipped_gate(ctx, demo, tmp_path):
    from bot.importers.deals import import_deals

    csv = tmp_path / "deals.csv"
    csv.write_text("name,owner_email,stage,amount,close_date,crm_id\nAcme Corp,rep@example.com,evaluation,120000,2027-02-26,DEMO-001\n")
    with ctx.sessions.begin() as db:
        import_deals(db, demo.organization_id, csv, ctx.playbooks, now=FIXED_NOW)
    acme = deal(ctx, "DEMO-001")
    with ctx.sessions() as db:
        change = db.scalars(select(DealStageChange).where(DealStageChange.deal_id == acme.id).order_by(DealStageChange.id)).all()[-1]
    assert (change.from_stage_id, change.to_stage_id) == ("discovery", "evaluation")
    assert change.skipped_criteria  # the discovery criteria still open, as a move in chat records them


# -- the admin commands and the clock job ----------------------------------------------------------------


def test_connect_dry_run_sync_and_status_from_the_command_line(ctx, demo, salesforce, monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("CRM_BACKOFF_SECONDS", "0.01")
    assert main(["crm", "status"]) == 2
    assert "No CRM is connected" in capsys.readouterr().err
    assert main(["crm", "connect", "salesforce", "--login-url", salesforce.url, "--username", salesforce.username]) == 2
    assert "Salesforce needs --consumer-key, --private-key-file (JWT bearer flow) or --password-env" in capsys.readouterr().err
    assert main(["crm", "connect", "salesforce", "--login-url", salesforce.url, "--username", salesforce.username,
                 "--consumer-key", salesforce.consumer_key, "--private-key-file", str(salesforce.key_file)]) == 0
    assert "Local: salesforce connected" in capsys.readouterr().out
    salesforce.put("DEMO-001", "Acme Corp", "Value Proposition", "rep@example.com", T0, amount=120000.0, close_date="2027-02-26")
    salesforce.put("006D1", "Dry deal", "Prospecting", "rep@example.com", T0)
    salesforce.put("006D2", "Odd stage", "Pending Legal", "rep@example.com", T0)

    assert main(["crm", "sync", "--dry-run"]) == 0
    dry = capsys.readouterr().out
    assert "DRY RUN, nothing written." in dry and "1 would be created" in dry and "1 would be moved" in dry
    assert "unmapped (1 deal): Salesforce stage 'Pending Legal'" in dry
    assert deal(ctx, "006D1") is None and deal(ctx, "DEMO-001").stage_id == "discovery"
    assert count(ctx, OutboxMessage) == 0 and count(ctx, DealStageChange) == 5  # the demo's own history

    assert main(["crm", "sync"]) == 0
    assert "1 created" in capsys.readouterr().out
    assert deal(ctx, "DEMO-001").stage_id == "evaluation" and count(ctx, OutboxMessage) == 1
    assert main(["crm", "status"]) == 0
    status = capsys.readouterr().out
    assert "Local: salesforce, last sync " in status and "cursor: " in status
    assert "unmapped (1 deal): Salesforce stage 'Pending Legal'" in status
    assert "API usage: " in status


def test_the_clock_job_syncs_every_connected_organization(fast, demo, hubspot):
    from bot.channels.senders import build_senders
    from scheduler.jobs import make_jobs

    connect(fast, demo, "hubspot", {"api_url": hubspot.url}, PORTAL)
    hubspot.put("9300", "Clockwork", "appointmentscheduled", "102", T0)
    hubspot.put("9301", "Legal one", "1234567", "101", T0)  # "Legal Review", mapped by nobody
    line = make_jobs(build_senders)["crm-sync"].run(fast, lambda: FIXED_NOW)
    assert line == "crm-sync: Local 2 read, 1 created, 0 moved, 0 closed, 1 unmapped stages, 0 errors"
    assert deal(fast, "9300").stage_id == "awareness"
    with fast.sessions() as db:
        (hint,) = db.scalar(select(CrmConnection)).last_result["unmapped"]
    assert hint.startswith("HubSpot stage 'Legal Review (1234567)' of pipeline 'Sales Pipeline'")
    assert "add 'Legal Review' to `crm_stages:`" in hint


def test_a_deal_added_in_chat_is_linked_to_its_crm_record_by_name_not_duplicated(fast, demo, hubspot, chat_as):
    ctx = fast
    chat_as().say("add deal Pied Piper at discovery")
    connection = connect(ctx, demo, "hubspot", {"api_url": hubspot.url}, PORTAL)
    hubspot.put("9400", "Pied Piper", "presentationscheduled", "101", T0)
    report = run_sync(ctx, connection, FIXED_NOW)
    assert (report.created, report.moved) == (0, 1)
    with ctx.sessions() as db:
        (piper,) = db.scalars(select(Deal).where(Deal.name == "Pied Piper")).all()
    assert (piper.crm_id, piper.stage_id) == ("9400", "evaluation")



def test_the_stage_card_reaches_a_teams_rep_as_an_adaptive_card(teams_ctx, teams_web, salesforce):
    from functools import partial

    from bot.channels.teams_outbound import TeamsSender
    from bot.delivery import Drainer
    from handlers.proactive import compose
    from storage.people import find_workspace
    from tests.doubles.people import TEAMS_TENANT
    from tests.helpers.teams import actions, header, post, say

    web, connector = teams_web
    ctx = dataclasses.replace(teams_ctx, settings=teams_ctx.settings.model_copy(update={"crm_backoff_seconds": 0.01}))
    post(web, say(connector, "help"))  # Riley has talked to the bot in Teams: reachable there
    connector.wait_for(1)
    with ctx.sessions() as db:
        tenant = find_workspace(db, f"teams:{TEAMS_TENANT}")
    connection = connect(ctx, tenant, "salesforce", jwt_settings(salesforce))
    salesforce.put("DEMO-001", "Acme Corp", "Id. Decision Makers", "rep@example.com", T0, amount=120000.0, close_date="2027-02-26")
    assert run_sync(ctx, connection, FIXED_NOW).messages == 1
    drainer = Drainer(ctx.sessions, {Platform.TEAMS: TeamsSender(ctx)}, "test", lambda: FIXED_NOW, compose=partial(compose, ctx))
    assert drainer.drain().sent == 1
    sent = connector.activities()[-1]
    assert header(sent) == "Acme Corp moved to Evaluation in Salesforce"
    assert "Confirm criteria" in [a["title"] for a in actions(sent)]
    assert "Gates left open in Discovery" in json.dumps(sent)


# -- write-back of confirmations (optional, off by default) -------------------------------------------


def crm_drainer(ctx, now):
    from functools import partial

    from bot.delivery import Drainer, DrainPolicy
    from handlers.crm.writeback import CrmNoteSender
    from handlers.proactive import compose

    return Drainer(ctx.sessions, {Platform.CRM: CrmNoteSender(ctx)}, "test", lambda: now[0], DrainPolicy(base_backoff=1.0),
                   compose=partial(compose, ctx))


def confirm_requirements(chat_as) -> None:
    from tests.helpers.chat import open_form, submit

    chat = chat_as()
    submitted = submit(chat, open_form(chat), criteria=["requirements-documented"], buyer_name="Sam Buyer",
                       buyer_role="CFO", evidence="Call notes of 20 Nov")
    assert "Recorded: 1 criterion confirmed." in submitted.plain_text()


def test_confirmations_are_written_back_to_hubspot_through_the_outbox_when_switched_on(fast, demo, hubspot, chat_as):
    ctx = fast
    with ctx.sessions.begin() as db:
        db.scalar(select(Deal).where(Deal.name == "Acme Corp")).crm_id = "9500"
    connection = connect(ctx, demo, "hubspot", {"api_url": hubspot.url, "write_back": True}, PORTAL)
    confirm_requirements(chat_as)
    with ctx.sessions() as db:
        (row,) = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "crm-note")).all()
    assert (row.platform, row.target["crm_id"]) == (Platform.CRM, "9500")

    hubspot.throttle.append({"Retry-After": "1"})  # HubSpot says wait: the note waits in the outbox
    now = [FIXED_NOW]
    assert crm_drainer(ctx, now).drain().retried == 1 and hubspot.notes == []
    now[0] += timedelta(minutes=1)
    assert crm_drainer(ctx, now).drain().sent == 1
    (note,) = hubspot.notes
    body = note["properties"]["hs_note_body"]
    assert "The issue, likely causes and business requirements are written down" in body
    assert "Sam Buyer, CFO" in body and "Call notes of 20 Nov" in body and "Riley Chen" in body
    assert note["associations"][0]["to"]["id"] == "9500" and note["associations"][0]["types"][0]["associationTypeId"] == 214
    assert crm_drainer(ctx, now).drain().sent == 0  # once
    with ctx.sessions.begin() as db:
        db.get(CrmConnection, connection).settings = {"api_url": hubspot.url}  # write-back off (the default)
    chat = chat_as()
    from tests.helpers.chat import open_form, submit

    submit(chat, open_form(chat), criteria=["external-help-decided"])
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "crm-note")) == 1


def test_confirmations_are_written_back_to_salesforce_as_tasks(fast, demo, salesforce, chat_as):
    ctx = fast
    connect(ctx, demo, "salesforce", {**jwt_settings(salesforce), "write_back": True})
    salesforce.put("DEMO-001", "Acme Corp", "Needs Analysis", "rep@example.com", T0)
    confirm_requirements(chat_as)
    assert crm_drainer(ctx, [FIXED_NOW]).drain().sent == 1
    (task,) = salesforce.tasks
    assert (task["WhatId"], task["Status"]) == ("DEMO-001", "Completed")
    assert task["Subject"].startswith("Exit criterion confirmed: The issue, likely causes")
    assert "Sam Buyer, CFO" in task["Description"]


def test_an_unreachable_crm_is_reported_not_a_stack_trace(fast, demo, monkeypatch):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-na1-test")
    connection = connect(fast, demo, "hubspot", {"api_url": f"http://127.0.0.1:{port}"}, PORTAL)
    report = run_sync(fast, connection, FIXED_NOW, client=HubSpotClient(
        {"api_url": f"http://127.0.0.1:{port}"}, fast.settings, sleep=lambda _s: None))
    assert report.read == 0 and len(report.errors) == 1 and report.errors[0].startswith("HubSpot: cannot reach the API (MaxRetryError")
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN")
    missing = run_sync(fast, connection, FIXED_NOW)
    assert missing.errors == ["HubSpot: the environment variable HUBSPOT_ACCESS_TOKEN (a private app's access token) is not set"]


def test_the_managers_coaching_focus_follows_a_crm_move_past_open_gates(fast, demo, salesforce, chat_as):
    ctx = fast
    connection = connect(ctx, demo, "salesforce", jwt_settings(salesforce))
    salesforce.put("DEMO-001", "Acme Corp", "Id. Decision Makers", "rep@example.com", T0, amount=120000.0, close_date="2027-02-26")
    assert run_sync(ctx, connection, FIXED_NOW).moved == 1
    due = chat_as("manager@example.com").say("who should I coach?").plain_text()
    assert "moved Acme Corp on from Discovery with 3 exit criteria unconfirmed" in due


def test_a_hubspot_429_without_retry_after_waits_the_rate_limit_interval(fast, demo, hubspot):
    connection = connect(fast, demo, "hubspot", {"api_url": hubspot.url}, PORTAL)
    hubspot.put("9600", "Interval deal", "appointmentscheduled", "101", T0)
    hubspot.throttle.append({"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Max": "190",
                             "X-HubSpot-RateLimit-Remaining": "0"})
    hubspot.throttle.append({"X-HubSpot-RateLimit-Remaining": "3"})  # no hint at all: the back-off
    slept: list[float] = []
    report = run_sync(fast, connection, FIXED_NOW, client=hubspot_client(fast, hubspot, slept))
    assert (report.created, report.errors, slept) == (1, [], [10.0, 0.02])


def test_a_move_made_in_chat_is_not_undone_by_the_next_sync(fast, demo, salesforce, chat_as):
    """The query reads from its cursor inclusively; the record at the cursor was applied last run and,
    unchanged in the CRM, must not put back a stage the rep has moved since."""
    ctx = fast
    connection = connect(ctx, demo, "salesforce", jwt_settings(salesforce))
    salesforce.put("DEMO-002", "Initech", "Value Proposition", "rep@example.com", T0)
    run_sync(ctx, connection, FIXED_NOW)
    assert deal(ctx, "DEMO-002").stage_id == "evaluation"
    chat_as().say("move Initech to proposal")
    again = run_sync(ctx, connection, FIXED_NOW + timedelta(minutes=5))
    assert deal(ctx, "DEMO-002").stage_id == "proposal" and again.moved == 0
    salesforce.put("DEMO-002", "Initech", "Id. Decision Makers", "rep@example.com", T0 + timedelta(minutes=10))
    later = run_sync(ctx, connection, FIXED_NOW + timedelta(minutes=15))  # a real change in the CRM still lands
    assert later.moved == 1 and deal(ctx, "DEMO-002").stage_id != "proposal"


def test_an_amount_that_is_not_a_number_is_reported_and_the_sync_goes_on(fast, demo, hubspot):
    ctx = fast
    connection = connect(ctx, demo, "hubspot", {"api_url": hubspot.url}, PORTAL)
    hubspot.put("9200", "Nan Corp", "qualifiedtobuy", "101", T0, amount="NaN")
    hubspot.put("9201", "Fine Corp", "qualifiedtobuy", "101", T0 + timedelta(minutes=1))
    report = run_sync(ctx, connection, FIXED_NOW)
    assert deal(ctx, "9200") is None and deal(ctx, "9201") is not None
    assert any("9200" in e for e in report.errors), report.errors
    assert run_sync(ctx, connection, FIXED_NOW).errors == []  # the cursor moved past it


def test_a_hubspot_portal_leads_to_one_organization_and_a_reconnect_keeps_it(ctx, demo, hubspot, monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-test")
    connect_args = ["crm", "connect", "hubspot", "--api-url", hubspot.url]
    assert main([*connect_args, "--portal-id", PORTAL]) == 0
    assert main(connect_args) == 0  # a reconnect (new token, say) without --portal-id
    with ctx.sessions() as db:
        assert db.scalar(select(CrmConnection.account_id)) == PORTAL  # webhooks still find the organization
    with ctx.sessions.begin() as db:  # a second organization, through a Slack workspace of its own
        other = get_or_create_workspace(db, Platform.SLACK, "T-OTHER", "Other team", join_single=False)
        other_org = db.get(Organization, other.organization_id)
        other_org.name = "Other Co"
    capsys.readouterr()
    assert main([*connect_args, "--portal-id", PORTAL, "--org", "Other Co"]) == 2
    assert f"Portal {PORTAL} is already connected to the organization Local" in capsys.readouterr().err
