"""`check-playbooks` with a database configured: a stage whose id changed, or a criterion that was removed,
is valid YAML but strands deals, confirmations and quiz questions already stored. The real CLI warns about
each (after the usual OK line), says how to fix it, never writes to the database, and behaves as before
when there is no database."""

from __future__ import annotations

import dataclasses
import sqlite3

import pytest
from sqlalchemy import select

from bot.settings import BUNDLED_PLAYBOOKS_DIR
from playbooks.loader import load_library
from storage.models import Deal, QuizQuestion
from tests.helpers.chat import Chat, add_person, other_workspace
from tests.helpers.cli import run_cli
from tests.helpers.playbooks import edited_copy

RENAMED = (
    "  - id: evaluation\n    name: Evaluation\n",
    "  - id: technical-evaluation\n    name: Technical evaluation\n",
)
REMOVED_CRITERION = (
    "      - id: pain-confirmed\n        text: The buying group has confirmed the business problem and what it costs them\n",
    "",
)


def warnings_of(stdout: str) -> list[str]:
    first, *rest = stdout.splitlines()
    assert first.startswith("OK: 2 playbooks, 11 stages in "), stdout
    assert all(line.startswith("warning: ") for line in rest), stdout
    return rest


def test_a_renamed_stage_names_the_stranded_deals_and_the_stage_to_move_them_to(
    ctx, demo, database_url, tmp_path
):
    folder = edited_copy(tmp_path, RENAMED)
    env = {"DATABASE_URL": database_url}
    result = run_cli("check-playbooks", str(folder), env=env)
    assert result.returncode == 0, result.stderr  # warnings do not fail the check ...
    warnings = warnings_of(result.stdout)
    text = "\n".join(warnings)
    deal_warning = next(w for w in warnings if "Initech" in w)
    assert deal_warning == (
        "warning: organization \"Local\": 1 open deal at stage 'evaluation' of playbook 'enterprise', "
        "which that playbook no longer has: Initech"
    )
    assert "nearest current stage: \"Technical evaluation\" (id 'technical-evaluation')" in text
    assert "put back `id: evaluation`" in text  # keeping the id is the fix for a rename
    assert "in chat `move Initech to Technical evaluation`" in text
    assert "deals CSV re-import" in text
    # the starter questions about the old stage no longer lead to it
    assert "2 quiz questions with topic 'evaluation'" in text
    assert "enterprise-evaluation-1, enterprise-evaluation-2" in text
    assert "set their topic to 'technical-evaluation'" in text
    assert "Acme Corp" not in text and "Hooli" not in text  # deals at stages that still exist are fine
    strict = run_cli("check-playbooks", "--strict", str(folder), env=env)
    assert strict.returncode == 1 and strict.stdout == result.stdout  # ... unless asked to

    with ctx.sessions() as db:  # read, never written
        assert db.scalar(select(Deal.stage_id).where(Deal.name == "Initech")) == "evaluation"

    # following the advice: the move in chat, with the new playbooks loaded, clears the deal's warning
    renamed_ctx = dataclasses.replace(ctx, playbooks=load_library(folder))
    Chat(renamed_ctx, demo, "rep@example.com").say("move Initech to Technical evaluation")
    with ctx.sessions() as db:
        assert db.scalar(select(Deal.stage_id).where(Deal.name == "Initech")) == "technical-evaluation"
    after = warnings_of(run_cli("check-playbooks", str(folder), env=env).stdout)
    assert not any("Initech" in line for line in after)


def test_a_question_for_the_reps_of_a_stage_that_is_gone_reaches_nobody(ctx, demo, database_url, tmp_path):
    with ctx.sessions.begin() as db:
        question = db.scalar(select(QuizQuestion).where(QuizQuestion.external_id == "enterprise-discovery-1"))
        question.audience = "evaluation"
    folder = edited_copy(tmp_path, RENAMED)
    result = run_cli("check-playbooks", str(folder), env={"DATABASE_URL": database_url})
    text = "\n".join(warnings_of(result.stdout))
    assert (
        "1 quiz question for the reps of stage 'evaluation', which no checked playbook has, will reach nobody: "
        "enterprise-discovery-1"
    ) in text
    assert "set their audience to 'technical-evaluation'" in text


