"""What a Slack user sees: neutral Replies become Block Kit messages within Slack's limits, and button
presses come back as the Clicks the handlers defined."""

from __future__ import annotations

import json
import logging
import re
from types import SimpleNamespace
from typing import Any

import pytest

from bot.channels.slack_blocks import click_from_action, to_messages, to_mrkdwn
from bot.messages import Button, Click, Reply, Section
from bot.rendering import Renderer, parse

# Block Kit limits (docs.slack.dev/reference/block-kit), checked independently of the module's constants.
LIMITS = {
    "blocks": 50,
    "header": 150,
    "section_text": 3000,
    "fields": 10,
    "field_text": 2000,
    "context_elements": 10,
    "text_object": 3000,
    "actions_elements": 25,
    "button_text": 75,
    "button_value": 2000,
    "action_id": 255,
}


def assert_valid(messages: list[dict[str, Any]]) -> None:
    """Every payload obeys the documented Block Kit limits; Slack rejects the whole message otherwise."""
    action_ids: list[str] = []
    for message in messages:
        assert isinstance(message["text"], str) and len(message["text"]) <= 3000
        blocks = message["blocks"]
        assert 1 <= len(blocks) <= LIMITS["blocks"]
        for block in blocks:
            kind = block["type"]
            if kind == "header":
                assert block["text"]["type"] == "plain_text"
                assert 1 <= len(block["text"]["text"]) <= LIMITS["header"]
            elif kind == "section":
                assert "text" in block or block.get("fields"), block
                if "text" in block:
                    assert block["text"]["type"] == "mrkdwn"
                    assert 1 <= len(block["text"]["text"]) <= LIMITS["section_text"]
                fields = block.get("fields", [])
                assert len(fields) <= LIMITS["fields"]
                for field in fields:
                    assert 1 <= len(field["text"]) <= LIMITS["field_text"]
            elif kind == "context":
                assert 1 <= len(block["elements"]) <= LIMITS["context_elements"]
                for element in block["elements"]:
                    assert 1 <= len(element["text"]) <= LIMITS["text_object"]
            elif kind == "actions":
                assert 1 <= len(block["elements"]) <= 5  # our own, stricter row size
                for button in block["elements"]:
                    assert button["type"] == "button"
                    assert 1 <= len(button["text"]["text"]) <= LIMITS["button_text"]
                    assert len(button["value"]) <= LIMITS["button_value"]
                    assert len(button["action_id"]) <= LIMITS["action_id"]
                    assert button.get("style", "primary") in ("primary", "danger")
                    action_ids.append(button["action_id"])
            else:
                pytest.fail(f"unexpected block type {kind}")
    assert len(action_ids) == len(set(action_ids)), "action_id must be unique within the reply"


def blocks_of(reply: Reply) -> list[dict[str, Any]]:
    messages = to_messages(reply)
    assert_valid(messages)
    assert len(messages) == 1
    return messages[0]["blocks"]


def buttons_in(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for m in messages for b in m["blocks"] if b["type"] == "actions" for e in b["elements"]]


def slack_click(button: dict[str, Any]) -> dict[str, Any]:
    """The element of a block_actions payload's "actions" list that Slack sends when this button is pressed."""
    return {
        "type": "button",
        "action_id": button["action_id"],
        "block_id": "x1Y2",
        "text": button["text"],
        "value": button["value"],
        "action_ts": "1700000000.000100",
    }


# --- mrkdwn ---------------------------------------------------------------------------------------------


def test_bold_becomes_slack_bold_and_italic_stays():
    assert to_mrkdwn("**Play back what you heard**: _always_") == "*Play back what you heard*: _always_"


def test_links_become_slack_links():
    assert (
        to_mrkdwn("- [Discovery call guide](https://example.com/guide): before the call")
        == "• <https://example.com/guide|Discovery call guide>: before the call"
    )


def test_html_and_ampersands_are_escaped_so_they_show_literally():
    assert (
        to_mrkdwn("<script>alert(1)</script> & R&D") == "&lt;script&gt;alert(1)&lt;/script&gt; &amp; R&amp;D"
    )
    # Text that looks like a Slack control sequence must not become a mention or a link.
    assert to_mrkdwn("ping <!channel> or <@U123>") == "ping &lt;!channel&gt; or &lt;@U123&gt;"
    # An & in a link's URL is escaped too; Slack unescapes it when it opens the link.
    assert to_mrkdwn("[Q&A](https://x.test/?a=1&b=2)") == "<https://x.test/?a=1&amp;b=2|Q&amp;A>"


