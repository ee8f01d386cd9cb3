"""What people type and answer stays out of the logs: errors are logged by ids and kinds."""

from __future__ import annotations

import logging

from bot.messages import Click, Request
from bot.router import handle


def test_a_failed_answer_logs_ids_and_kinds_not_what_was_typed(ctx, demo, caplog):
    secret = "our CFO Dana said the budget is 412k"
    with caplog.at_level(logging.INFO):
        reply = handle(ctx, Request(demo.id, 999_999, text=secret))  # a person who is not there: an error
        form = handle(
            ctx, Request(demo.id, 999_999, click=Click("criteria.submit", "1"), form={"evidence": secret})
        )
    assert reply.kind == "error" and form.kind == "error"
    logged = caplog.text
    assert "999999" in logged and f"message of {len(secret)} characters" in logged
    assert "click criteria.submit with a form of 1 fields" in logged
    assert "412k" not in logged and "Dana" not in logged