def test_a_removed_criterion_warns_about_its_confirmations(ctx, demo, database_url, tmp_path):
    folder = edited_copy(tmp_path, REMOVED_CRITERION)
    result = run_cli("check-playbooks", str(folder), env={"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    warnings = warnings_of(result.stdout)
    assert warnings[1] == (
        'warning: organization "Local": 1 confirmation of exit criterion \'pain-confirmed\' ("The buying group '
        "has confirmed the business problem and what it costs them\") at stage 'discovery' of playbook "
        "'enterprise' no longer counts: the stage has no such criterion (1 open deal: Acme Corp)"
    )
    assert "`python -m bot export confirmations`" in "\n".join(warnings)
    assert warnings[-1].startswith("warning: 1 problem in the data")


def test_unchanged_playbooks_give_no_warning(ctx, demo, database_url):
    result = run_cli("check-playbooks", "--strict", env={"DATABASE_URL": database_url})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"OK: 2 playbooks, 11 stages in {BUNDLED_PLAYBOOKS_DIR}\n"


@pytest.mark.parametrize("kind", ["missing", "empty file", "never migrated"])
def test_without_a_database_the_check_is_as_before(tmp_path, kind):
    folder = edited_copy(tmp_path, RENAMED)
    path = tmp_path / "enablement.db"
    if kind == "empty file":
        path.write_bytes(b"")
    elif kind == "never migrated":
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE notes (text TEXT)")
        connection.close()
    before = path.read_bytes() if path.exists() else None
    result = run_cli("check-playbooks", "--strict", str(folder), env={"DATABASE_URL": f"sqlite:///{path}"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"OK: 2 playbooks, 11 stages in {folder}\n"
    assert result.stderr == ""
    assert (path.read_bytes() if path.exists() else None) == before  # nothing created, nothing written


def test_each_organization_is_named_with_its_own_deals(ctx, demo, database_url, tmp_path):
    other = other_workspace(ctx)
    owner = add_person(ctx, other, "pat@other.example", "Pat Other")
    with ctx.sessions.begin() as db:
        for name in ("Globex", "Soylent", "Vandelay", "Wonka"):
            db.add(
                Deal(
                    organization_id=other.organization_id,
                    name=name,
                    owner_id=owner,
                    playbook_id="enterprise",
                    stage_id="evaluation",
                )
            )
    folder = edited_copy(tmp_path, RENAMED)
    warnings = warnings_of(run_cli("check-playbooks", str(folder), env={"DATABASE_URL": database_url}).stdout)
    stages = [w for w in warnings if "at stage 'evaluation'" in w]
    assert stages == [
        "warning: organization \"Local\": 1 open deal at stage 'evaluation' of playbook 'enterprise', "
        "which that playbook no longer has: Initech",
        "warning: organization \"Other\": 4 open deals at stage 'evaluation' of playbook 'enterprise', "
        "which that playbook no longer has: Globex, Soylent, Vandelay and 1 more",
    ]


def test_a_database_that_does_not_answer_is_a_warning():
    url = "postgresql+psycopg://bot:secret@127.0.0.1:1/enablement"  # nothing listens on port 1
    result = run_cli("check-playbooks", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert warnings_of(result.stdout) == [
        "warning: could not read the database (postgresql+psycopg://bot:***@127.0.0.1:1/enablement) to look for "
        "data these playbooks would strand: " + result.stdout.split("would strand: ", 1)[1].rstrip("\n")
    ]
    assert "secret" not in result.stdout
    assert run_cli("check-playbooks", "--strict", env={"DATABASE_URL": url}).returncode == 1
