"""Forms as a newcomer fills them in: in the terminal (lists one per line, Enter skips an optional question,
a submission to fix asks again only what was wrong), in a Slack modal (response_action: errors) and in a
Teams card (sent back filled in). The coaching form's deal is matched like every other deal name."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from storage.models import CoachingSession, CriterionEvent, Deal, Platform, QuizQuestion
from storage.people import person_by_email
from tests.helpers.chat import add_deal
from tests.helpers.cli import run_cli, terminal


def test_the_three_newcomer_paths_succeed_in_the_terminal(tmp_path):
    """`new quiz question`, `log coaching` with "Acme", `confirm Acme` with empty optional fields."""
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/new.db"}
    quiz = (
        "new quiz question\ndiscovery\nWhich outcome ends Discovery?\n"
        "A signed contract\nConfirmed business problem and cost\nA product demo\n\n2\n\n\n"
    )
    result = run_cli("chat", "--as", "enablement@example.com", env=env, stdin=quiz)
    assert result.returncode == 0, result.stderr
    assert "One per line; an empty line ends the list." in result.stdout
    assert "Added question chat-discovery-" in result.stdout and "limit is 2" not in result.stdout

    coaching = "log coaching\n1\n3\nAcme\nMapped the buying group\nmy coaching\n"
    result = run_cli("chat", "--as", "manager@example.com", env=env, stdin=coaching)
    assert "Logged: coaching with Riley Chen on Skills & behaviors (Acme Corp)." in result.stdout

    confirm = "confirm Acme\n1\n1\n\n-\n\n"
    result = run_cli("chat", env=env, stdin=confirm)
    assert result.returncode == 0, result.stderr
    assert "Buyer who confirmed (name) (optional: press Enter to skip)" in result.stdout
    assert "Recorded: 1 criterion confirmed." in result.stdout
    assert "(-" not in result.stdout.split("Recorded:")[1]


def test_a_list_of_one_choice_is_asked_again_and_the_other_answers_are_kept(ctx, demo):
    script = (
        "new quiz question\npricing\nWho owns the budget?\nThe champion\n\n2\n\n\n"
        "The champion\nThe economic buyer\n\n"
    )
    out = terminal(ctx, demo, "enablement@example.com", script)
    assert "Choices, one per line (2 to 6): write at least 2, one per line." in out
    assert "You wrote: The champion" in out
    assert "Added question chat-pricing-" in out
    with ctx.sessions() as db:
        (question,) = db.scalars(select(QuizQuestion).where(QuizQuestion.topic == "pricing")).all()
        assert question.choices == ["The champion", "The economic buyer"] and question.answer == 1
        assert question.question == "Who owns the budget?"


def test_a_submission_to_fix_asks_again_only_the_wrong_field_and_keeps_the_rest(ctx, demo):
    add_deal(ctx, demo, "Acme Labs")
    script = "log coaching\n1\n4\nacme\nMapped the buying group\nAcme Labs\n"
    out = terminal(ctx, demo, "manager@example.com", script)
    assert '"acme" could be "Acme Corp" or "Acme Labs": write the one you mean.' in out
    assert "Log coaching: question 3 of 4" in out.split("could be")[1]  # only the deal is asked again
    assert "Logged: coaching with Riley Chen on Account (Acme Labs)." in out
    with ctx.sessions() as db:
        (session,) = db.scalars(select(CoachingSession)).all()
        assert session.note == "Mapped the buying group" and session.area == "account"


def test_optional_fields_are_skipped_with_enter_and_never_store_a_dash(ctx, demo):
    out = terminal(ctx, demo, "rep@example.com", "confirm acme\n1\n1\n-\n\n\n")
    assert "Recorded: 1 criterion confirmed." in out
    with ctx.sessions() as db:
        event = db.scalars(select(CriterionEvent).order_by(CriterionEvent.id.desc())).first()
        assert event.buyer_name is None and event.buyer_role is None and event.evidence is None


def test_the_end_of_the_input_leaves_cleanly(ctx, demo):
    out = terminal(ctx, demo, "rep@example.com", "my deals")  # no newline, then EOF (Ctrl-D)
    assert "Acme Corp" in out


def test_a_coaching_modal_with_an_ambiguous_deal_stays_open_with_the_field_marked(ctx, slack_web, demo):
    from storage.people import get_or_create_workspace
    from tests.doubles.people import SLACK_TEAM
    from tests.helpers.slack import post

    web, slack_api = slack_web
    with ctx.sessions.begin() as db:
        org = get_or_create_workspace(db, Platform.SLACK, SLACK_TEAM).organization_id
        person_by_email(db, org, "manager@example.com").slack_user_id = "UMORGAN"
        riley = person_by_email(db, org, "rep@example.com")
        for name in ("Acme Corp", "Acme Labs"):
            db.add(
                Deal(
                    organization_id=org,
                    name=name,
                    owner_id=riley.id,
                    playbook_id="enterprise",
                    stage_id="discovery",
                )
            ) if db.scalar(
                select(Deal).where(Deal.organization_id == org, Deal.name == name)
            ) is None else None
        riley_id = riley.id
    metadata = json.dumps({"a": "coaching.log", "v": "abc123", "c": ""})

    def submit(deal: str) -> tuple[int, str]:
        values = {
            "rep": {"rep": {"type": "static_select", "selected_option": {"value": str(riley_id)}}},
            "area": {"area": {"type": "static_select", "selected_option": {"value": "account"}}},
            "deal": {"deal": {"type": "plain_text_input", "value": deal}},
            "note": {"note": {"type": "plain_text_input", "value": "Mapped the buying group"}},
        }
        payload = {
            "type": "view_submission",
            "team": {"id": SLACK_TEAM},
            "user": {"id": "UMORGAN", "team_id": SLACK_TEAM},
            "view": {
                "type": "modal",
                "id": "V1",
                "callback_id": "bot-form",
                "private_metadata": metadata,
                "state": {"values": values},
            },
        }
        return post(web, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    status, body = submit("acme")
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "errors"
    assert answer["errors"] == {"deal": '"acme" could be "Acme Corp" or "Acme Labs": write the one you mean.'}
    with ctx.sessions() as db:
        assert db.scalars(select(CoachingSession)).all() == []
    status, body = submit("acme labs")
    assert status == 200 and body == ""
    from tests.helpers.slack import wait_posts

    (logged,) = wait_posts(slack_api, 1)
    assert "Logged: coaching with Riley Chen on Account (Acme Labs)." in json.dumps(logged)


def test_a_teams_card_to_fix_comes_back_filled_in(ctx, teams_web, demo):
    from storage.people import get_or_create_workspace
    from tests.doubles.people import TEAMS_TENANT
    from tests.helpers.teams import actions, activity, card, post, say

    web, bot_connector = teams_web
    morgan = {"id": "29:1morgan", "name": "Morgan Patel"}
    with ctx.sessions.begin() as db:
        org = get_or_create_workspace(db, Platform.TEAMS, TEAMS_TENANT).organization_id
        person_by_email(db, org, "manager@example.com").teams_user_id = "29:1morgan"
        riley = person_by_email(db, org, "rep@example.com")
        riley_id = str(riley.id)
    post(web, say(bot_connector, "log coaching", user=morgan))
    (submit,) = actions(bot_connector.wait_for(1)[0])
    answers = {"rep": riley_id, "area": "pipeline", "deal": "Umbrela", "note": "Forecast review"}
    post(web, activity(bot_connector, user=morgan, value={**submit["data"], **answers}))
    again = card(bot_connector.wait_for(2)[1])
    text = json.dumps(again)
    assert 'Riley Chen has no open deal called \\"Umbrela\\"' in text
    inputs = {e["id"]: e.get("value") for e in again["body"] if e.get("id")}
    assert inputs == {"rep": riley_id, "area": "pipeline", "deal": "Umbrela", "note": "Forecast review"}
    (resubmit,) = actions(bot_connector.wait_for(2)[1])
    assert resubmit["data"] == submit["data"]  # the same form (nonce): one log however often it is sent
    post(web, activity(bot_connector, user=morgan, value={**resubmit["data"], **answers, "deal": "acme"}))
    assert "Logged: coaching with Riley Chen on Pipeline (Acme Corp)." in json.dumps(
        card(bot_connector.wait_for(3)[2])
    )


def test_a_confirmation_to_fix_comes_back_with_the_evidence_field_marked_and_the_answers_kept(ctx, chat_as):
    from tests.helpers.chat import open_form, submit

    rep = chat_as()
    form = open_form(rep)
    answers = {"criteria": ["requirements-documented"], "buyer_name": "Dana Lee", "evidence": "x" * 1001}
    again = submit(rep, form, **answers)
    assert again.kind == "error" and again.form is not None
    assert dict(again.form.errors) == {
        "evidence": "evidence is limited to 1000 characters and yours has 1001; shorten it or link a document."
    }
    kept = dict(again.form.answers)
    assert kept["buyer_name"] == "Dana Lee" and kept["criteria"] == ("requirements-documented",)
    assert again.form.value == form.value  # the same form: submitting it again records once
    done = submit(rep, again.form, **{**answers, "evidence": "Call notes"})
    assert "Recorded: 1 criterion confirmed." in done.plain_text()


def test_the_terminal_edits_lines_recalls_history_and_leaves_on_ctrl_d(tmp_path):
    """A real terminal (a pseudo-terminal): the Up arrow recalls the last message instead of printing ^[[A,
    and Ctrl-D ends the chat with exit status 0."""
    import os
    import select
    import sys
    import time

    pty = pytest.importorskip("pty")
    from tests.helpers.cli import REPO

    pid, fd = pty.fork()
    if pid == 0:  # the child: the real command
        os.chdir(REPO)
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp_path}/tty.db"
        os.execv(sys.executable, [sys.executable, "-m", "bot", "chat"])
    seen = b""

    def until(marker: bytes, count: int = 1, timeout: float = 60) -> None:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while seen.count(marker) < count:
            assert time.monotonic() < deadline, seen.decode(errors="replace")[-500:]
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                seen += os.read(fd, 65536)

    until(b"you> ")
    os.write(fd, b"my deals\r")
    until(b"Your open deals")
    until(b"you> ", 2)
    os.write(fd, b"\x1b[A\r")  # Up arrow, Enter: "my deals" again
    until(b"Your open deals", 2)
    until(b"you> ", 3)
    os.write(fd, b"\x04")  # Ctrl-D
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.WEXITSTATUS(status) == 0
    assert b"^[[A" not in seen
