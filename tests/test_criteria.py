"""Exit-criteria confirmations: the checklist, confirming with buyer and evidence, un-confirming with a
reason, history, idempotency and permissions; through the router and through each real channel."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from sqlalchemy import func, select

from storage.models import CriterionEvent, Deal, DealStageChange
from tests.helpers.chat import open_form, submit
from tests.helpers.cli import run_cli


def events(ctx, deal_name: str = "Acme Corp") -> list[CriterionEvent]:
    with ctx.sessions() as db:
        deal_id = db.scalar(select(Deal.id).where(Deal.name == deal_name))
        return list(
            db.scalars(
                select(CriterionEvent).where(CriterionEvent.deal_id == deal_id).order_by(CriterionEvent.id)
            )
        )


def test_checklist_shows_each_criterion_with_who_confirmed_it(chat_as):
    reply = chat_as().say("confirm Acme")
    assert reply.header == "Acme Corp: Discovery exit criteria"
    assert "1 of 4 confirmed with the buyer." in reply.sections[0].text
    confirmed = next(s for s in reply.sections if s.title == "Confirmed")
    assert (
        "Dana Lee (VP Operations)" in confirmed.text
        and "late shipments cost about $40k a month" in confirmed.text
    )
    assert [b.label for b in reply.buttons] == ["Confirm criteria", "Un-confirm"]


def test_confirming_records_buyer_and_evidence_per_criterion(ctx, chat_as):
    chat = chat_as()
    form = open_form(chat)
    assert [f.id for f in form.fields] == ["criteria", "buyer_name", "buyer_role", "evidence"]
    assert [value for value, _ in form.fields[0].options] == [
        "requirements-documented",
        "external-help-decided",
        "decision-process-known",
    ]
    reply = submit(
        chat,
        form,
        criteria=["requirements-documented", "decision-process-known"],
        buyer_name="Sam Buyer",
        buyer_role="CFO",
        evidence="https://example.com/notes/acme-call-3",
    )
    assert "Recorded: 2 criteria confirmed." in reply.plain_text()
    assert "3 of 4 confirmed with the buyer." in reply.plain_text()
    recorded = events(ctx)[-2:]
    assert [
        (
            e.criterion_id,
            e.confirmed,
            e.buyer_name,
            e.buyer_role,
            e.actor.email if hasattr(e, "actor") else None,
        )
        for e in recorded
    ][0][:4] == ("requirements-documented", True, "Sam Buyer", "CFO")
    assert all(e.evidence == "https://example.com/notes/acme-call-3" and e.criterion_text for e in recorded)
    next_reply = chat.say("what's next for Acme")
    open_section = next(
        s for s in next_reply.sections if (s.title or "").startswith("Exit criteria not yet confirmed")
    )
    assert "(3 of 4 confirmed)" in open_section.title
    assert "The buyer has decided to look outside" in open_section.text
    done = next(s for s in next_reply.sections if s.title == "Already confirmed")
    assert "business requirements are written down" in done.text


def test_the_same_submission_twice_records_once(ctx, chat_as):
    chat = chat_as()
    form = open_form(chat)
    submit(chat, form, criteria=["external-help-decided"])
    again = submit(chat, form, criteria=["external-help-decided"])
    assert "Already recorded: this form was submitted before." in again.plain_text()
    assert len(events(ctx)) == 2  # the demo's one, and this one


def test_revoking_needs_a_reason_and_keeps_history(ctx, chat_as):
    chat = chat_as()
    chat.say("confirm acme")
    form = chat.click("Un-confirm").form
    assert [v for v, _ in form.fields[0].options] == ["pain-confirmed"]
    missing = submit(chat, form, criteria=["pain-confirmed"], reason="  ")
    assert missing.kind == "error" and "say why" in missing.plain_text()
    reply = submit(chat, form, criteria=["pain-confirmed"], reason="New CFO questions the cost estimate")
    assert "0 of 4 confirmed with the buyer." in reply.plain_text()
    assert "un-confirmed: New CFO questions the cost estimate" in reply.plain_text()
    history = events(ctx)
    assert [(e.criterion_id, e.confirmed) for e in history] == [
        ("pain-confirmed", True),
        ("pain-confirmed", False),
    ]
    assert history[0].buyer_name == "Dana Lee"  # nothing overwritten


def test_current_state_follows_the_latest_event_and_equals_a_rebuild_from_the_log(ctx, chat_as):
    """Checklists and summaries read each criterion's current state (criterion_status), written with each
    event; a back-dated event does not overwrite a newer one, and the state equals a rebuild from the log."""
    from datetime import timedelta

    from bot.confirmations import confirmed_criteria, rebuild_status, record
    from storage.models import CriterionStatus
    from tests.helpers.clock import FIXED_NOW

    chat = chat_as()
    form = open_form(chat)
    submit(chat, form, criteria=["requirements-documented", "decision-process-known"], buyer_name="Sam")
    chat.say("confirm acme")
    revoke = chat.click("Un-confirm").form
    reply = submit(chat, revoke, criteria=["pain-confirmed"], reason="New CFO")
    assert "2 of 4 confirmed with the buyer." in reply.plain_text()
    with ctx.sessions.begin() as db:
        acme = db.scalar(select(Deal).where(Deal.name == "Acme Corp"))
        record(
            db,
            {
                "organization_id": acme.organization_id,
                "deal_id": acme.id,
                "playbook_id": "enterprise",
                "stage_id": "discovery",
                "criterion_id": "decision-process-known",
                "confirmed": False,
                "created_at": FIXED_NOW - timedelta(days=10),  # older than the confirmation above
            },
        )

    def state(db):  # type: ignore[no-untyped-def]
        rows = db.execute(
            select(CriterionStatus.criterion_id, CriterionStatus.confirmed, CriterionStatus.event_id)
            .where(CriterionStatus.deal_id == acme.id)
            .order_by(CriterionStatus.criterion_id)
        )
        return [tuple(row) for row in rows]

    with ctx.sessions.begin() as db:
        assert confirmed_criteria(db, acme, "discovery") == {
            "requirements-documented",
            "decision-process-known",
        }
        kept = state(db)
        assert [(c, ok) for c, ok, _ in kept] == [
            ("decision-process-known", True),
            ("pain-confirmed", False),
            ("requirements-documented", True),
        ]
        rebuild_status(db)
        assert state(db) == kept
    assert "2 of 4 confirmed with the buyer." in chat.say("confirm acme").plain_text()


def test_bad_submissions_record_nothing(ctx, chat_as):
    chat = chat_as()
    form = open_form(chat)
    assert "pick at least one criterion" in submit(chat, form, criteria=[]).plain_text()
    too_long = submit(chat, form, criteria=["external-help-decided"], evidence="x" * 1001)
    assert "evidence is limited to 1000 characters and yours has 1001" in too_long.plain_text()
    unknown = submit(chat, form, criteria=["budget-approved"])
    assert "'budget-approved' is not an exit criterion of Discovery" in unknown.plain_text()
    chat.say("move acme to evaluation")
    moved = submit(chat, form, criteria=["external-help-decided"])
    assert "has moved to Evaluation since this form was opened, so nothing was recorded" in moved.plain_text()
    assert len(events(ctx)) == 1


def test_all_confirmed_means_the_move_is_no_skipped_gate(ctx, chat_as):
    chat = chat_as()
    submit(
        chat,
        open_form(chat),
        criteria=["requirements-documented", "external-help-decided", "decision-process-known"],
    )
    assert "All 4 exit criteria are confirmed" in chat.say("what's next for acme").plain_text()
    chat.say("move acme to evaluation")
    with ctx.sessions() as db:
        change = db.scalars(select(DealStageChange).order_by(DealStageChange.id.desc())).first()
        assert (change.to_stage_id, change.skipped_criteria) == ("evaluation", [])


def test_reps_cannot_confirm_other_reps_deals_but_their_manager_can(ctx, chat_as):
    assert chat_as("sam@example.com").say("confirm acme").kind in ("error", "refusal")
    manager = chat_as("manager@example.com")
    form = open_form(manager, "acme")
    submit(manager, form, criteria=["external-help-decided"], buyer_name="Dana Lee")
    assert events(ctx)[-1].actor_id is not None
    with ctx.sessions() as db:
        umbrella = db.scalar(select(Deal).where(Deal.name == "Umbrella Health"))
    forged = chat_as("rep@example.com").press("criteria.confirm", f"{umbrella.id}:proposal:abc")
    assert forged.kind == "refusal"


def test_renamed_criterion_keeps_its_history(ctx, chat_as, tmp_path):
    """History is attached to the criterion id, so editing a criterion's wording keeps it confirmed."""
    import dataclasses

    from bot.rendering import Renderer
    from playbooks.loader import load_library
    from tests.helpers.chat import Chat

    source = (ctx.settings.playbooks_dir / "enterprise.yaml").read_text()
    edited = tmp_path / "pb"
    edited.mkdir()
    (edited / "enterprise.yaml").write_text(
        source.replace(
            "The buying group has confirmed the business problem and what it costs them",
            "The buying group agrees on the problem and its yearly cost",
        )
    )
    (edited / "transactional.yaml").write_text(
        (ctx.settings.playbooks_dir / "transactional.yaml").read_text()
    )
    chat_as()  # loads the demo
    new_ctx = dataclasses.replace(ctx, playbooks=load_library(edited), renderer=Renderer())
    with ctx.sessions() as db:
        from storage.people import LOCAL_WORKSPACE, get_or_create_workspace

        workspace = get_or_create_workspace(db, *LOCAL_WORKSPACE)
    reply = Chat(new_ctx, workspace, "rep@example.com").say("confirm acme")
    confirmed = next(s for s in reply.sections if s.title == "Confirmed")
    assert "The buying group agrees on the problem and its yearly cost" in confirmed.text


