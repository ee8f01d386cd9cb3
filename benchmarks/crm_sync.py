"""`python -m benchmarks.crm_sync`: Salesforce opportunities synced into PostgreSQL, and a HubSpot webhook to
the rep's direct message at the Slack double.

1. First sync of N opportunities from the Salesforce double (HTTPS on 127.0.0.1, simple-salesforce, pages of
   2,000 through queryMore), against the baseline of importing the same N deals from a CSV file
   (`bot.importers.deals.import_deals`) into another organization of the same database.
2. An incremental sync with 1% of the opportunities changed (half moved to the next stage, so they record
   skipped gates and queue a stage card; half with a new amount), against re-importing the whole CSV with the
   same 1% changed (a CSV has no "since": the whole file is read again).
3. A second incremental sync with nothing changed (it reads the records at the cursor again and writes nothing).
4. HubSpot webhook to Slack DM: a signed webhook POSTed to the real web app (the deal is read back from the
   HubSpot double and applied, the stage card queued), then the outbox job drains it to the Slack double.
   In production the clock runs the outbox job every 5 seconds, which adds up to 5 s to this figure.

    python -m benchmarks.crm_sync                       # 5,000 opportunities (a quick run)
    python -m benchmarks.crm_sync --opportunities 50000 # the issue's size

Needs the PostgreSQL server of the test suite (BENCH_PG, default postgresql+psycopg://postgres@127.0.0.1:5432).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import dataclasses
import hashlib
import hmac
import json
import os
import platform
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import insert

from benchmarks.data import fresh_database
from benchmarks.report import Figure, table
from bot.channels.senders import build_senders
from bot.context import AppContext
from bot.importers.deals import import_deals
from bot.rendering import Renderer
from bot.settings import BUNDLED_PLAYBOOKS_DIR, Settings
from bot.web import RUNNER_OPTIONS, create_app
from handlers.crm.sync import run_sync
from playbooks.loader import load_library
from scheduler.jobs import DrainOutbox
from storage import db
from storage.models import CrmConnection, Organization, Person, Platform, Workspace
from tests.doubles.hubspot import HubSpotDouble
from tests.doubles.salesforce import SalesforceDouble, rsa_key_pair
from tests.doubles.server import BackgroundServer
from tests.doubles.slack_api import SlackDouble

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday, 09:00 in Chicago: inside everyone's hours
SF_STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers",
             "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review"]
NEXT = {s: SF_STAGES[min(i + 1, len(SF_STAGES) - 1)] for i, s in enumerate(SF_STAGES)}
CSV_STAGE = {"Prospecting": "awareness", "Qualification": "discovery", "Needs Analysis": "discovery",
             "Value Proposition": "evaluation", "Id. Decision Makers": "evaluation", "Perception Analysis": "proposal",
             "Proposal/Price Quote": "proposal", "Negotiation/Review": "decision"}
REPS = 500
SECRET = "bench-app-secret"


def _server() -> str:
    return os.environ.get("BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432").rstrip("/")


def _organization(ctx: AppContext, name: str, slack_team: str | None = None) -> int:
    with ctx.sessions.begin() as s:
        organization = Organization(name=name, settings={})
        s.add(organization)
        s.flush()
        s.add(Workspace(organization_id=organization.id, platform=Platform.SLACK if slack_team else Platform.LOCAL,
                        external_id=slack_team or f"local-{name}", name=name))
        s.execute(
            insert(Person),
            [
                {"organization_id": organization.id, "email": f"rep{i}@bench.example", "name": f"Rep {i}",
                 "role": "rep", "timezone": "America/Chicago", "preferences": {},
                 "slack_user_id": f"UREP{i}" if slack_team else None}
                for i in range(REPS)
            ],
        )
        return organization.id


def _opportunities(sf: SalesforceDouble, count: int, rng: random.Random) -> list[dict]:
    rows = []
    for i in range(count):
        stage = rng.choice(SF_STAGES)
        row = {"id": f"006B{i:012d}", "name": f"Bench deal {i}", "stage": stage, "owner": f"rep{rng.randrange(REPS)}@bench.example",
               "amount": float(rng.randrange(5, 500) * 1000), "close": (NOW.date() + timedelta(days=rng.randrange(10, 300))).isoformat()}
        sf.put(row["id"], row["name"], stage, row["owner"], NOW - timedelta(days=2, seconds=-i), amount=row["amount"], close_date=row["close"])
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["name", "owner_email", "stage", "amount", "close_date", "crm_id", "playbook"])
        for r in rows:
            out.writerow([r["name"], r["owner"], CSV_STAGE[r["stage"]], f"{r['amount']:.0f}", r["close"], r["id"], "enterprise"])


def _timed(fn):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def run_sync_benchmark(url: str, count: int, seed: int, folder: Path) -> list[Figure]:
    rng = random.Random(seed)
    settings = Settings(database_url=url, playbooks_dir=BUNDLED_PLAYBOOKS_DIR, crm_backoff_seconds=0.05)
    engine = db.make_engine(url)
    ctx = AppContext(settings, engine, db.make_sessionmaker(engine), load_library(BUNDLED_PLAYBOOKS_DIR), Renderer(), clock=lambda: NOW)
    key_file, public = rsa_key_pair(folder)
    sf = SalesforceDouble(folder, public_key=public).start()
    os.environ["REQUESTS_CA_BUNDLE"] = str(sf.ca_bundle)
    try:
        crm_org = _organization(ctx, "CRM")
        csv_org = _organization(ctx, "CSV")
        with ctx.sessions.begin() as s:
            connection = CrmConnection(organization_id=crm_org, system="salesforce", last_result={}, settings={
                "login_url": sf.url, "username": sf.username, "consumer_key": sf.consumer_key, "private_key_file": str(key_file)})
            s.add(connection)
            s.flush()
            connection_id = connection.id
        rows = _opportunities(sf, count, rng)
        deals_csv = folder / "deals.csv"
        _write_csv(deals_csv, rows)

        def csv_import() -> None:
            with ctx.sessions.begin() as s:
                result = import_deals(s, csv_org, deals_csv, ctx.playbooks, now=NOW)
                assert not result.errors, result.errors[:3]

        csv_first, _ = _timed(csv_import)
        sync_first, first = _timed(lambda: run_sync(ctx, connection_id, NOW))
        assert first.created == count and not first.errors, first.render()

        changed = rng.sample(range(count), max(1, count // 100))
        for n, i in enumerate(changed):
            r = rows[i]
            if n % 2 == 0:
                r["stage"] = NEXT[r["stage"]]
            else:
                r["amount"] += 1000
            sf.put(r["id"], r["name"], r["stage"], r["owner"], NOW - timedelta(minutes=30, seconds=-n), amount=r["amount"], close_date=r["close"])
        _write_csv(deals_csv, rows)
        csv_again, _ = _timed(csv_import)
        sync_again, incremental = _timed(lambda: run_sync(ctx, connection_id, NOW))
        assert incremental.read >= len(changed) and not incremental.errors, incremental.render()
        sync_none, unchanged = _timed(lambda: run_sync(ctx, connection_id, NOW))
        assert unchanged.created == unchanged.moved == unchanged.updated == 0
        group = f"Salesforce sync, {count:,} opportunities"
        return [
            Figure(group, "first sync", sync_first, "s", csv_first, "CSV import of the same deals"),
            Figure(group, f"incremental, 1% changed ({incremental.moved} moved, {incremental.updated} updated, "
                   f"{incremental.messages} cards queued)", sync_again, "s", csv_again, "CSV re-import, same 1% changed"),
            Figure(group, f"incremental, nothing changed ({unchanged.read} read at the cursor)", sync_none, "s"),
            Figure(group, "first sync throughput", count / sync_first, "deals/s", count / csv_first, "CSV import"),
        ]
    finally:
        sf.stop()
        engine.dispose()


def _sign(uri: str, body: bytes, timestamp: str) -> str:
    digest = hmac.new(SECRET.encode(), f"POST{uri}{body.decode()}{timestamp}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def run_webhook_benchmark(url: str, deliveries: int) -> list[Figure]:
    settings = Settings(database_url=url, playbooks_dir=BUNDLED_PLAYBOOKS_DIR)
    engine = db.make_engine(url)
    slack = SlackDouble(users={}, clock=lambda: NOW.timestamp()).start()
    hubspot = HubSpotDouble().start()
    os.environ["HUBSPOT_ACCESS_TOKEN"] = hubspot.token
    settings = settings.model_copy(update={"hubspot_app_secret": SECRET, "slack_signing_secret": "s",
                                           "slack_bot_token": "xoxb-bench", "slack_api_url": slack.url})
    ctx = AppContext(settings, engine, db.make_sessionmaker(engine), load_library(BUNDLED_PLAYBOOKS_DIR), Renderer(), clock=lambda: NOW)
    ctx = dataclasses.replace(ctx)
    organization = _organization(ctx, "HubSpot", slack_team="TBENCH")
    with ctx.sessions.begin() as s:
        s.add(CrmConnection(organization_id=organization, system="hubspot", settings={"api_url": hubspot.url},
                            account_id="999", last_result={}))
    for i in range(deliveries):  # one rep each: Slack's per-channel pacing is not what is measured
        hubspot.owner(str(100 + i), f"rep{i}@bench.example")
    server = BackgroundServer(create_app(ctx), **RUNNER_OPTIONS).start()
    drain = DrainOutbox(build_senders)
    handled: list[float] = []
    to_dm: list[float] = []
    try:
        uri = f"{server.url}/crm/hubspot/webhook"
        stamp = str(int(NOW.timestamp() * 1000))

        async def post(deal_id: str) -> int:
            body = json.dumps([{"eventId": int(deal_id), "subscriptionId": 1, "portalId": 999, "appId": 1, "occurredAt": stamp,
                                "subscriptionType": "deal.propertyChange", "attemptNumber": 0, "objectId": int(deal_id),
                                "propertyName": "dealstage", "propertyValue": "x", "changeSource": "CRM_UI"}]).encode()
            headers = {"Content-Type": "application/json", "X-HubSpot-Signature-v3": _sign(uri, body, stamp),
                       "X-HubSpot-Request-Timestamp": stamp}
            async with aiohttp.ClientSession() as session, session.post(uri, data=body, headers=headers) as r:
                return r.status

        for i in range(deliveries):
            deal_id = str(5000 + i)
            hubspot.put(deal_id, f"Hook deal {i}", "qualifiedtobuy", str(100 + i), NOW - timedelta(hours=1))
            assert asyncio.run(post(deal_id)) == 200  # created: nothing to tell yet
            hubspot.put(deal_id, f"Hook deal {i}", "presentationscheduled", str(100 + i), NOW - timedelta(minutes=1))
            posts_before = len([m for m in slack.posted() if m["method"] == "chat.postMessage"])
            started = time.perf_counter()
            assert asyncio.run(post(deal_id)) == 200
            answered = time.perf_counter()
            drain(ctx, lambda: NOW)
            assert slack.wait_for(lambda b=posts_before: len([m for m in slack.posted() if m["method"] == "chat.postMessage"]) > b)
            done = time.perf_counter()
            handled.append((answered - started) * 1000)
            to_dm.append((done - started) * 1000)
    finally:
        server.stop()
        hubspot.stop()
        slack.stop()
        engine.dispose()
    group = f"HubSpot webhook to Slack DM ({deliveries} stage changes)"

    def p95(values: list[float]) -> float:
        return sorted(values)[max(0, int(len(values) * 0.95) - 1)]

    return [
        Figure(group, "webhook answered (deal read back, applied, card queued), median", statistics.median(handled), "ms"),
        Figure(group, "webhook answered, p95", p95(handled), "ms"),
        Figure(group, "webhook to stage card at the Slack double (outbox job run at once), median", statistics.median(to_dm), "ms"),
        Figure(group, "webhook to stage card, p95", p95(to_dm), "ms"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.crm_sync", description=__doc__.split("\n\n")[0])
    parser.add_argument("--opportunities", type=int, default=5000)
    parser.add_argument("--webhooks", type=int, default=30, help=f"at most {REPS}")
    parser.add_argument("--seed", type=int, default=20261203)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, fresh_database(_server() + "/postgres") as (_label, url):
        figures = run_sync_benchmark(url, args.opportunities, args.seed, Path(tmp))
    print(table(figures), flush=True)
    with fresh_database(_server() + "/postgres") as (_label, url):
        figures += run_webhook_benchmark(url, args.webhooks)
    print(table(figures))
    print(
        f"\nMachine: Python {platform.python_version()}, {platform.platform()}, {os.cpu_count()} CPUs; "
        f"run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {time.perf_counter() - started:.0f} s; "
        f"seed {args.seed}; {REPS} reps; PostgreSQL at {_server()}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