def test_bullets_only_at_line_starts():
    text = "Steps:\n- one\n  - nested\nnot - a bullet"
    assert to_mrkdwn(text) == "Steps:\n• one\n  • nested\nnot - a bullet"


def test_everything_else_is_left_alone():
    assert to_mrkdwn("Stage 2 of 7. 100% sure: it's *fine*.") == "Stage 2 of 7. 100% sure: it's *fine*."


# --- real replies ---------------------------------------------------------------------------------------


def test_help_reply_becomes_header_sections_actions_and_context():
    reply = Renderer().render(
        "help.j2",
        me=SimpleNamespace(name="Riley Chen"),
        buttons=(Button("My deals", "deals.mine", style="primary"), Button("Search", "search.start", "x")),
    )
    messages = to_messages(reply)
    assert_valid(messages)
    assert len(messages) == 1
    assert messages[0]["text"] == "Hi Riley, I'm your sales playbook in chat"
    blocks = messages[0]["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "section", "section", "actions", "context"]
    assert blocks[0]["text"]["text"] == "Hi Riley, I'm your sales playbook in chat"
    assert blocks[1]["text"]["text"].startswith("I answer with the right part of the playbook")
    deals = blocks[2]["text"]["text"]
    assert deals.startswith('*Deals*\n• "what\'s next for Acme?", "any update on Acme?", "acme?": the stage')
    playbook = blocks[3]["text"]["text"]
    assert playbook.startswith("*Playbook*\n• ")
    assert '• "search mutual action plan": search every stage' in playbook
    assert "- " not in deals + playbook
    assert blocks[4]["text"]["text"] == (
        '*Knowledge checks and your time*\n• "quiz me", "my progress", "pause quizzes until Friday", "resume quizzes"'
        '\n• "my working days are Mon-Fri", "quiet hours 20:00-07:00", "my country is DE", "my availability"'
    )
    first, second = blocks[5]["elements"]
    assert first["text"]["text"] == "My deals" and first["style"] == "primary"
    assert second["text"]["text"] == "Search" and "style" not in second
    assert blocks[6] == {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": 'Deal names can be short or slightly misspelt: "Acmee" finds Acme.'}
        ],
    }


def test_whats_next_for_a_deal_from_the_real_router(chat_as):
    reply = chat_as().say("what's next for Acme?")
    messages = to_messages(reply)
    assert_valid(messages)
    assert len(messages) == 1
    blocks = messages[0]["blocks"]
    assert blocks[0]["text"]["text"] == "Acme Corp: Discovery"
    summary = blocks[1]
    assert summary["text"]["text"].startswith("Enterprise new business, stage 2 of 7.")
    assert summary["fields"][:2] == [
        {"type": "mrkdwn", "text": "*Owner*\nRiley Chen"},
        {"type": "mrkdwn", "text": "*Amount*\n$120,000"},
    ]
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    content = next(t for t in texts if t.startswith("*Content*\n"))
    assert "• <https://example.com/enablement/discovery-call-guide|Discovery call guide>" in content
    talk = next(t for t in texts if t.startswith("*Talk tracks*\n"))
    assert "*Play back what you heard*:" in talk and "**" not in talk
    assert blocks[-2]["type"] == "actions"
    assert [b["text"]["text"] for b in blocks[-2]["elements"]] == ["Confirm criteria", "Move to Evaluation"]
    assert blocks[-1]["type"] == "context"
    assert blocks[-1]["elements"][0]["text"].startswith("When the exit criteria are confirmed")
    # Pressing the button hands the router exactly what the handler put on it.
    for index, button in enumerate(reply.buttons):
        assert click_from_action(slack_click(blocks[-2]["elements"][index])) == Click(
            button.action, button.value
        )


def test_markup_document_fields_and_title_only_section():
    reply = parse("# Deal card\nIntro **line**\nOwner:: Riley Chen\nStage:: Discovery\n## Empty part\n> note")
    blocks = blocks_of(reply)
    assert [b["type"] for b in blocks] == ["header", "section", "section", "context"]
    assert blocks[1]["text"]["text"] == "Intro *line*"
    assert [f["text"] for f in blocks[1]["fields"]] == ["*Owner*\nRiley Chen", "*Stage*\nDiscovery"]
    assert blocks[2] == {"type": "section", "text": {"type": "mrkdwn", "text": "*Empty part*"}}


