"""Closing deals won or lost from chat: the deal leaves the open views, keeps its history, records why."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from storage.models import Deal, DealStageChange, DealStatus
from tests.helpers.clock import FIXED_NOW
from tests.helpers.slack import dm, event, header_of, wait_posts


@pytest.fixture
def web_slack_closing(slack_web, slack_ctx):
    return slack_web[0], slack_web[1], slack_ctx


def deal(ctx, name: str) -> Deal:
    with ctx.sessions() as db:
        return db.scalar(select(Deal).where(Deal.name == name))


def test_a_rep_closes_a_deal_won_and_it_leaves_their_open_deals(ctx, chat_as):
    rep = chat_as()
    reply = rep.say("Initech signed!")
    assert reply.header == "Initech closed won"
    initech = deal(ctx, "Initech")
    assert (initech.status, initech.closed_at) == (DealStatus.WON, FIXED_NOW)
    listed = rep.say("my deals").plain_text()
    assert "Initech" not in listed and "Acme Corp" in listed
    with ctx.sessions() as db:  # the history stays
        assert db.scalars(select(DealStageChange).where(DealStageChange.deal_id == initech.id)).all()
    again = rep.say("mark initech won")
    assert again.header == "Initech is closed won" and deal(ctx, "Initech").status == DealStatus.WON


def test_lost_asks_why_and_nothing_changes_until_a_reason_is_given(ctx, chat_as):
    rep = chat_as()
    asked = rep.say("mark Hooli lost")
    assert "Why was Hooli Express lost?" in asked.plain_text()
    assert deal(ctx, "Hooli Express").status == DealStatus.OPEN
    closed = rep.click("No budget")
    assert closed.header == "Hooli Express closed lost" and "Reason: No budget" in closed.plain_text()
    hooli = deal(ctx, "Hooli Express")
    assert (hooli.status, hooli.closed_reason) == (DealStatus.LOST, "No budget")


def test_lost_with_the_reason_in_the_sentence(ctx, chat_as):
    rep = chat_as()
    assert rep.say("Acme lost to a competitor").header == "Acme Corp closed lost"
    assert deal(ctx, "Acme Corp").closed_reason == "Lost to a competitor"
    rep.say("mark Initech as closed lost: no decision this year")
    assert deal(ctx, "Initech").closed_reason == "no decision this year"


def test_a_sentence_that_only_ends_in_lost_is_still_a_question(ctx, chat_as):
    reply = chat_as().say("how do I handle deals we lost to a competitor?")
    assert "closed" not in (reply.header or "") and "Playbook" in (reply.header or "")
    assert all(d.status == DealStatus.OPEN for d in [deal(ctx, "Acme Corp"), deal(ctx, "Initech")])


def test_a_rep_cannot_close_a_colleagues_deal_and_a_near_name_asks_first(ctx, chat_as):
    sam = chat_as("sam@example.com")
    refused = sam.say("mark Acme Corp won")
    assert refused.kind == "refusal" and deal(ctx, "Acme Corp").status == DealStatus.OPEN
    rep = chat_as()
    confirm = rep.say("mark Acme Corp 2 won")
    assert confirm.kind == "choice" and deal(ctx, "Acme Corp").status == DealStatus.OPEN
    assert rep.click("Acme Corp").header == "Acme Corp closed won"


def test_the_manager_closes_a_reps_deal(ctx, chat_as):
    manager = chat_as("manager@example.com")
    reply = manager.say("close Initech won")
    assert reply.header == "Initech closed won" and "Congratulations to Riley Chen" in reply.plain_text()


def test_closing_through_slack(web_slack_closing):
    web, slack, ctx = web_slack_closing
    event(web, dm("mark hooli lost"))
    (asked,) = wait_posts(slack, 1)
    labels = [e["text"]["text"] for b in asked["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert labels == ["Lost to a competitor", "No budget", "No decision", "Bad timing"]
    event(web, dm("mark Hooli lost: went dark after the demo"))
    closed = wait_posts(slack, 2)[1]
    assert header_of(closed) == "Hooli Express closed lost" and "went dark" in json.dumps(closed["blocks"])
    assert deal(ctx, "Hooli Express").status == DealStatus.LOST


def test_an_overlong_reason_or_a_forged_button_changes_nothing(ctx, chat_as):
    rep = chat_as()
    too_long = rep.say("mark Hooli lost: " + "x" * 400)
    assert too_long.kind == "error" and "the limit is 300" in too_long.plain_text()
    hooli = deal(ctx, "Hooli Express")
    forged = rep.press("deal.close", f"{hooli.id}:deleted:because")
    assert forged.kind == "error" and "no longer active" in forged.plain_text()
    someone_elses = rep.press("deal.close", f"{hooli.id + 1000}:won:")
    assert "no longer exists" in someone_elses.plain_text()
    assert deal(ctx, "Hooli Express").status == DealStatus.OPEN


def test_a_closed_deal_asked_about_says_how_it_closed_and_offers_to_reopen(ctx, chat_as):
    rep = chat_as()
    rep.say("Hooli lost: went with a competitor")
    for question in ("how's hooli express doing?", "what's next for Hooli Express", "hooli?"):
        reply = rep.say(question)
        assert reply.header == "Hooli Express is closed lost", question
        text = reply.plain_text()
        # Closed at FIXED_NOW (noon UTC) is the same day in the rep's Chicago time.
        assert "closed lost on " + FIXED_NOW.strftime("%d %b %Y").lstrip("0") in text
        assert "(went with a competitor)" in text
    reopened = rep.click("Reopen Hooli Express")
    assert reopened.header == "Hooli Express reopened" and "at Demo" in reopened.plain_text()
    hooli = deal(ctx, "Hooli Express")
    assert (hooli.status, hooli.closed_at, hooli.closed_reason) == (DealStatus.OPEN, None, None)
    assert "Hooli Express" in rep.say("my deals").plain_text()


def test_reopen_by_name_and_what_it_refuses(ctx, chat_as):
    rep = chat_as()
    assert rep.say("reopen Initech").plain_text().startswith("Initech is open already")
    rep.say("Initech signed!")
    assert rep.say("reopen initech").header == "Initech reopened"
    assert deal(ctx, "Initech").status == DealStatus.OPEN
    assert "couldn't find a closed deal" in rep.say("reopen Globex").plain_text()
    sam = chat_as("sam@example.com")
    rep.say("Initech signed!")
    refused = sam.say("reopen Initech")  # Sam cannot see Riley's deals, closed or open
    assert refused.kind == "error" and "couldn't find a closed deal" in refused.plain_text()
    assert deal(ctx, "Initech").status == DealStatus.WON
    forged = sam.press("deal.reopen", str(deal(ctx, "Initech").id))
    assert forged.kind == "refusal" and deal(ctx, "Initech").status == DealStatus.WON
