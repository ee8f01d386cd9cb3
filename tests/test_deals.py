"""A rep asks about their deals in plain language and gets the stage guidance for *that* deal."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.confirmations import record
from storage.models import Deal, DealStageChange
from tests.helpers.chat import add_person, other_workspace
from tests.helpers.clock import FIXED_NOW


def section(reply, title_start: str):  # type: ignore[no-untyped-def]
    found = [s for s in reply.sections if (s.title or "").startswith(title_start)]
    assert found, f"no section {title_start!r} in {[s.title for s in reply.sections]}"
    return found[0]


def test_whats_next_shows_stage_guidance_and_only_unconfirmed_criteria(chat_as):
    reply = chat_as().say("what's next for Acme?")
    assert reply.header == "Acme Corp: Discovery"
    assert "stage 2 of 7" in reply.sections[0].text
    assert dict(reply.sections[0].fields)["Amount"] == "$120,000"
    open_criteria = section(reply, "Exit criteria not yet confirmed")
    assert "(1 of 4 confirmed)" in open_criteria.title
    # The demo confirmed "pain-confirmed" for Acme: it must not be listed as open.
    assert "confirmed the business problem" not in open_criteria.text
    assert open_criteria.text.count("\n- ") == 2  # three open criteria as bullets
    for title in ("Objectives", "Next tasks", "Questions to ask", "Talk tracks", "Content"):
        assert section(reply, title).text
    assert "https://example.com/" in section(reply, "Content").text
    assert [b.label for b in reply.buttons] == ["Confirm criteria", "Move to Evaluation"]


def test_days_in_stage_uses_the_clock(ctx, chat_as):
    with ctx.sessions.begin() as session:
        deal = session.scalar(select(Deal).where(Deal.name == "Acme Corp"))
        deal.stage_entered_at = FIXED_NOW - timedelta(days=12, hours=3)
    reply = chat_as().say("whats next for acme corp")
    assert dict(reply.sections[0].fields)["In this stage"] == "12 days"


def test_deal_names_tolerate_case_and_typos(chat_as):
    chat = chat_as()
    assert chat.say("What's next for ACME").header == "Acme Corp: Discovery"
    assert chat.say("what's next for Acmee?").header == "Acme Corp: Discovery"
    assert chat.say("next initch").header == "Initech: Evaluation"
    assert chat.say("/playbook next Acme".removeprefix("/playbook ")).header == "Acme Corp: Discovery"


def test_ambiguous_deal_name_gets_a_choice_not_a_guess(ctx, demo, chat_as):
    chat = chat_as()
    chat.say("new deal Acme Logistics in discovery")
    reply = chat.say("what's next for acme")
    assert reply.kind == "choice"
    assert sorted(b.label for b in reply.buttons) == ["Acme Corp (Discovery)", "Acme Logistics (Discovery)"]
    assert chat.click("Logistics").header == "Acme Logistics: Discovery"


def test_unknown_deal_lists_the_reps_deals(chat_as):
    reply = chat_as().say("what's next for Wayne Enterprises")
    assert reply.kind == "error"
    assert 'couldn\'t find a deal called "Wayne Enterprises"' in reply.plain_text()
    assert "Acme Corp, Hooli Express, Initech" in reply.plain_text()


def test_this_deal_asks_which_when_the_rep_has_several(chat_as):
    chat = chat_as()
    reply = chat.say("what's next for this deal?")
    assert reply.kind == "choice"
    assert [b.label for b in reply.buttons] == [
        "Acme Corp (Discovery)",
        "Hooli Express (Demo)",
        "Initech (Evaluation)",
    ]
    assert chat.click("Hooli").header == "Hooli Express: Demo"


def test_this_deal_answers_directly_when_the_rep_has_one(ctx, demo, chat_as):
    add_person(ctx, demo, "new@example.com", "Nia New", manager="manager@example.com")
    chat = chat_as("new@example.com")
    assert chat.say("what's next for this deal").kind == "error"  # no deals yet: says so
    chat.say("new deal Globex in discovery")
    assert chat.say("what's next for this deal?").header == "Globex: Discovery"
    assert chat.say("what's next?").header == "Globex: Discovery"


def test_move_records_stage_history_and_the_skipped_gate(ctx, chat_as):
    reply = chat_as().say("move Acme to evaluation")
    assert reply.header == "Acme Corp moved to Evaluation"
    skipped = section(reply, "Skipped gate")
    assert "3 exit criteria of Discovery not confirmed" in skipped.title
    with ctx.sessions() as session:
        deal = session.scalar(select(Deal).where(Deal.name == "Acme Corp"))
        assert deal.stage_id == "evaluation"
        change = session.scalars(
            select(DealStageChange).where(DealStageChange.deal_id == deal.id).order_by(DealStageChange.id)
        ).all()[-1]
        assert (change.from_stage_id, change.to_stage_id) == ("discovery", "evaluation")
        assert sorted(change.skipped_criteria) == [
            "decision-process-known",
            "external-help-decided",
            "requirements-documented",
        ]
    assert chat_as().say("what's next for acme").header == "Acme Corp: Evaluation"


def test_a_near_name_never_moves_the_wrong_deal_it_asks_first(ctx, chat_as):
    chat = chat_as()
    for words in ("Acme Corp 2", "Acmee"):
        reply = chat.say(f"move {words} to proposal")
        assert (
            reply.kind == "choice" and "Do you mean Acme Corp? Nothing has changed yet" in reply.plain_text()
        )
        with ctx.sessions() as session:
            assert session.scalar(select(Deal.stage_id).where(Deal.name == "Acme Corp")) == "discovery"
    assert chat.click("Acme Corp").header.startswith("Acme Corp moved to Proposal")  # one click


def test_move_with_every_criterion_confirmed_is_not_a_skipped_gate(ctx, chat_as):
    with ctx.sessions.begin() as session:
        deal = session.scalar(select(Deal).where(Deal.name == "Hooli Express"))
        for criterion in ctx.playbooks.get("transactional").stage("demo").exit_criteria:
            record(
                session,
                {
                    "organization_id": deal.organization_id,
                    "deal_id": deal.id,
                    "playbook_id": "transactional",
                    "stage_id": "demo",
                    "criterion_id": criterion.id,
                    "confirmed": True,
                },
            )
    chat = chat_as()
    assert "All 2 exit criteria are confirmed" in chat.say("what's next for hooli").plain_text()
    reply = chat.click("Move to Quote")
    assert reply.header == "Hooli Express moved to Quote"
    assert not [s for s in reply.sections if (s.title or "").startswith("Skipped gate")]


def test_move_backwards_and_to_same_stage(chat_as):
    chat = chat_as()
    assert "already in Evaluation" in chat.say("move initech to evaluation").plain_text()
    reply = chat.say("move Initech back to discovery")
    assert reply.header == "Initech moved to Discovery"
    assert not [s for s in reply.sections if (s.title or "").startswith("Skipped gate")]


def test_move_to_unknown_stage_lists_the_playbooks_stages(chat_as):
    reply = chat_as().say("move acme to negotiations phase two")
    assert reply.kind == "error"
    assert "Problem awareness, Discovery, Evaluation" in reply.plain_text()


def test_new_deal_is_owned_by_the_asker_and_duplicates_are_refused(ctx, chat_as):
    chat = chat_as("sam@example.com")
    reply = chat.say("new deal Globex in discovery")
    assert reply.header == "New deal: Globex"
    with ctx.sessions() as session:
        deal = session.scalar(select(Deal).where(Deal.name == "Globex"))
        assert deal.owner.email == "sam@example.com"
        assert (deal.playbook_id, deal.stage_id) == ("enterprise", "discovery")
    again = chat.say("add deal globex")
    assert again.kind == "error" and "already an open deal" in again.plain_text()


def test_new_deal_without_stage_starts_at_the_first_stage(ctx, chat_as):
    chat_as().say("new deal Wonka Industries")
    with ctx.sessions() as session:
        assert session.scalar(select(Deal.stage_id).where(Deal.name == "Wonka Industries")) == "awareness"


def test_my_deals_lists_open_deals_with_confirmation_progress(chat_as):
    reply = chat_as().say("my deals")
    text = reply.sections[0].text
    assert "**Acme Corp**: Discovery · 1/4 exit criteria confirmed" in text
    assert "**Hooli Express**: Demo · 0/2 exit criteria confirmed" in text
    assert "Umbrella" not in text  # Sam's deal


def test_my_deals_paginates(ctx, demo, chat_as):
    chat = chat_as("sam@example.com")
    for i in range(12):
        chat.say(f"new deal Batch {i:02d} in qualify")
    first = chat.say("my deals")
    assert first.sections[0].text.count("**") == 20  # ten deals
    assert "Showing 1–10 of 14" in first.context
    second = chat.click("Show more")
    assert "Showing 11–14 of 14" in second.context


def test_manager_sees_team_deals_and_reps_do_not_see_each_other(chat_as):
    assert (
        chat_as("manager@example.com").say("what's next for umbrella").header
        == "Umbrella Health: Proposal and business case"
    )
    refused = chat_as("rep@example.com").say("what's next for Umbrella Health")
    assert refused.kind == "refusal"
    assert "someone outside your team" in refused.plain_text()
    manager_list = chat_as("manager@example.com").say("my deals")
    assert manager_list.header == "Your team's open deals"
    assert "Umbrella Health" in manager_list.plain_text() and "Acme Corp" in manager_list.plain_text()


def test_forged_button_for_someone_elses_deal_is_refused(ctx, chat_as):
    with ctx.sessions() as session:
        umbrella = session.scalar(select(Deal).where(Deal.name == "Umbrella Health"))
    chat = chat_as("rep@example.com")
    assert chat.press("deal.next", str(umbrella.id)).kind == "refusal"
    assert chat.press("deal.move", f"{umbrella.id}:decision").kind == "refusal"
    with ctx.sessions() as session:
        assert session.get(Deal, umbrella.id).stage_id == "proposal"


def test_workspaces_are_isolated(ctx, demo, chat_as):
    other = other_workspace(ctx)
    add_person(ctx, other, "rep@example.com", "Other Riley")
    from tests.helpers.chat import Chat

    outsider = Chat(ctx, other, "rep@example.com")
    assert outsider.say("what's next for Acme").kind == "error"
    assert "No open deals yet" in outsider.say("my deals").plain_text()
    with ctx.sessions() as session:
        acme = session.scalar(select(Deal).where(Deal.name == "Acme Corp"))
    assert outsider.press("deal.next", str(acme.id)).kind == "error"


# -- finding a deal by name: exact (any case and punctuation) first, typos second, ties as a choice ------


def test_exact_name_ignores_case_and_punctuation(chat_as):
    chat = chat_as()
    chat.say("new deal Wayne Enterprises, Inc. in discovery")
    assert chat.say("what's next for wayne enterprises inc").header == "Wayne Enterprises, Inc.: Discovery"
    assert chat.say("next WAYNE-ENTERPRISES INC!").header == "Wayne Enterprises, Inc.: Discovery"


def test_exact_name_beats_near_names_among_many_deals(chat_as):
    rep = chat_as("sam@example.com")
    for i in range(30):
        rep.say(f"new deal Acme Corp {i:02d} in discovery")
    enablement = chat_as("enablement@example.com")  # sees every deal in the workspace
    assert enablement.say("what's next for acme corp").header == "Acme Corp: Discovery"
    assert enablement.say("what's next for Acme Corp 17").header == "Acme Corp 17: Discovery"


def test_names_equal_but_for_case_or_punctuation_get_a_choice(chat_as):
    chat = chat_as()
    chat.say("new deal Acme Corp. in evaluation")
    reply = chat.say("what's next for ACME CORP")
    assert reply.kind == "choice"
    assert sorted(b.label for b in reply.buttons) == ["Acme Corp (Discovery)", "Acme Corp. (Evaluation)"]


def test_typo_in_a_name_among_many_deals_is_still_found(chat_as):
    rep = chat_as("sam@example.com")
    for name in ("Globex Logistics", "Soylent Foods", "Stark Industries", "Tyrell Systems"):
        rep.say(f"new deal {name} in discovery")
    enablement = chat_as("enablement@example.com")
    assert enablement.say("what's next for Soylnt Foods").header == "Soylent Foods: Discovery"
    assert chat_as().say("whats next for initec").header == "Initech: Evaluation"


def test_non_ascii_name_matches_in_any_case(chat_as):
    chat = chat_as()
    chat.say("new deal Öresund Färjor in discovery")
    assert chat.say("what's next for öresund FÄRJOR").header == "Öresund Färjor: Discovery"


def test_another_teams_deal_is_refused_whatever_the_spelling_of_its_name(chat_as):
    refused = chat_as("rep@example.com").say("what's next for UMBRELLA health!")
    assert refused.kind == "refusal"
    assert "someone outside your team" in refused.plain_text()
