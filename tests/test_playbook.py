"""Playbook questions that need no deal: stage cards, ranked search, help, and the not-understood reply."""

from __future__ import annotations

import pytest

from bot.router import match, normalize


def test_exit_criteria_for_a_stage_shows_the_stage_card(chat_as):
    reply = chat_as().say("exit criteria for discovery")
    assert reply.header == "Discovery stage"
    criteria = next(s for s in reply.sections if s.title == "Exit criteria")
    assert "The buying group has confirmed the business problem and what it costs them" in criteria.text
    titles = [s.title for s in reply.sections]
    for expected in (
        "Objectives (what the buyer must accomplish)",
        "Next tasks",
        "Questions to ask",
        "Talk tracks",
        "Objections",
        "Content",
    ):
        assert expected in titles


def test_what_do_i_do_in_a_stage(chat_as):
    assert chat_as().say("What do I do in the proposal stage?").header == "Proposal and business case stage"
    assert chat_as().say("stage discvery").header == "Discovery stage"  # typo tolerated


def test_stage_words_that_name_a_deal_answer_for_the_deal(chat_as):
    reply = chat_as().say("exit criteria for Acme")
    assert reply.header == "Acme Corp: Discovery"


def test_unknown_stage_lists_the_stages(chat_as):
    reply = chat_as().say("exit criteria for the moon landing")
    assert reply.kind == "error"
    assert "Stages in Enterprise new business: Problem awareness, Discovery" in reply.plain_text()


def test_stage_in_the_other_playbook_is_found(chat_as):
    assert chat_as().say("stage quote").header == "Quote stage"


def test_pricing_objection_finds_the_price_objections(chat_as):
    reply = chat_as().say("how do I handle a pricing objection?")
    assert reply.sections, reply.plain_text()
    best = reply.sections[0]
    assert best.title == 'Proposal and business case · Objection: "Your price is too high"'
    assert "price" in best.text.lower()
    assert all("Objection" in (s.title or "") for s in reply.sections)


def test_content_after_a_demo(chat_as):
    reply = chat_as().say("what content do I send after a demo?")
    assert all("· Content" in (s.title or "") for s in reply.sections)
    assert any("Post-demo" in s.text and "https://example.com/" in s.text for s in reply.sections[:2])


def test_search_tolerates_typos_and_word_forms(chat_as):
    reply = chat_as().say("how do i handel a pricng objecton")
    assert reply.sections and "Objection" in reply.sections[0].title
    assert "price" in reply.sections[0].title.lower()
    built = chat_as().say("search building it ourselves")
    assert '"We can build it ourselves"' in built.sections[0].title


def test_help_lists_what_the_bot_does(chat_as):
    reply = chat_as().say("help")
    assert reply.header.startswith("Hi Riley")
    text = reply.plain_text()
    for example in (
        "what's next for Acme?",
        "my deals",
        "exit criteria for discovery",
        "how do I handle a pricing objection?",
    ):
        assert example in text


@pytest.mark.parametrize("gibberish", ["asdf qwerty", "what is the weather like", "🙂"])
def test_anything_not_understood_gets_suggestions(chat_as, gibberish):
    reply = chat_as().say(gibberish)
    assert reply.kind == "error"
    assert "didn't understand" in reply.plain_text()
    assert "help" in reply.plain_text()


def test_empty_message_shows_help(chat_as):
    assert chat_as().say("   ").header.startswith("Hi Riley")


def test_an_expired_button_says_so(chat_as):
    reply = chat_as().press("nothing.here", "1")
    assert "no longer active" in reply.plain_text()


@pytest.mark.parametrize(
    ("utterance", "route", "groups"),
    [
        ("help", "help", {}),
        ("what can you do", "help", {}),
        ("my deals", "my-deals", {}),
        ("show my pipeline", "my-deals", {}),
        ("what's next for Acme", "next", {"deal": "Acme"}),
        ("whats next for this deal", "next", {"deal": "this deal"}),
        ("what's next", "next", {"deal": None}),
        ("next steps for Initech", "next-short", {"deal": "Initech"}),
        ("next Acme", "next-short", {"deal": "Acme"}),
        ("what should I do next for Globex", "next-do", {"deal": "Globex"}),
        ("where are we with Acme", "status", {"deal": "Acme"}),
        ("new deal Globex in discovery", "new-deal", {"name": "Globex", "stage": "discovery"}),
        ("add a new deal Wayne Enterprises", "new-deal", {"name": "Wayne Enterprises", "stage": None}),
        ("move Acme to evaluation", "move", {"deal": "Acme", "stage": "evaluation"}),
        ("move Acme Corp to the proposal stage", "move", {"deal": "Acme Corp", "stage": "proposal"}),
        ("Acme moved to decision", "moved", {"deal": "Acme", "stage": "decision"}),
        ("exit criteria for discovery", "stage-topic", {"stage": "discovery"}),
        ("what are the exit criteria for the proposal stage", "stage-topic", {"stage": "proposal"}),
        ("questions to ask in evaluation", "stage-topic", {"stage": "evaluation"}),
        ("what do I do in the proposal stage", "stage-do", {"stage": "proposal"}),
        ("stage discovery", "stage", {"stage": "discovery"}),
        ("tell me about the value delivery stage", "stage", {"stage": "value delivery"}),
        ("the decision stage", "stage-bare", {"stage": "decision"}),
        ("search mutual action plan", "search", {"q": "mutual action plan"}),
    ],
)
def test_router_table(utterance, route, groups):
    found = match(normalize(utterance))
    assert found is not None, utterance
    assert found[0].name == route
    for key, value in groups.items():
        assert found[1][key] == value


def test_normalize_handles_what_people_type():
    assert normalize("  What’s   next for Acme??  ") == "What's next for Acme"
    assert normalize("please my deals") == "my deals"
    assert normalize("help please!") == "help"


def test_free_questions_fall_through_to_search():
    assert match(normalize("how do I handle a pricing objection?")) is None
