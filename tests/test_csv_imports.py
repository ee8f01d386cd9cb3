"""People and deals arrive as CSV: bad rows are reported by line, good rows kept, re-imports update."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.importers.csvfile import CsvFileError
from bot.importers.deals import import_deals
from bot.importers.people import import_people
from storage.models import Deal, DealStageChange, DealStatus, Person, Role
from storage.people import LOCAL_WORKSPACE, get_or_create_workspace
from tests.helpers.cli import run_cli

PEOPLE_HEADER = "email,name,role,manager_email,slack_user_id,teams_user_id,timezone\n"
DEALS_HEADER = "name,owner_email,stage,amount,close_date,crm_id\n"


@pytest.fixture
def workspace(ctx):
    with ctx.sessions.begin() as session:
        return get_or_create_workspace(session, *LOCAL_WORKSPACE)


def people(ctx, workspace, tmp_path, body: str, name: str = "people.csv"):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    with ctx.sessions.begin() as session:
        ws = session.merge(workspace)
        result = import_people(session, ws.organization_id, path)
    return result, [e.replace(str(tmp_path) + "/", "") for e in result.errors]


def deals(ctx, workspace, tmp_path, body: str):
    path = tmp_path / "deals.csv"
    path.write_text(body, encoding="utf-8")
    with ctx.sessions.begin() as session:
        result = import_deals(session, workspace.organization_id, path, ctx.playbooks)
    return result, [e.replace(str(tmp_path) + "/", "") for e in result.errors]


def test_people_import_reports_bad_rows_by_line_and_keeps_good_ones(ctx, workspace, tmp_path):
    body = PEOPLE_HEADER + (
        "boss@example.com,Bea Boss,manager,,U01,,America/Chicago\n"
        "ana@example.com,Ana Rep,rep,boss@example.com,U02,,America/Chicago\n"
        "not-an-email,Nobody,rep,,,,\n"
        "ben@example.com,Ben Rep,salesperson,boss@example.com,,,\n"
        "cat@example.com,Cat Rep,rep,boss@example.com,,,Mars/Olympus\n"
        "dan@example.com,,rep,,,,\n"
        "eve@example.com,Eve Rep,rep,ghost@example.com,,,\n"
        "ana@example.com,Ana Again,rep,,,,\n"
    )
    result, errors = people(ctx, workspace, tmp_path, body)
    assert errors == [
        "people.csv:4: email 'not-an-email' is not an email address",
        "people.csv:5: role 'salesperson' must be rep, manager or enablement",
        "people.csv:6: timezone 'Mars/Olympus' is not an IANA time zone name (like America/Chicago or Europe/Berlin)",
        "people.csv:7: name is empty",
        "people.csv:8: manager_email ghost@example.com is not a known person (add them to this file first)",
        "people.csv:9: ana@example.com is already on line 3",
    ]  # in line order, whichever check found them
    assert (result.created, result.updated) == (2, 0)
    with ctx.sessions() as session:
        ana = session.scalar(select(Person).where(Person.email == "ana@example.com"))
        assert (ana.name, ana.role, ana.timezone, ana.slack_user_id) == (
            "Ana Rep",
            Role.REP,
            "America/Chicago",
            "U02",
        )
        assert ana.manager.email == "boss@example.com"


def test_people_reimport_updates_instead_of_duplicating(ctx, workspace, tmp_path):
    people(
        ctx,
        workspace,
        tmp_path,
        PEOPLE_HEADER
        + "boss@example.com,Bea Boss,manager,,,,\nana@example.com,Ana Rep,rep,boss@example.com,,,\n",
    )
    result, errors = people(
        ctx,
        workspace,
        tmp_path,
        PEOPLE_HEADER + "ANA@example.com,Ana Moved,manager,,,,Europe/Berlin\n",
        name="again.csv",
    )
    assert errors == [] and (result.created, result.updated) == (0, 1)
    with ctx.sessions() as session:
        assert session.scalar(select(func.count(Person.id))) == 2
        ana = session.scalar(select(Person).where(Person.email == "ana@example.com"))
        assert (ana.name, ana.role, ana.timezone, ana.manager_id) == (
            "Ana Moved",
            Role.MANAGER,
            "Europe/Berlin",
            None,
        )


def test_reporting_cycles_are_rejected(ctx, workspace, tmp_path):
    body = (
        PEOPLE_HEADER + "a@example.com,A,manager,b@example.com,,,\nb@example.com,B,manager,a@example.com,,,\n"
    )
    result, errors = people(ctx, workspace, tmp_path, body)
    assert errors == [
        "people.csv:2: reporting line loops back: a@example.com -> b@example.com -> a@example.com",
        "people.csv:3: manager_email a@example.com was rejected on line 2 "
        "(reporting line loops back: a@example.com -> b@example.com -> a@example.com)",
    ]
    assert result.created == 0
    # A loop through someone already stored is caught too, and the stored line is left as it was.
    people(
        ctx,
        workspace,
        tmp_path,
        PEOPLE_HEADER + "a@example.com,A,manager,,,,\nb@example.com,B,rep,a@example.com,,,\n",
    )
    result, errors = people(
        ctx, workspace, tmp_path, PEOPLE_HEADER + "a@example.com,A,manager,b@example.com,,,\n"
    )
    assert errors == [
        "people.csv:2: reporting line loops back: a@example.com -> b@example.com -> a@example.com"
    ]
    with ctx.sessions() as session:
        assert session.scalar(select(Person.manager_id).where(Person.email == "a@example.com")) is None


def test_missing_columns_and_encoding_reject_the_whole_file(ctx, workspace, tmp_path):
    with pytest.raises(
        CsvFileError, match=r"people.csv:1: missing column name \(the header must include email,name\)"
    ):
        people(ctx, workspace, tmp_path, "email,role\na@example.com,rep\n")
    (tmp_path / "latin.csv").write_bytes(
        PEOPLE_HEADER.encode() + "zoë@example.com,Zoë,rep,,,,\n".encode("latin-1")
    )
    with pytest.raises(CsvFileError, match="not UTF-8"), ctx.sessions.begin() as session:
        import_people(session, workspace.organization_id, tmp_path / "latin.csv")
    with ctx.sessions() as session:
        assert session.scalar(select(func.count(Person.id))) == 0


def test_excel_bom_and_extra_columns_are_fine(ctx, workspace, tmp_path):
    body = (
        "\ufeff"
        + PEOPLE_HEADER.strip()
        + ",favourite_colour\nzoe@example.com,Zoë Rep,rep,,,,Europe/Paris,green\n"
    )
    result, errors = people(ctx, workspace, tmp_path, body)
    assert errors == [] and result.created == 1


def test_deals_import(ctx, workspace, tmp_path):
    people(ctx, workspace, tmp_path, PEOPLE_HEADER + "ana@example.com,Ana Rep,rep,,,,\n")
    body = DEALS_HEADER + (
        'Acme Corp,ana@example.com,discovery,"$120,000",2027-02-26,SF-1\n'
        "Globex,ana@example.com,Proposal and business case,50000,,SF-2\n"
        "Initech,ghost@example.com,discovery,,,SF-3\n"
        "Hooli,ana@example.com,discvery,,,SF-4\n"
        "Umbrella,ana@example.com,discovery,lots,,SF-5\n"
        "Stark,ana@example.com,discovery,,31/12/2026,SF-6\n"
        "Wayne,ana@example.com,proposal,,,SF-7\n"
        ",ana@example.com,discovery,,,SF-8\n"
    )
    result, errors = deals(ctx, workspace, tmp_path, body)
    assert errors == [
        "deals.csv:4: owner_email 'ghost@example.com' is not a known person (import people first)",
        "deals.csv:5: stage 'discvery' is not a stage id or name in the playbooks (did you mean 'discovery'?)",
        "deals.csv:6: amount 'lots' is not a number",
        "deals.csv:7: close_date '31/12/2026' must be a date like 2026-12-31",
        "deals.csv:9: name is empty",
    ]
    assert (result.created, result.updated) == (3, 0)
    with ctx.sessions() as session:
        acme = session.scalar(select(Deal).where(Deal.crm_id == "SF-1"))
        assert (acme.name, acme.stage_id, int(acme.amount), str(acme.close_date)) == (
            "Acme Corp",
            "discovery",
            120000,
            "2027-02-26",
        )
        assert session.scalar(select(Deal.stage_id).where(Deal.crm_id == "SF-2")) == "proposal"


def test_deals_reimport_updates_by_crm_id_and_records_stage_changes(ctx, workspace, tmp_path):
    people(ctx, workspace, tmp_path, PEOPLE_HEADER + "ana@example.com,Ana Rep,rep,,,,\n")
    deals(ctx, workspace, tmp_path, DEALS_HEADER + "Acme,ana@example.com,discovery,100,,SF-1\n")
    result, errors = deals(
        ctx, workspace, tmp_path, DEALS_HEADER + "Acme Corporation,ana@example.com,evaluation,200,,SF-1\n"
    )
    assert errors == [] and (result.created, result.updated) == (0, 1)
    with ctx.sessions() as session:
        assert session.scalar(select(func.count(Deal.id))) == 1
        deal = session.scalar(select(Deal))
        assert (deal.name, deal.stage_id, int(deal.amount)) == ("Acme Corporation", "evaluation", 200)
        moves = session.scalars(select(DealStageChange.to_stage_id).order_by(DealStageChange.id)).all()
        assert moves == ["discovery", "evaluation"]


def test_stage_in_two_playbooks_needs_a_playbook_column(ctx, workspace, tmp_path):
    people(ctx, workspace, tmp_path, PEOPLE_HEADER + "ana@example.com,Ana Rep,rep,,,,\n")
    # Both bundled playbooks have a "Proposal"-like stage only in enterprise; "close" only in transactional.
    result, errors = deals(
        ctx,
        workspace,
        tmp_path,
        "name,owner_email,stage,playbook\nA,ana@example.com,close,transactional\nB,ana@example.com,close,enterprise\nC,ana@example.com,demo,nope\n",
    )
    assert errors == [
        "deals.csv:3: stage 'close' is not a stage id or name in the playbooks",
        "deals.csv:4: playbook 'nope' does not exist (known: enterprise, transactional)",
    ]
    assert result.created == 1


def test_import_command_prints_a_summary_and_exits_1_on_rejected_rows(tmp_path):
    (tmp_path / "people.csv").write_text(
        PEOPLE_HEADER + "a@example.com,A,rep,,,,\nbad,B,rep,,,,\n", encoding="utf-8"
    )
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    result = run_cli("import", "people", str(tmp_path / "people.csv"), env=env)
    assert result.returncode == 1
    assert result.stdout == (
        f"{tmp_path}/people.csv: 1 person created, 0 updated, 1 row rejected:\n"
        f"  {tmp_path}/people.csv:3: email 'bad' is not an email address\n"
    )
    missing = run_cli("import", "deals", str(tmp_path / "nope.csv"), env=env)
    assert (
        missing.returncode == 1
        and "no such file" in missing.stderr
        and "nothing was imported" in missing.stderr
    )


def test_import_merges_into_the_person_created_on_first_contact(ctx, workspace, tmp_path):
    from storage.models import Platform
    from storage.people import match_platform_person

    with ctx.sessions.begin() as session:  # wrote to the bot from Teams before being imported (no email)
        ws = session.merge(workspace)
        stand_in = match_platform_person(
            session, ws, Platform.TEAMS, "29:1nia", {"email": None, "name": "Nia", "timezone": None}
        )
        first_id = stand_in.id
    result, errors = people(
        ctx, workspace, tmp_path, PEOPLE_HEADER + "nia@example.com,Nia New,manager,,,29:1nia,Europe/Berlin\n"
    )
    assert errors == [] and (result.created, result.updated) == (0, 1)
    with ctx.sessions() as session:
        (nia,) = session.scalars(select(Person).where(Person.teams_user_id == "29:1nia")).all()
        assert (nia.id, nia.email, nia.role) == (first_id, "nia@example.com", Role.MANAGER)
        with ctx.sessions.begin() as writing:
            found = match_platform_person(writing, writing.merge(workspace), Platform.TEAMS, "29:1nia", None)
            assert found.id == first_id  # the bot now answers as the imported person


def test_a_platform_id_moves_to_the_imported_person_and_the_stand_in_steps_aside(ctx, workspace, tmp_path):
    from storage.models import Platform
    from storage.people import match_platform_person

    people(ctx, workspace, tmp_path, PEOPLE_HEADER + "ana@example.com,Ana Rep,rep,,,,\n")
    with ctx.sessions.begin() as session:
        ws = session.merge(workspace)
        match_platform_person(
            session, ws, Platform.SLACK, "UANA", {"email": None, "name": "Ana", "timezone": None}
        )
    people(
        ctx, workspace, tmp_path, PEOPLE_HEADER + "ana@example.com,Ana Rep,rep,,UANA,,\n", name="again.csv"
    )
    with ctx.sessions() as session:
        holders = session.scalars(select(Person).where(Person.slack_user_id == "UANA")).all()
        assert [p.email for p in holders] == ["ana@example.com"]
        stand_in = session.scalar(select(Person).where(Person.email == "uana@slack.invalid"))
        assert stand_in is not None and stand_in.active is False


def test_deals_csv_status_closes_deals_won_or_lost(ctx, demo, chat_as, tmp_path):
    path = tmp_path / "closed.csv"
    path.write_text(
        DEALS_HEADER.strip() + ",status\n"
        "Acme Corp,rep@example.com,discovery,,,DEMO-001,won\n"
        "Initech,rep@example.com,discovery,,,,maybe\n",
        encoding="utf-8",
    )
    with ctx.sessions.begin() as session:
        result = import_deals(session, demo.organization_id, path, ctx.playbooks)
    assert [e.replace(str(tmp_path) + "/", "") for e in result.errors] == [
        "closed.csv:3: status 'maybe' must be open, won or lost"
    ]
    with ctx.sessions() as session:
        assert session.scalar(select(Deal.status).where(Deal.crm_id == "DEMO-001")) == DealStatus.WON
    mine = chat_as().say("my deals").plain_text()
    assert "Acme Corp" not in mine and "Initech" in mine


def test_people_import_says_why_a_manager_was_rejected_in_line_order_with_plurals(tmp_path):
    header = "email,name,role,manager_email,slack_user_id,teams_user_id,timezone\n"
    (tmp_path / "people.csv").write_text(
        header
        + "a@example.com,A,manager,b@example.com,,,\n"  # 2: a -> b -> a
        + "b@example.com,B,manager,a@example.com,,,\n"  # 3
        + "c@example.com,C,rep,a@example.com,,,\n"  # 4: a was rejected
        + "d@example.com,D,rep,,,,\n",
        encoding="utf-8",
    )
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/i.db"}
    result = run_cli("import", "people", str(tmp_path / "people.csv"), env=env)
    lines = result.stdout.splitlines()
    assert lines[0].endswith("people.csv: 1 person created, 0 updated, 3 rows rejected:")
    assert [line.split("people.csv:")[1].split(":")[0] for line in lines[1:]] == ["2", "3", "4"]
    assert "manager_email a@example.com was rejected on line 2 (reporting line loops back" in lines[2]
    assert "c@example.com" not in result.stdout or "not a known person" not in result.stdout