def test_a_reply_with_only_text_still_shows_it():
    blocks = blocks_of(Reply(text="Done: Acme moved to Evaluation."))
    assert blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Done: Acme moved to Evaluation."}}
    ]


def test_fallback_text_is_escaped_and_capped():
    messages = to_messages(Reply(text="R&D <team> " + "x" * 5000, header="H"))
    assert_valid(messages)
    assert messages[0]["text"].startswith("R&amp;D &lt;team&gt; x")
    assert messages[0]["text"].endswith("…")


def test_long_header_is_truncated_with_an_ellipsis():
    blocks = blocks_of(Reply(text="t", header="Quarterly review " * 20))
    header = blocks[0]["text"]["text"]
    assert len(header) == 150 and header.endswith("…")
    assert header.startswith("Quarterly review Quarterly review")


# --- splitting ------------------------------------------------------------------------------------------


def test_long_text_splits_at_lines_into_sections_without_losing_text():
    lines = [f"- Criterion {i}: the buyer has agreed to item {i} in writing & signed" for i in range(300)]
    reply = Reply(text="Criteria", sections=(Section("\n".join(lines), title="Exit criteria"),))
    blocks = blocks_of(reply)
    texts = [b["text"]["text"] for b in blocks]
    assert len(texts) >= 7
    assert all(len(t) <= 3000 for t in texts)
    assert texts[0].startswith("*Exit criteria*\n• Criterion 0:")
    assert not any(t.startswith("*Exit criteria*") for t in texts[1:])
    # Each piece ends at a line boundary: joined back, they are exactly the converted text.
    assert "\n".join(texts) == "*Exit criteria*\n" + to_mrkdwn("\n".join(lines))


def test_paragraphs_keep_every_line_across_pieces():
    paragraphs = [f"Paragraph {i}. " + "word " * 120 for i in range(20)]
    text = "\n\n".join(paragraphs)
    blocks = blocks_of(Reply(text="t", sections=(Section(text),)))
    texts = [b["text"]["text"] for b in blocks]
    assert len(texts) > 1 and all(len(t) <= 3000 for t in texts)
    assert [ln for t in texts for ln in t.splitlines() if ln.strip()] == [p.rstrip("\n") for p in paragraphs]


def test_a_single_line_longer_than_the_limit_is_hard_split():
    line = "".join(f"w{i} " for i in range(2000))  # ~11,000 characters, no newline
    blocks = blocks_of(Reply(text="t", sections=(Section(line),)))
    texts = [b["text"]["text"] for b in blocks]
    assert len(texts) == 4
    assert all(len(t) <= 3000 for t in texts)
    assert "".join(texts) == line
    assert all(t.endswith(" ") for t in texts[:-1]), "cut between words when a space is near"


def test_hard_split_never_cuts_an_entity_in_half():
    line = "&" * 2000  # 10,000 characters once escaped
    texts = [b["text"]["text"] for b in blocks_of(Reply(text="t", sections=(Section(line),)))]
    assert all(re.fullmatch(r"(&amp;)+", t) for t in texts)
    assert "".join(texts) == "&amp;" * 2000


def test_twelve_fields_make_blocks_of_ten_and_two():
    fields = tuple((f"Label {i}", f"value {i}") for i in range(12))
    blocks = blocks_of(Reply(text="t", sections=(Section("Deal summary", fields=fields),)))
    assert [len(b.get("fields", [])) for b in blocks] == [10, 2]
    assert blocks[0]["text"]["text"] == "Deal summary"
    assert "text" not in blocks[1]
    shown = [f["text"] for b in blocks for f in b["fields"]]
    assert shown == [f"*Label {i}*\nvalue {i}" for i in range(12)]


def test_a_huge_field_value_is_truncated():
    blocks = blocks_of(Reply(text="t", sections=(Section(fields=(("Notes", "n" * 5000),)),)))
    field = blocks[0]["fields"][0]["text"]
    assert len(field) == 2000 and field.startswith("*Notes*\nnnn") and field.endswith("…")


def test_sixty_sections_split_into_two_messages():
    sections = tuple(Section(f"Body {i}", title=f"Part {i}") for i in range(60))
    buttons = (Button("Next", "page.next", "2", style="primary"),)
    reply = Reply(text="Sixty parts", header="Big answer", sections=sections, buttons=buttons, context="End.")
    messages = to_messages(reply)
    assert_valid(messages)
    assert len(messages) == 2
    first, second = (m["blocks"] for m in messages)
    assert [m["text"] for m in messages] == ["Sixty parts", "Sixty parts"]
    assert first[0]["type"] == "header" and all(b["type"] != "header" for b in second)
    assert {b["type"] for b in first} == {"header", "section"}
    assert [b["type"] for b in second[-2:]] == ["actions", "context"]
    shown = [b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "section"]
    assert shown == [f"*Part {i}*\nBody {i}" for i in range(60)]


