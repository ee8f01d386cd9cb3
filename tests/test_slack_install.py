"""Installing the Slack app: the endpoint without configuration, the OAuth install into a new workspace (and
a forged state refused), the manifest against what the app listens to, Socket Mode's token, and logs that
hold no OAuth codes nor refused request bodies."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import aiohttp

from bot.web import create_app
from storage.people import find_workspace
from tests.doubles.server import BackgroundServer
from tests.helpers.slack import SECRET, TEAM, dm, signed_headers


def test_slack_endpoint_without_configuration_says_so(ctx):
    server = BackgroundServer(create_app(ctx)).start()
    try:

        async def send():
            async with aiohttp.ClientSession() as s, s.post(f"{server.url}/slack/events", data=b"{}") as r:
                return r.status, await r.json()

        status, body = asyncio.run(send())
    finally:
        server.stop()
    assert status == 503 and "set SLACK_SIGNING_SECRET" in body["error"]


def test_oauth_install_stores_the_installation_and_its_token_sends(ctx, slack):
    from bot.channels.slack_install import token_lookup

    settings = ctx.settings.model_copy(
        update={
            "slack_signing_secret": SECRET,
            "slack_client_id": "111.222",
            "slack_client_secret": "client-secret",
            "slack_state_secret": "state-secret",
            "slack_api_url": slack.url,
        }
    )
    oauth_ctx = dataclasses.replace(ctx, settings=settings)
    server = BackgroundServer(create_app(oauth_ctx)).start()
    try:

        async def install() -> tuple[int, str, int, str]:
            async with aiohttp.ClientSession() as session:
                async with session.get(f"{server.url}/slack/install", allow_redirects=False) as page:
                    body = await page.text()
                    status = page.status
                    location = page.headers.get("Location", "")
                    # Bolt marks its state cookie Secure (a browser returns it over https); send it as one would.
                    cookie = "; ".join(f"{k}={v.value}" for k, v in page.cookies.items())
                authorize = location or body
                state = authorize.split("state=")[1].split("&")[0].split('"')[0]
                redirect = f"{server.url}/slack/oauth_redirect?code=abc123&state={state}"
                async with session.get(redirect, headers={"Cookie": cookie}) as done:
                    return status, authorize, done.status, await done.text()

        status, authorize, done_status, done_body = asyncio.run(install())
    finally:
        server.stop()
    assert status in (200, 302)
    assert (
        "slack.com/oauth/v2/authorize" in authorize
        and "client_id=111.222" in authorize
        and "commands" in authorize
    )
    assert done_status == 200, done_body
    assert slack.calls_to("oauth.v2.access")[0].args["code"] == "abc123"
    with ctx.sessions() as db:  # the install made the workspace: admins can import into it at once
        workspace = find_workspace(db, "slack:T0NEW")
        assert workspace is not None and workspace.name == "New Co"
        workspace_id = workspace.id
    assert token_lookup(oauth_ctx)(workspace_id) == "xoxb-installed-abc123"


def test_oauth_redirect_with_a_forged_state_is_refused(ctx, slack):
    settings = ctx.settings.model_copy(
        update={
            "slack_signing_secret": SECRET,
            "slack_client_id": "111.222",
            "slack_client_secret": "client-secret",
            "slack_api_url": slack.url,
        }
    )
    server = BackgroundServer(create_app(dataclasses.replace(ctx, settings=settings))).start()
    try:

        async def forged() -> int:
            async with (
                aiohttp.ClientSession() as s,
                s.get(f"{server.url}/slack/oauth_redirect?code=abc&state=forged") as r,
            ):
                return r.status

        assert asyncio.run(forged()) == 400
    finally:
        server.stop()
    assert slack.calls_to("oauth.v2.access") == []


def test_the_manifest_matches_what_the_app_listens_to():
    import yaml

    from bot.channels.slack_bolt_app import BOT_SCOPES
    from tests.helpers.cli import REPO

    manifest = yaml.safe_load((REPO / "slack" / "manifest.yaml").read_text())
    assert sorted(manifest["oauth_config"]["scopes"]["bot"]) == sorted(BOT_SCOPES)
    assert sorted(manifest["settings"]["event_subscriptions"]["bot_events"]) == [
        "app_home_opened",
        "app_mention",
        "message.im",
    ]
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/playbook" and command["url"].endswith("/slack/events")
    assert manifest["settings"]["interactivity"]["request_url"].endswith("/slack/events")
    assert manifest["oauth_config"]["redirect_urls"] == ["https://YOUR-HOST/slack/oauth_redirect"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_socket_mode_needs_an_app_token(tmp_path):
    from tests.helpers.cli import run_cli

    result = run_cli(
        "socket", env={"DATABASE_URL": f"sqlite:///{tmp_path}/s.db", "SLACK_BOT_TOKEN": "xoxb-x"}
    )
    assert result.returncode == 2
    assert "Socket Mode needs SLACK_APP_TOKEN" in result.stderr


def test_logs_hold_no_oauth_codes_nor_refused_request_bodies(ctx, slack, caplog):
    import logging

    from slack_bolt.request.async_request import AsyncBoltRequest

    from bot.channels.slack import SlackChannel
    from bot.web import RUNNER_OPTIONS

    caplog.set_level(logging.DEBUG)
    settings = ctx.settings.model_copy(
        update={
            "slack_signing_secret": SECRET,
            "slack_client_id": "111.222",
            "slack_client_secret": "client-secret",
            "slack_api_url": slack.url,
        }
    )
    oauth_ctx = dataclasses.replace(ctx, settings=settings)
    server = BackgroundServer(create_app(oauth_ctx), **RUNNER_OPTIONS).start()
    try:

        async def redirect() -> int:
            async with (
                aiohttp.ClientSession() as s,
                s.get(f"{server.url}/slack/oauth_redirect?code=CODE0SECRET&state=STATE0SECRET") as r,
            ):
                return r.status

        assert asyncio.run(redirect()) == 400
    finally:
        server.stop()
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any('"GET /slack/oauth_redirect" 400' in line for line in access), access
    assert "CODE0SECRET" not in caplog.text and "STATE0SECRET" not in caplog.text

    # Bolt itself (as in Socket Mode or any path that reaches it unverified) logs no refused body either.
    body = json.dumps({"type": "event_callback", "team_id": TEAM, "event": dm("my pipeline secret")})
    bolt = SlackChannel(oauth_ctx).app
    refused = asyncio.run(
        bolt.async_dispatch(
            AsyncBoltRequest(
                body=body,
                headers={**signed_headers(body, secret="wrong"), "content-type": "application/json"},
            )
        )
    )
    assert refused.status == 401
    assert "my pipeline secret" not in caplog.text
