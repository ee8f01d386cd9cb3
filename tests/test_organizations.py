"""Organizations on deploy day: one import serves Slack, Teams and the terminal; several organizations are
named with --org; a second workspace is linked by an admin, never let in on its own."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from bot.web import create_app
from storage.models import Organization, Person, Platform
from storage.people import get_or_create_workspace
from tests.doubles.people import SLACK_SECRET, SLACK_TEAM, TEAMS_TENANT
from tests.doubles.server import BackgroundServer
from tests.helpers.cli import run_cli
from tests.helpers.slack import dm, event, header_of, wait_posts
from tests.helpers.teams import header, say
from tests.helpers.teams import post as teams_post

PEOPLE = """email,name,role,manager_email,slack_user_id,teams_user_id,timezone
morgan@acme.example,Morgan Patel,manager,,UMORGAN,29:1morgan,America/Chicago
riley@acme.example,Riley Chen,rep,morgan@acme.example,URILEY,29:1riley,America/Chicago
nia@example.com,Nia New,enablement,,,,Europe/Berlin
"""
DEALS = """name,owner_email,stage,amount,close_date,crm_id
Acme Corp,riley@acme.example,evaluation,120000,2027-02-26,SF-1
"""


@pytest.fixture
def csvs(tmp_path):
    (tmp_path / "people.csv").write_text(PEOPLE)
    (tmp_path / "deals.csv").write_text(DEALS)
    return tmp_path / "people.csv", tmp_path / "deals.csv"


@pytest.fixture
def deployed(ctx, slack, connector) -> Iterator[tuple[BackgroundServer, object, object]]:
    """The web app as a single-install deployment runs it: one Slack bot token, one Teams app."""
    settings = ctx.settings.model_copy(
        update={"slack_signing_secret": SLACK_SECRET, "slack_bot_token": "xoxb-test", "slack_api_url": slack.url}
    )
    web = BackgroundServer(create_app(dataclasses.replace(ctx, settings=settings))).start()
    yield web, slack, connector
    web.stop()


def cli(database_url: str, *args: str, stdin: str = ""):  # type: ignore[no-untyped-def]
    return run_cli(*args, env={"DATABASE_URL": database_url}, stdin=stdin)


def test_one_import_serves_slack_teams_and_the_terminal(deployed, csvs, ctx, database_url):
    web, slack, connector = deployed
    people, deals = csvs
    imported = cli(database_url, "import", "people", str(people))
    assert imported.returncode == 0, imported.stderr
    assert cli(database_url, "import", "deals", str(deals)).returncode == 0

    event(web, dm("what's next for Acme?"))  # Riley, by the Slack id in the CSV
    (in_slack,) = wait_posts(slack, 1)
    assert header_of(in_slack) == "Acme Corp: Evaluation"

    teams_post(web, say(connector, "what's next for Acme?"))  # Riley again, by the Teams id in the CSV
    (in_teams,) = connector.wait_for(1)
    assert header(in_teams) == "Acme Corp: Evaluation"

    terminal = cli(database_url, "chat", "--as", "riley@acme.example", stdin="what's next for Acme?\n")
    assert terminal.returncode == 0 and "Acme Corp: Evaluation" in terminal.stdout, terminal.stderr

    event(web, dm("who should I coach?", user="UMORGAN"))  # the manager, with the team the CSV gave him
    morgan = wait_posts(slack, 2)[1]
    assert "Riley Chen" in str(morgan["blocks"])

    with ctx.sessions() as db:  # nobody was created twice on first contact
        assert db.scalar(select(func.count()).select_from(Person)) == 3
        assert db.scalar(select(func.count()).select_from(Organization)) == 1
    listing = cli(database_url, "org", "list")
    assert listing.returncode == 0
    (line,) = listing.stdout.strip().splitlines()
    assert f"local, slack:{SLACK_TEAM}, teams:{TEAMS_TENANT}; 3 people, 1 open deals" in line


def test_with_several_organizations_commands_ask_which(csvs, ctx, database_url):
    people, deals = csvs
    assert cli(database_url, "import", "people", str(people)).returncode == 0
    with ctx.sessions.begin() as db:  # another customer installs the app (OAuth): an organization of its own
        get_or_create_workspace(db, Platform.SLACK, "T0GLOBEX", name="Globex", join_single=False)

    unnamed = cli(database_url, "import", "deals", str(deals))
    assert unnamed.returncode == 2
    assert "several organizations; say which with --org NAME" in unnamed.stderr
    assert "Local (id 1): local; 3 people" in unnamed.stderr and "Globex (id 2): slack:T0GLOBEX" in unnamed.stderr

    typo = cli(database_url, "import", "deals", str(deals), "--org", "Locl")
    assert typo.returncode == 2 and "No organization called \"Locl\". Did you mean 'Local'?" in typo.stderr

    renamed = cli(database_url, "org", "rename", "local", "Acme Corp")
    assert renamed.returncode == 0 and 'is now "Acme Corp"' in renamed.stdout
    named = cli(database_url, "import", "deals", str(deals), "--org", "acme corp")
    assert named.returncode == 0, named.stderr
    with ctx.sessions() as db:
        assert db.scalars(select(Organization.name).order_by(Organization.id)).all() == ["Acme Corp", "Globex"]


def test_a_second_workspace_gets_no_data_until_an_admin_links_it(deployed, csvs, ctx, database_url):
    web, slack, _ = deployed
    people, deals = csvs
    assert cli(database_url, "import", "people", str(people)).returncode == 0
    assert cli(database_url, "import", "deals", str(deals)).returncode == 0
    event(web, dm("my deals"))  # the deployment's Slack workspace joins the one organization
    wait_posts(slack, 1)

    # Nia writes from another Slack workspace: it starts an organization of its own, she sees nothing
    event(web, dm("what's next for Acme?", user="UNEW"), team="T0SECOND")
    refused = wait_posts(slack, 2)[1]
    assert "Acme Corp: Evaluation" not in str(refused["blocks"])
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Organization)) == 2

    linked = cli(database_url, "org", "link", "slack:T0SECOND", "--to", "Local")
    assert linked.returncode == 0, linked.stderr
    assert "slack:T0SECOND now leads to Local." in linked.stdout
    assert "1 person matched by email, 0 added." in linked.stdout and "was removed" in linked.stdout

    # now she is the imported Nia of enablement (matched by email), and the organization's deals are there
    event(web, dm("what's next for Acme?", user="UNEW"), team="T0SECOND")
    answer = wait_posts(slack, 3)[2]
    assert header_of(answer) == "Acme Corp: Evaluation"
    with ctx.sessions() as db:
        nia = db.scalar(select(Person).where(Person.slack_user_id == "UNEW"))
        assert (nia.email, nia.role.value, nia.name) == ("nia@example.com", "enablement", "Nia New")
        assert db.scalar(select(func.count()).select_from(Organization)) == 1


def test_link_refuses_to_merge_an_organization_that_has_its_own_data(csvs, ctx, database_url):
    people, deals = csvs
    assert cli(database_url, "import", "people", str(people)).returncode == 0
    with ctx.sessions.begin() as db:
        get_or_create_workspace(db, Platform.SLACK, "T0GLOBEX", name="Globex", join_single=False)
    has_data = cli(database_url, "import", "deals", str(deals), "--org", "Globex")
    assert has_data.returncode == 1  # Riley is not a person of Globex: the row is refused, nothing else
    with ctx.sessions.begin() as db:
        globex = db.scalar(select(Organization).where(Organization.name == "Globex"))
        db.add(Person(organization_id=globex.id, email="x@globex.example", name="X", preferences={}))
    deals.write_text(DEALS.replace("riley@acme.example", "x@globex.example"))
    assert cli(database_url, "import", "deals", str(deals), "--org", "Globex").returncode == 0
    refused = cli(database_url, "org", "link", "slack:T0GLOBEX", "--to", "Local")
    assert refused.returncode == 2
    assert 'leads to "Globex", which has data of its own (1 deals)' in refused.stderr
    assert "nothing was changed" in refused.stderr
    with ctx.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Organization)) == 2


def test_a_takeaway_question_goes_where_the_rep_can_be_reached(slack_ctx):
    from storage.models import OutboxMessage, Workspace
    from storage.people import person_by_email
    from tests.helpers.chat import Chat

    with slack_ctx.sessions.begin() as db:
        slack_way_in = get_or_create_workspace(db, Platform.SLACK, SLACK_TEAM)
    manager = Chat(slack_ctx, slack_way_in, "manager@example.com")
    (ask,) = manager.say("coached Riley on pipeline: cleaned up close dates").buttons
    unreachable = manager.press(ask.action, ask.value)
    assert "I can't reach Riley Chen in Slack, Teams or here yet" in unreachable.plain_text()
    with slack_ctx.sessions.begin() as db:  # Riley writes to the bot in Slack once
        person_by_email(db, slack_way_in.organization_id, "rep@example.com").slack_user_id = "URILEY"
    assert "I'll ask Riley Chen for their takeaway" in manager.press(ask.action, ask.value).plain_text()
    with slack_ctx.sessions() as db:
        (row,) = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "takeaway")).all()
        assert row.platform == Platform.SLACK and db.get(Workspace, row.workspace_id).external_id == SLACK_TEAM
