"""What a Teams user sees: neutral Replies as Adaptive Cards, split to fit, and clicks coming back."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from bot.channels.teams_cards import click_from_value, to_activities, to_card
from bot.messages import Button, Click, Reply, Section
from bot.rendering import Renderer, parse

LIMIT = 25_000
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"


def text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def card_of(activity: dict[str, Any]) -> dict[str, Any]:
    [attachment] = activity["attachments"]
    assert attachment["contentType"] == CONTENT_TYPE
    return attachment["content"]


def texts(card: dict[str, Any]) -> list[str]:
    return [element["text"] for element in card["body"] if element["type"] == "TextBlock"]


def all_submits(card: dict[str, Any]) -> list[dict[str, Any]]:
    in_body = [a for e in card["body"] if e["type"] == "ActionSet" for a in e["actions"]]
    return in_body + card["actions"]


def serialized_sizes(activity: dict[str, Any]) -> tuple[int, int]:
    """Bytes on the wire (JSON, UTF-8) and as Teams counts a message (UTF-16)."""
    utf8 = len(json.dumps(activity).encode())
    utf16 = len(json.dumps(activity, ensure_ascii=False).encode("utf-16-le"))
    return utf8, utf16


def test_card_envelope_is_a_full_width_adaptive_card_1_5():
    card = to_card(Reply("Hi", header="Hi"))
    assert card["type"] == "AdaptiveCard"
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["version"] == "1.5"
    assert card["msteams"] == {"width": "Full"}
    assert card["actions"] == []


def test_help_reply_shows_header_titled_sections_bullet_lists_and_a_small_footnote():
    reply = Renderer().render(
        "help.j2", me=SimpleNamespace(name="Riley Chen"), buttons=(Button("Show my deals", "deals.mine"),)
    )
    card = to_card(reply)
    assert card["body"] == [
        text_block("Hi Riley, I'm your sales playbook in chat", size="Large", weight="Bolder"),
        text_block(
            "I answer with the right part of the playbook for the stage your deal is in. Ask in your own words: "
            "I look for deal names, stages and what you want to know anywhere in the sentence."
        ),
        text_block("Deals", weight="Bolder", spacing="Medium"),
        text_block(
            '- "what\'s next for Acme?", "any update on Acme?", "acme?": the stage, next tasks, exit criteria still '
            "open, questions to ask, content"
            '\r- "what\'s blocking Acme?": the exit criteria still open on the deal first'
            '\r- "what\'s next for this deal?": your only open deal (or pick one)'
            '\r- "my deals": your open deals and how many exit criteria each has confirmed'
            '\r- "new deal Globex in discovery", "move Acme to evaluation", "push Acme forward"'
            '\r- "Acme signed!", "mark Acme lost: no budget", "reopen Acme"'
            '\r- "confirm Acme": confirm exit criteria with the buyer who confirmed them and the evidence'
        ),
        text_block("Playbook", weight="Bolder", spacing="Medium"),
        text_block(
            '- "exit criteria for discovery", "what do I do in the proposal stage?", "talk tracks for the first stage"'
            '\r- "how do I handle a pricing objection?", "what content do I send after a demo?", "who signs the cheque?"'
            '\r- "search mutual action plan": search every stage of the playbook for any words'
        ),
        text_block("Knowledge checks and your time", weight="Bolder", spacing="Medium"),
        text_block(
            '- "quiz me", "my progress", "pause quizzes until Friday", "resume quizzes"'
            '\r- "my working days are Mon-Fri", "quiet hours 20:00-07:00", "my country is DE", "my availability"'
        ),
        text_block(
            'Deal names can be short or slightly misspelt: "Acmee" finds Acme.',
            isSubtle=True,
            size="Small",
            spacing="Medium",
        ),
    ]
    assert card["actions"] == [
        {
            "type": "Action.Submit",
            "title": "Show my deals",
            "data": {"bot_action": "deals.mine", "bot_value": ""},
        }
    ]


def test_template_document_parts_map_to_textblocks_and_a_factset():
    card = to_card(parse("# Title\n## Section\n- a\n- b\nLabel:: value\n> note"))
    assert card["body"] == [
        text_block("Title", size="Large", weight="Bolder"),
        text_block("Section", weight="Bolder", spacing="Medium"),
        text_block("- a\r- b"),
        {"type": "FactSet", "facts": [{"title": "Label", "value": "value"}]},
        text_block("note", isSubtle=True, size="Small", spacing="Medium"),
    ]


def test_real_deal_answer_fits_one_message_and_its_button_moves_the_deal(chat_as):
    chat = chat_as()
    reply = chat.say("what's next for Acme?")
    [activity] = to_activities(reply)
    assert activity["type"] == "message"
    assert activity["summary"] == reply.text == "Acme Corp: Discovery"
    assert max(serialized_sizes(activity)) < LIMIT
    card = card_of(activity)
    assert card == to_card(reply)
    assert card["body"][0] == text_block("Acme Corp: Discovery", size="Large", weight="Bolder")
    facts = next(e["facts"] for e in card["body"] if e["type"] == "FactSet")
    assert {"title": "Amount", "value": "$120,000"} in facts
    assert {"title": "Owner", "value": "Riley Chen"} in facts
    shown = "\n".join(texts(card))
    assert "[Discovery call guide](https://example.com/enablement/discovery-call-guide)" in shown
    assert "**Play back what you heard**:" in shown
    assert texts(card)[-1].startswith("When the exit criteria are confirmed")
    [confirm, move] = card["actions"]
    assert confirm["title"] == "Confirm criteria"
    assert move["type"] == "Action.Submit" and move["title"] == "Move to Evaluation"

    # Teams posts the button's data back as the message value, with keys of its own added.
    click = click_from_value({**move["data"], "msteams": {"type": "messageBack"}})
    assert click == Click(reply.buttons[1].action, reply.buttons[1].value)
    moved = chat.press(click.action, click.value)
    assert moved.header == "Acme Corp moved to Evaluation"


def test_markup_is_converted_for_teams_markdown():
    section = Section(
        "Keep **bold**, _italic_ and [the guide](https://example.com/guide).\n"
        "A second line stays a line.\n"
        "\n"
        "Options:\n"
        "- **First**: one\n"
        "\n"
        "- Second\n"
        "After the list."
    )
    card = to_card(Reply("x", sections=(section,)))
    assert card["body"] == [
        text_block(
            "Keep **bold**, _italic_ and [the guide](https://example.com/guide)."
            "\n\nA second line stays a line.\n\nOptions:"
        ),
        text_block("- **First**: one\r- Second"),
        text_block("After the list."),
    ]


def test_my_deals_style_bullets_separated_by_blank_lines_are_one_list():
    reply = parse(
        "# Your open deals\n- **Acme**: Discovery\n\n- **Initech**: Evaluation\n\n> Showing 1–2 of 2."
    )
    assert texts(to_card(reply))[1] == "- **Acme**: Discovery\r- **Initech**: Evaluation"


def test_text_that_looks_like_html_is_shown_as_text():
    reply = Reply(
        "x",
        header="Deal <b>Acme</b>",
        sections=(
            Section(
                'I didn\'t understand "<at>Bob</at> <img src=x onerror=alert(1)>"\n- a < b and <3',
                fields=(("<i>Label</i>", "<deal>"),),
            ),
        ),
        context="Say what's next for <deal>",
    )
    card = to_card(reply)
    assert texts(card) == [
        "Deal ‹b›Acme‹/b›",
        'I didn\'t understand "‹at›Bob‹/at› ‹img src=x onerror=alert(1)›"',
        "- a < b and <3",
        "Say what's next for ‹deal›",
    ]
    assert card["body"][3]["facts"] == [{"title": "‹i›Label‹/i›", "value": "‹deal›"}]
    assert "<" not in json.dumps(card).replace("a < b and <3", "")


def test_no_empty_textblocks_and_a_bare_reply_still_says_something():
    # An empty TextBlock breaks the whole card on Teams mobile; a reply with only a summary shows it.
    assert to_card(Reply("Done."))["body"] == [text_block("Done.")]
    card = to_card(Reply("x", sections=(Section("\n\n", title="Only a title"), Section(""))))
    assert card["body"] == [text_block("Only a title", weight="Bolder", spacing="Medium")]


def long_reply(sections: int = 60) -> Reply:
    def text(n: int) -> str:
        points = [f"- Section {n} point {i}: " + "words of guidance " * 12 for i in range(6)]
        return "\n".join([f"Intro {n}.", *points, f"End {n}."])

    return Reply(
        "Big answer",
        header="Big answer",
        sections=tuple(
            Section(text(n), title=f"Part {n}", fields=((f"Field {n}", f"value {n}"),))
            for n in range(sections)
        ),
        buttons=(Button("Yes", "confirm", "1", "primary"), Button("No", "confirm", "0", "danger")),
        context="A footnote.",
    )


def test_a_long_reply_is_split_into_messages_under_the_size_limit_losing_nothing():
    reply = long_reply()
    activities = to_activities(reply)
    assert len(activities) > 2
    for activity in activities:
        assert activity["type"] == "message" and activity["summary"] == "Big answer"
        assert max(serialized_sizes(activity)) < LIMIT
    cards = [card_of(a) for a in activities]

    # Header only in the first, buttons and footnote only in the last.
    headers = [e for c in cards for e in c["body"] if e.get("size") == "Large"]
    assert headers == [text_block("Big answer", size="Large", weight="Bolder")]
    assert cards[0]["body"][0] == headers[0]
    assert all(c["actions"] == [] for c in cards[:-1])
    assert [a["title"] for a in cards[-1]["actions"]] == ["Yes", "No"]
    assert [a.get("style") for a in cards[-1]["actions"]] == ["positive", "destructive"]
    footnotes = [e for c in cards for e in c["body"] if e.get("isSubtle")]
    assert footnotes == [cards[-1]["body"][-1]] and footnotes[0]["text"] == "A footnote."

    # Every section arrives whole, in order, once: sections that fit are never cut.
    body = [e for c in cards for e in c["body"]]
    assert body == to_card(reply)["body"]
    for card in cards:  # a section's title, texts and fields travel together
        titles = [t.removeprefix("Part ") for t in texts(card) if t.startswith("Part ")]
        intros = [t.removeprefix("Intro ").removesuffix(".") for t in texts(card) if t.startswith("Intro ")]
        ends = [t.removeprefix("End ").removesuffix(".") for t in texts(card) if t.startswith("End ")]
        facts = [
            f["value"].removeprefix("value ")
            for e in card["body"]
            if e["type"] == "FactSet"
            for f in e["facts"]
        ]
        assert titles == intros == ends == facts


def test_a_section_bigger_than_a_message_is_cut_between_list_items():
    items = [f"- Item {i}: " + "x" * 80 for i in range(800)]
    reply = Reply("Huge", header="Huge", sections=(Section("\n".join(items), title="Everything"),))
    activities = to_activities(reply)
    assert len(activities) >= 4
    assert all(max(serialized_sizes(a)) < LIMIT for a in activities)
    blocks = [t for a in activities for t in texts(card_of(a))]
    assert blocks[:2] == ["Huge", "Everything"]
    pieces = blocks[2:]
    assert all(p.startswith("- Item ") for p in pieces)
    assert "\r".join(pieces).split("\r") == items


def test_one_enormous_paragraph_is_cut_between_words():
    words = [f"word{i}" for i in range(9000)]
    reply = Reply("Wall", sections=(Section(" ".join(words)),))
    activities = to_activities(reply)
    assert len(activities) > 1
    assert all(max(serialized_sizes(a)) < LIMIT for a in activities)
    assert " ".join(t for a in activities for t in texts(card_of(a))).split() == words


def test_size_is_counted_as_teams_counts_it_for_non_ascii_text():
    text = "\n".join(f"- 商談 {i}: 次のステップを確認してください。" * 4 for i in range(300))
    activities = to_activities(Reply("日本語", sections=(Section(text, title="ガイド"),)))
    assert len(activities) > 1
    for activity in activities:
        utf8, utf16 = serialized_sizes(activity)
        assert utf8 < LIMIT and utf16 < LIMIT
        assert len(json.dumps(activity, ensure_ascii=False).encode()) < LIMIT


def buttons(count: int) -> tuple[Button, ...]:
    return tuple(Button(f"Deal {i}", "deal.next", str(i)) for i in range(count))


def test_up_to_six_buttons_are_card_actions():
    card = to_card(Reply("Pick", sections=(Section("Which one?"),), buttons=buttons(6)))
    assert [a["title"] for a in card["actions"]] == [f"Deal {i}" for i in range(6)]
    assert not [e for e in card["body"] if e["type"] == "ActionSet"]


def test_more_than_six_buttons_go_into_action_sets_of_five_and_none_is_lost():
    reply = Reply("Pick", sections=(Section("Which one?"),), buttons=buttons(13), context="Or type a name.")
    card = to_card(reply)
    assert card["actions"] == []
    sets = [e for e in card["body"] if e["type"] == "ActionSet"]
    assert [len(s["actions"]) for s in sets] == [5, 5, 3]
    assert [a["data"]["bot_value"] for s in sets for a in s["actions"]] == [str(i) for i in range(13)]
    assert card["body"][-1]["text"] == "Or type a name."  # buttons, then the footnote, as in the terminal
    [activity] = to_activities(reply)
    assert card_of(activity) == card


def test_every_button_round_trips_through_submit_and_execute_payloads():
    all_buttons = (*buttons(8), Button("Move to Evaluation", "deal.move", "12:evaluation", "primary"))
    reply = Reply("Pick", buttons=all_buttons)
    submits = all_submits(to_card(reply))
    assert len(submits) == len(all_buttons)
    for button, submit in zip(all_buttons, submits, strict=True):
        expected = Click(button.action, button.value)
        assert click_from_value(submit["data"]) == expected
        assert click_from_value({"msteams": {"type": "messageBack"}, **submit["data"]}) == expected
        execute = {"action": {"type": "Action.Execute", "verb": "click", "data": submit["data"]}}
        assert click_from_value(execute) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "text",
        42,
        [],
        {},
        {"bot_action": 3},
        {"bot_action": ""},
        {"bot_action": "deal.next", "bot_value": 7},
        {"action": "deal.next"},
        {"action": {"type": "Action.Execute", "verb": "x"}},
        {"action": {"type": "Action.Execute", "data": "deal.next"}},
        {"action": {"data": {"bot_action": None}}},
        {"msteams": {"type": "messageBack"}, "someone_else": "1"},
    ],
)
def test_foreign_or_malformed_values_are_not_clicks(value):
    assert click_from_value(value) is None


def test_a_click_without_a_value_has_the_empty_value():
    assert click_from_value({"bot_action": "help"}) == Click("help", "")


def test_long_button_titles_are_truncated_to_60_characters():
    long_name = "What's next for International Business Machines Global Services Renewal 2027"
    card = to_card(
        Reply(
            "x",
            buttons=(
                Button(long_name, "deal.next", "1"),
                Button("x" * 60, "a", "2"),
                Button("  Spaced \n out  ", "a", "3"),
            ),
        )
    )
    first, exact, spaced = (a["title"] for a in card["actions"])
    assert len(first) == 60 and first.endswith("…")
    assert first == long_name[:59] + "…"
    assert exact == "x" * 60
    assert spaced == "Spaced out"
    assert card["actions"][0]["data"] == {"bot_action": "deal.next", "bot_value": "1"}


def test_button_styles():
    card = to_card(
        Reply(
            "x",
            buttons=(Button("A", "a", style="primary"), Button("B", "b", style="danger"), Button("C", "c")),
        )
    )
    assert [a.get("style") for a in card["actions"]] == ["positive", "destructive", None]


def test_split_reply_keeps_all_action_sets_with_the_footnote_in_the_last_message():
    reply = long_reply().with_buttons(*buttons(11))  # 2 + 11 buttons: ActionSets in the body
    activities = to_activities(reply)
    cards = [card_of(a) for a in activities]
    assert all(c["actions"] == [] for c in cards)
    assert all(e["type"] != "ActionSet" for c in cards[:-1] for e in c["body"])
    last = cards[-1]["body"]
    assert [e["type"] for e in last[-4:]] == ["ActionSet", "ActionSet", "ActionSet", "TextBlock"]
    assert len(all_submits(cards[-1])) == 13
    assert all(max(serialized_sizes(a)) < LIMIT for a in activities)


def quiz_reply(*choices: str) -> Reply:
    answers = tuple(
        Button(c, "quiz.answer", f"7:{i}:1:1700000000", choice=True) for i, c in enumerate(choices)
    )
    return parse("## Knowledge check\n**Which one?**").with_buttons(
        *answers, Button("I'm not sure", "quiz.answer", "7:-1:1:1700000000")
    )


def test_quiz_answers_are_numbered_in_the_body_and_buttons_carry_the_numbers():
    card = to_card(quiz_reply("MEDDPICC", "BANT", "SPIN"))
    assert "1. MEDDPICC\r2. BANT\r3. SPIN" in texts(card)
    assert [(a["title"], a["data"]) for a in card["actions"]] == [
        ("1", {"bot_action": "quiz.answer", "bot_value": "7:0:1:1700000000"}),
        ("2", {"bot_action": "quiz.answer", "bot_value": "7:1:1:1700000000"}),
        ("3", {"bot_action": "quiz.answer", "bot_value": "7:2:1:1700000000"}),
        ("I'm not sure", {"bot_action": "quiz.answer", "bot_value": "7:-1:1:1700000000"}),
    ]


def test_a_long_quiz_answer_is_shown_whole_in_the_card_body():
    long = ("Confirm the economic buyer, the decision criteria and the paper process " * 3)[:150].strip()
    assert len(long) >= 149
    [activity] = to_activities(quiz_reply("Short one", long))
    card = card_of(activity)
    assert f"2. {long}" in "\n".join(texts(card))
    assert [a["title"] for a in card["actions"]] == ["1", "2", "I'm not sure"]
    assert all(len(a["title"]) <= 12 for a in card["actions"])
