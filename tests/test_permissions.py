"""Who may use which command: reps, managers and enablement are each told plainly who can, in the
terminal and in Slack, and a forged button is refused by role."""

from __future__ import annotations

import json

from tests.helpers.cli import terminal


def test_manager_commands_tell_reps_and_enablement_who_can(ctx, demo):
    out = terminal(
        ctx,
        demo,
        "rep@example.com",
        "set coaching cadence to monthly\nwho should I coach?\npause nudges for 2 weeks\n",
    )
    assert "Pausing coaching nudges and weekly digests is for managers and enablement;" in out
    assert (
        "Setting a coaching cadence is for managers; ask your manager (Morgan Patel) if it needs doing."
        in out
    )
    assert "Seeing who is due for coaching is for managers;" in out
    assert "Nobody on your team is due" not in out
    out = terminal(ctx, demo, "enablement@example.com", "coaching cadence monthly\nlog coaching\n")
    assert "Setting a coaching cadence is for managers." in out
    assert "Logging coaching is for managers." in out
    out = terminal(ctx, demo, "manager@example.com", "new quiz question\n")
    assert "Writing quiz questions is for enablement; ask your enablement team to add it." in out
    with ctx.sessions() as db:
        from storage.people import person_by_email

        riley = person_by_email(db, demo.organization_id, "rep@example.com")
        assert "cadence" not in (riley.preferences or {}) and "paused_until" not in (riley.preferences or {})


def test_a_forged_coaching_button_is_refused_by_role(ctx, chat_as):
    reply = chat_as().press("coaching.log", "abc")
    assert reply.kind == "refusal" and reply.text.startswith("Logging coaching is for managers")


def test_enablements_deal_list_is_headed_for_the_organization(ctx, chat_as):
    assert (
        chat_as("enablement@example.com").say("my deals").header.startswith("Open deals in the organization")
    )
    assert chat_as("manager@example.com").say("my deals").header.startswith("Your team's open deals")
    assert chat_as().say("my deals").header.startswith("Your open deals")


def test_roles_in_slack_the_same(ctx, slack_web):
    from tests.helpers.slack import dm, event, wait_posts

    web, slack_api = slack_web
    event(web, dm("set our coaching cadence to biweekly"))
    (posted,) = wait_posts(slack_api, 1)
    assert "Setting a coaching cadence is for managers" in json.dumps(posted["blocks"])