def test_confirming_in_the_terminal_with_numbered_prompts(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/c.db"}
    script = "confirm acme\n1\n9\n1,3\nDana Lee\nVP Operations\nCall notes: requirements agreed\n"
    result = run_cli("chat", env=env, stdin=script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Confirm exit criteria: question 1 of 4" in out
    assert "Type numbers from 1 to 3." in out  # "9" was asked again
    assert "Recorded: 2 criteria confirmed." in out and "3 of 4 confirmed with the buyer." in out
    cancelled = run_cli("chat", env=env, stdin="confirm acme\n2\ncancel\nconfirm acme\n")
    assert "Cancelled: nothing was recorded." in cancelled.stdout
    assert cancelled.stdout.count("3 of 4 confirmed with the buyer.") == 2


# -- Slack: button, modal, submission -----------------------------------------------------------------


def test_confirming_in_slack_through_a_modal(ctx, slack_web):
    from tests.helpers.slack import TEAM, buttons_of, click, dm, event, post, wait_posts

    web, slack_api = slack_web
    event(web, dm("confirm acme"))
    (checklist,) = wait_posts(slack_api, 1)
    confirm_button = next(b for b in buttons_of(checklist) if b["text"]["text"] == "Confirm criteria")
    click(web, slack_api, confirm_button)
    assert slack_api.wait_for(lambda: slack_api.views)
    (opened,) = slack_api.views
    assert opened["method"] == "views.open" and opened["trigger_id"] == "123.456.abc"
    view = opened["view"]
    assert view["type"] == "modal" and view["title"]["text"] == "Confirm exit criteria"
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert inputs["criteria"]["element"]["type"] == "checkboxes" and inputs["criteria"]["optional"] is False
    assert all(len(o["text"]["text"]) <= 75 for o in inputs["criteria"]["element"]["options"])
    assert (
        inputs["evidence"]["element"]["multiline"] is True
        and inputs["evidence"]["element"]["max_length"] == 1000
    )
    values = {
        "criteria": {
            "criteria": {"type": "checkboxes", "selected_options": [{"value": "external-help-decided"}]}
        },
        "buyer_name": {"buyer_name": {"type": "plain_text_input", "value": "Dana Lee"}},
        "buyer_role": {"buyer_role": {"type": "plain_text_input", "value": None}},
        "evidence": {"evidence": {"type": "plain_text_input", "value": "Email from Dana, 20 Nov"}},
    }
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM, "domain": "test"},
        "user": {"id": "URILEY", "username": "riley", "team_id": TEAM},
        "api_app_id": "A0APP",
        "token": "legacy",
        "trigger_id": "456.789.def",
        "view": {**view, "id": "V0MODAL", "team_id": TEAM, "state": {"values": values}, "hash": "1700.abc"},
    }
    status, body = post(web, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert status == 200 and body == ""
    reply = wait_posts(slack_api, 2)[1]
    assert reply["channel"] == "DURILEY" and "Recorded: 1 criterion confirmed." in json.dumps(reply["blocks"])
    event_row = events(ctx)[-1]
    assert (event_row.criterion_id, event_row.buyer_name, event_row.evidence) == (
        "external-help-decided",
        "Dana Lee",
        "Email from Dana, 20 Nov",
    )
    post(
        web, urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
    )  # Slack retried it
    again = wait_posts(slack_api, 3)[2]  # the retry's own answer: its work is done once it is posted
    assert "Already recorded: this form was" in json.dumps(again["blocks"])
    assert len(events(ctx)) == 2


# -- Teams: button, card with inputs, submission ------------------------------------------------------


def test_confirming_in_teams_through_a_card_form(ctx, teams_web):
    from tests.helpers.teams import actions, activity, card, post, say

    web, bot_connector = teams_web
    post(web, say(bot_connector, "confirm acme"))
    checklist = bot_connector.wait_for(1)[0]
    confirm = next(a for a in actions(checklist) if a["title"] == "Confirm criteria")
    post(web, activity(bot_connector, value=confirm["data"]))
    form_card = card(bot_connector.wait_for(2)[1])
    inputs = {e["id"]: e for e in form_card["body"] if e["type"].startswith("Input.")}
    assert inputs["criteria"]["type"] == "Input.ChoiceSet" and inputs["criteria"]["isMultiSelect"] is True
    assert inputs["criteria"]["isRequired"] is True and len(inputs["criteria"]["choices"]) == 3
    assert inputs["evidence"]["isMultiline"] is True and inputs["evidence"]["maxLength"] == 1000
    (submit_action,) = form_card["actions"]
    assert submit_action["title"] == "Confirm"
    answers = {
        "criteria": "requirements-documented,decision-process-known",
        "buyer_name": "Dana Lee",
        "buyer_role": "VP Operations",
        "evidence": "",
    }
    post(web, activity(bot_connector, value={**submit_action["data"], **answers}))
    recorded = card(bot_connector.wait_for(3)[2])
    assert "Recorded: 2 criteria confirmed." in json.dumps(recorded)
    assert sorted(e.criterion_id for e in events(ctx)[-2:]) == [
        "decision-process-known",
        "requirements-documented",
    ]
    with ctx.sessions() as db:
        assert (
            db.scalar(
                select(func.count(CriterionEvent.id)).where(CriterionEvent.buyer_role == "VP Operations")
            )
            == 3
        )