def test_buttons_and_footnote_stay_together_when_the_first_message_is_full():
    sections = tuple(Section(f"Body {i}") for i in range(49))  # header + 49 = 50: no room for the tail
    reply = Reply(text="t", header="H", sections=sections, buttons=(Button("Go", "go"),), context="Note")
    messages = to_messages(reply)
    assert_valid(messages)
    assert len(messages) == 2
    last = messages[1]["blocks"]
    assert [b["type"] for b in last] == ["section", "section", "actions", "context"]
    shown = [b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "section"]
    assert shown == [f"Body {i}" for i in range(49)]


# --- buttons --------------------------------------------------------------------------------------------


def test_twelve_buttons_make_rows_of_five_with_unique_action_ids():
    buttons = tuple(Button(f"Deal {i}", "deal.next", str(i)) for i in range(12))
    blocks = blocks_of(Reply(text="Pick a deal", buttons=buttons))
    rows = [b for b in blocks if b["type"] == "actions"]
    assert [len(r["elements"]) for r in rows] == [5, 5, 2]
    ids = [e["action_id"] for r in rows for e in r["elements"]]
    assert ids == [f"bot:{i}" for i in range(12)]


def test_long_button_label_is_truncated():
    label = "What's next for " + "Globex International Holdings " * 5
    (button,) = buttons_in(to_messages(Reply(text="t", buttons=(Button(label, "deal.next", "7"),))))
    assert len(button["text"]["text"]) == 75
    assert button["text"]["text"].endswith("…")
    assert button["text"]["text"].startswith("What's next for Globex")


def test_button_whose_value_cannot_fit_is_dropped_with_a_warning(caplog):
    buttons = (Button("Too big", "x", "v" * 2000), Button("Fine", "deal.next", "3"))
    with caplog.at_level(logging.WARNING, logger="bot.channels.slack_blocks"):
        messages = to_messages(Reply(text="t", buttons=buttons))
    assert_valid(messages)
    assert [b["text"]["text"] for b in buttons_in(messages)] == ["Fine"]
    assert "Too big" in caplog.text


def test_every_button_round_trips_to_its_click():
    buttons = (
        Button("Move to Evaluation", "deal.move", "12:5", style="primary"),
        Button("Delete", "deal.delete", "12", style="danger"),
        Button("Show more", "deals.page", ""),
        Button("Ünïcode “quotes”", "stage.show", 'p:{"odd"}'),
    ) + tuple(Button(f"Deal {i}", "deal.move-pick", f"{i}:evaluation") for i in range(8))
    messages = to_messages(Reply(text="t", buttons=buttons))
    assert_valid(messages)
    elements = buttons_in(messages)
    assert [click_from_action(slack_click(e)) for e in elements] == [
        Click(b.action, b.value) for b in buttons
    ]
    assert [e.get("style") for e in elements[:3]] == ["primary", "danger", None]


@pytest.mark.parametrize(
    "action",
    [
        {"type": "button", "action_id": "approve_request", "value": '{"a":"deal.next","v":"1"}'},
        {"type": "button", "action_id": "bot:x", "value": '{"a":"deal.next","v":"1"}'},
        {"type": "button", "action_id": "bot:0", "value": "not json"},
        {"type": "button", "action_id": "bot:0", "value": '["deal.next","1"]'},
        {"type": "button", "action_id": "bot:0", "value": '{"v":"1"}'},
        {"type": "button", "action_id": "bot:0", "value": '{"a":"","v":"1"}'},
        {"type": "button", "action_id": "bot:0", "value": '{"a":"deal.next","v":7}'},
        {"type": "button", "action_id": "bot:0"},
        {"type": "static_select", "action_id": "bot:0", "selected_option": {"value": "1"}},
        {},
    ],
)
def test_foreign_or_malformed_actions_are_not_clicks(action):
    assert click_from_action(action) is None


def test_button_value_is_compact_json():
    (button,) = buttons_in(to_messages(Reply(text="t", buttons=(Button("Go", "deal.next", "42"),))))
    assert json.loads(button["value"]) == {"a": "deal.next", "v": "42"}
    assert button["action_id"] == "bot:0"
