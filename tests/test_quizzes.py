"""Knowledge checks: quiz files with file:line errors, FSRS scheduling per rep and question, one waiting
question at a time, the daily send in local time, answers through each channel, and the reports."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.quizfile import import_quizzes
from handlers.quizzes.daily import enqueue_knowledge_checks
from playbooks.yamlfile import YamlFileError
from storage.models import OutboxMessage, QuizQuestion, ReviewCard, ReviewLog
from tests.helpers.chat import deliver
from tests.helpers.cli import run_cli
from tests.helpers.clock import FIXED_NOW, MONDAY_0930_CHICAGO

QUIZ = """\
quizzes:
  - id: disc-1
    topic: discovery
    question: Which outcome ends the Discovery stage?
    choices: [A signed contract, Confirmed business problem and cost, A product demo]
    answer: 1
    explanation: Discovery ends when the buyer agrees the problem is real and worth solving.
"""


def write(tmp_path, text: str, name: str = "quiz.yaml"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load(ctx, demo, path):  # type: ignore[no-untyped-def]
    with ctx.sessions.begin() as db:
        return import_quizzes(db, demo.organization_id, path, ctx.playbooks)


def errors(ctx, demo, tmp_path, text: str) -> list[str]:
    with pytest.raises(YamlFileError) as caught:
        load(ctx, demo, write(tmp_path, text))
    return [str(e).replace(str(tmp_path) + "/", "") for e in caught.value.errors]


def only_question(ctx, demo, tmp_path) -> None:
    """Retire the starter questions so tests control which question comes next."""
    with ctx.sessions.begin() as db:
        for question in db.scalars(select(QuizQuestion)):
            question.active = False
    load(ctx, demo, write(tmp_path, QUIZ))


# -- authoring ----------------------------------------------------------------------------------------


def test_starter_questions_ship_for_every_bundled_stage(ctx, demo):
    with ctx.sessions() as db:
        topics = set(db.scalars(select(QuizQuestion.topic)))
        assert db.scalar(select(func.count(QuizQuestion.id))) == 26
    stages = {s.id for p in ctx.playbooks.playbooks for s in p.stages}
    assert stages <= topics


def test_quiz_file_errors_name_the_line_and_nothing_is_imported(ctx, demo, tmp_path):
    text = (
        QUIZ
        + """\
  - id: disc-1
    topic: discovery
    question: Duplicate id?
    choices: [Always, Never]
    answer: 3
  - id: disc-3
    topic: discovery
    question: Who for?
    choices: [Only one]
    answer: 0
    audience: nobody@example.com
    colour: red
"""
    )
    assert errors(ctx, demo, tmp_path, text) == [
        "quiz.yaml:12: quizzes[1].answer: answer 3 is not a choice: answers count from 0, so use 0 to 1",
        "quiz.yaml:16: quizzes[2].choices: must not be empty"
        if False
        else "quiz.yaml:16: quizzes[2].choices: needs at least 2 items",
        "quiz.yaml:19: quizzes[2]: unknown key 'colour'",
    ]
    assert errors(ctx, demo, tmp_path, QUIZ + QUIZ.split("\n", 1)[1]) == [
        "quiz.yaml:8: quizzes[1]: id 'disc-1' is used twice (first at line 2)"
    ]
    yes_no = QUIZ.replace(
        "choices: [A signed contract, Confirmed business problem and cost, A product demo]",
        "choices: [Yes, No]",
    )
    assert (
        errors(ctx, demo, tmp_path, yes_no)[0]
        == "quiz.yaml:5: quizzes[0].choices[0]: expected text, got true/false"
    )
    bad_audience = QUIZ + "    audience: nobody@example.com\n"
    assert errors(ctx, demo, tmp_path, bad_audience) == [
        "quiz.yaml:8: quizzes[0].audience: 'nobody@example.com' is not 'all reps', a manager's email (their team) or a stage id"
    ]
    with ctx.sessions() as db:
        assert db.scalar(select(QuizQuestion).where(QuizQuestion.external_id == "disc-1")) is None


def test_reimport_updates_by_id_and_bumps_the_version_only_when_the_meaning_changes(ctx, demo, tmp_path):
    assert (load(ctx, demo, write(tmp_path, QUIZ)).created, 1) == (1, 1)
    typo = QUIZ.replace("worth solving.", "worth solving!")
    assert load(ctx, demo, write(tmp_path, typo)).updated == 1
    reworded = typo.replace("Which outcome ends", "What ends")
    load(ctx, demo, write(tmp_path, reworded))
    assert load(ctx, demo, write(tmp_path, reworded)).unchanged == 1
    with ctx.sessions() as db:
        question = db.scalar(select(QuizQuestion).where(QuizQuestion.external_id == "disc-1"))
        assert (question.version, question.explanation) == (
            2,
            "Discovery ends when the buyer agrees the problem is real and worth solving!",
        )


def test_import_quizzes_command(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/q.db"}
    ok = run_cli("import", "quizzes", str(write(tmp_path, QUIZ)), env=env)
    assert ok.returncode == 0 and ok.stdout.strip().endswith("1 questions created, 0 updated, 0 unchanged")
    bad = run_cli(
        "import", "quizzes", str(write(tmp_path, QUIZ.replace("answer: 1", "answer: 7"), "bad.yaml")), env=env
    )
    assert bad.returncode == 1
    assert (
        f"{tmp_path}/bad.yaml:6: quizzes[0].answer: answer 7 is not a choice" in bad.stderr
        and "nothing was imported" in bad.stderr
    )


# -- answering and scheduling ---------------------------------------------------------------------------


def test_a_right_answer_schedules_the_question_days_later_and_logs_the_review(ctx, demo, chat_as, tmp_path):
    only_question(ctx, demo, tmp_path)
    chat = chat_as()
    asked = chat.say("quiz me")
    assert "Which outcome ends the Discovery stage?" in asked.plain_text()
    assert [b.label for b in asked.buttons] == [
        "A signed contract",
        "Confirmed business problem and cost",
        "A product demo",
        "I'm not sure",
    ]
    assert chat.say("quiz me").buttons == asked.buttons  # the same waiting question, not a second one
    result = chat.click("Confirmed business problem and cost")
    assert result.text == "Right. Confirmed business problem and cost"
    assert "Discovery ends when the buyer agrees" in result.plain_text()
    assert "From the Discovery stage of the playbook." in result.context
    with ctx.sessions() as db:
        card = db.scalar(select(ReviewCard))
        log = db.scalar(select(ReviewLog))
        assert (log.rating, log.correct, log.chosen, log.response_ms) == (3, True, 1, 0)  # Good
        assert card.pending_since is None and card.due - FIXED_NOW >= timedelta(days=2)


def test_wrong_comes_back_the_next_day_and_a_slow_answer_to_a_requested_question_is_hard(
    ctx, demo, chat_as, tmp_path
):
    only_question(ctx, demo, tmp_path)
    chat = chat_as()
    chat.say("quiz me")
    wrong = chat.click("A product demo")
    assert (
        wrong.text
        == 'Not quite. You chose "A product demo"; the answer is: Confirmed business problem and cost'
    )
    assert "caught up" in chat.say("quiz me").text  # not again the same day
    with ctx.sessions() as db:
        card = db.scalar(select(ReviewCard))
        assert db.scalar(select(ReviewLog.rating)) == 1  # Again
        assert card.due - FIXED_NOW <= timedelta(days=1)
    tomorrow = FIXED_NOW + timedelta(days=1)
    ctx.clock = lambda: tomorrow
    assert "Which outcome ends the Discovery stage?" in chat.say("quiz me").plain_text()
    ctx.clock = lambda: tomorrow + timedelta(seconds=45)  # the rep asked for it, so 45 s is a response time
    chat.click("Confirmed business problem and cost")
    with ctx.sessions() as db:
        logs = list(db.scalars(select(ReviewLog).order_by(ReviewLog.id)))
    assert [log.rating for log in logs] == [1, 2]  # Again, then Hard
    assert logs[1].response_ms == 45_000 and logs[1].delivered_at == tomorrow


def test_a_daily_question_read_late_is_graded_by_correctness_and_logged_honestly(ctx, demo, tmp_path):
    from bot.messages import Click, Request
    from bot.router import handle
    from storage.models import Person

    only_question(ctx, demo, tmp_path)
    assert enqueue_knowledge_checks(ctx, MONDAY_0930_CHICAGO) >= 1
    assert "Which outcome ends the Discovery stage?" in deliver(ctx, MONDAY_0930_CHICAGO)
    with ctx.sessions() as db:
        riley = db.scalar(select(Person).where(Person.email == "rep@example.com"))
        card = db.scalar(select(ReviewCard).where(ReviewCard.person_id == riley.id))
        value = f"{card.id}:1:1:{int(card.pending_since.timestamp())}"
    read_at = MONDAY_0930_CHICAGO + timedelta(minutes=45)  # opened the chat at 10:15
    ctx.clock = lambda: read_at
    reply = handle(ctx, Request(demo.id, riley.id, click=Click("quiz.answer", value)))
    assert reply.text.startswith("Right.")
    with ctx.sessions() as db:
        log = db.scalar(select(ReviewLog))
    assert log.rating == 3  # Good, not Hard: nobody knows when the rep first saw it
    assert log.response_ms is None  # not a response time
    assert (log.delivered_at, log.reviewed_at) == (MONDAY_0930_CHICAGO, read_at)


def test_not_sure_is_again(ctx, demo, chat_as, tmp_path):
    only_question(ctx, demo, tmp_path)
    chat = chat_as()
    chat.say("quiz me")
    assert chat.click("I'm not sure").text == "No problem. The answer is: Confirmed business problem and cost"
    with ctx.sessions() as db:
        assert (db.scalar(select(ReviewLog.rating)), db.scalar(select(ReviewLog.chosen))) == (1, None)


def test_double_clicks_and_edited_questions(ctx, demo, chat_as, tmp_path):
    only_question(ctx, demo, tmp_path)
    chat = chat_as()
    asked = chat.say("quiz me")
    button = asked.buttons[1]
    chat.press(button.action, button.value)
    again = chat.press(button.action, button.value)
    assert "You already answered this question." in again.plain_text()
    with ctx.sessions() as db:
        assert db.scalar(select(func.count(ReviewLog.id))) == 1
    ctx.clock = lambda: FIXED_NOW + timedelta(days=2)  # the question comes back
    old = chat.say("quiz me").buttons[1]
    load(ctx, demo, write(tmp_path, QUIZ.replace("Which outcome ends", "What ends")))
    edited = chat.press(old.action, old.value)
    assert "That question was edited since I sent it. Here is the new version:" in edited.plain_text()
    assert "What ends the Discovery stage?" in edited.plain_text()


def test_someone_elses_question_is_refused(ctx, demo, chat_as, tmp_path):
    only_question(ctx, demo, tmp_path)
    button = chat_as().say("quiz me").buttons[0]
    assert chat_as("sam@example.com").press(button.action, button.value).kind == "refusal"


def test_the_daily_limit_ends_the_next_question_offer(ctx, demo, chat_as):
    chat = chat_as()
    chat.say("quiz me")
    first = chat.press(chat.last.buttons[0].action, chat.last.buttons[0].value)
    assert "Next question" in [b.label for b in first.buttons]
    second = chat.click("Next question")
    result = chat.press(second.buttons[0].action, second.buttons[0].value)
    assert "Next question" not in [b.label for b in result.buttons]  # 2 a day by default


def test_audiences_target_a_team_or_a_stage(ctx, demo, chat_as, tmp_path):
    with ctx.sessions.begin() as db:
        for question in db.scalars(select(QuizQuestion)):
            question.active = False
    load(
        ctx, demo, write(tmp_path, QUIZ + "    audience: quote\n")
    )  # Sam has a deal in Quote; Riley has none
    assert "Which outcome ends" in chat_as("sam@example.com").say("quiz me").plain_text()
    assert "all caught up" in chat_as().say("quiz me").plain_text()
    load(
        ctx,
        demo,
        write(
            tmp_path, QUIZ.replace("disc-1", "team-1") + "    audience: manager@example.com\n", "team.yaml"
        ),
    )
    assert "Which outcome ends" in chat_as().say("quiz me").plain_text()


# -- the daily send -----------------------------------------------------------------------------------


def test_the_daily_question_goes_at_0930_local_on_working_days_once(ctx, demo):
    new_york_0930 = MONDAY_0930_CHICAGO - timedelta(hours=1)
    assert enqueue_knowledge_checks(ctx, new_york_0930 - timedelta(minutes=1)) == 0
    assert enqueue_knowledge_checks(ctx, new_york_0930) == 1  # Sam
    assert enqueue_knowledge_checks(ctx, MONDAY_0930_CHICAGO - timedelta(minutes=1)) == 0
    assert enqueue_knowledge_checks(ctx, MONDAY_0930_CHICAGO) == 1  # Riley
    assert enqueue_knowledge_checks(ctx, MONDAY_0930_CHICAGO + timedelta(minutes=10)) == 0
    sent = deliver(ctx, MONDAY_0930_CHICAGO + timedelta(minutes=10))
    assert sent.count("Your knowledge check for today:") == 2 and "to Sam Ortiz" in sent
    with ctx.sessions() as db:
        messages = list(db.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    assert [m.idempotency_key.split(":")[2] for m in messages] == ["2026-11-23", "2026-11-23"]
    assert messages[0].payload["buttons"][-1]["label"] == "I'm not sure"
    assert "Your knowledge check for today:" in json.dumps(messages[0].payload)
    saturday = datetime.fromisoformat("2026-11-28T15:30:00+00:00")
    assert enqueue_knowledge_checks(ctx, saturday) == 0


def test_a_missed_question_is_asked_again_alone_not_piled_up(ctx, demo):
    from storage.models import Person

    enqueue_knowledge_checks(ctx, MONDAY_0930_CHICAGO)
    deliver(ctx, MONDAY_0930_CHICAGO)
    with ctx.sessions() as db:
        riley = db.scalar(select(Person.id).where(Person.email == "rep@example.com"))
        waiting = db.scalars(
            select(ReviewCard).where(ReviewCard.pending_since.is_not(None), ReviewCard.person_id == riley)
        ).all()
        assert len(waiting) == 1
        first_card = waiting[0].id
    enqueue_knowledge_checks(ctx, MONDAY_0930_CHICAGO + timedelta(days=1))  # not answered on Monday
    deliver(ctx, MONDAY_0930_CHICAGO + timedelta(days=1))
    with ctx.sessions() as db:
        waiting = db.scalars(
            select(ReviewCard).where(ReviewCard.pending_since.is_not(None), ReviewCard.person_id == riley)
        ).all()
        assert [c.id for c in waiting] == [first_card]
        tuesday = db.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key.like("%2026-11-24")))
        assert tuesday is not None


# -- in Slack and Teams ---------------------------------------------------------------------------------


def test_answering_with_slack_buttons(ctx, slack_web):
    from tests.helpers.slack import buttons_of, click, dm, event, wait_posts

    web, slack_api = slack_web
    event(web, dm("quiz me"))
    (question,) = wait_posts(slack_api, 1)
    labels = [b["text"]["text"] for b in buttons_of(question)]
    assert labels[-1] == "I'm not sure" and len(labels) >= 3
    click(web, slack_api, buttons_of(question)[-1])
    assert "*No problem.* The answer is" in json.dumps(wait_posts(slack_api, 2)[1]["blocks"])


def test_answering_with_teams_buttons(ctx, teams_web):
    from tests.helpers.teams import actions, activity, card, post, say

    web, bot_connector = teams_web
    post(web, say(bot_connector, "quiz me"))
    question = bot_connector.wait_for(1)[0]
    not_sure = next(a for a in actions(question) if a["title"] == "I'm not sure")
    post(web, activity(bot_connector, value=not_sure["data"]))
    assert "The answer is: " in json.dumps(card(bot_connector.wait_for(2)[1]))


# -- results ----------------------------------------------------------------------------------------------


def answer_many(ctx, chat_as, email: str, picks: list[int]) -> None:
    chat = chat_as(email)
    start = ctx.clock()
    for index, pick in enumerate(picks):
        ctx.clock = lambda index=index: start + timedelta(days=index + 1)  # one round a day
        asked = chat.say("quiz me")
        button = asked.buttons[pick] if pick >= 0 else asked.buttons[-1]
        chat.press(button.action, button.value)
        assert index < 50


def test_my_progress_team_knowledge_and_quiz_report(ctx, demo, chat_as, tmp_path):
    only_question(ctx, demo, tmp_path)
    answer_many(ctx, chat_as, "rep@example.com", [0, 0, 2, 0])  # mostly the same wrong answer
    answer_many(ctx, chat_as, "sam@example.com", [1, 1])
    ctx.clock = lambda: FIXED_NOW + timedelta(days=4)  # the day of Riley's last answer
    progress = chat_as().say("my progress")
    assert progress.header == "Your knowledge checks"
    assert "**discovery**: 0 of 1 mastered · 0% right over 4 answers" in progress.plain_text()
    assert dict(progress.sections[0].fields)["Streak"] == "4 days in a row"
    team = chat_as("manager@example.com").say("team knowledge")
    lines = [line for line in team.plain_text().splitlines() if line.startswith("- ")]
    assert lines == [
        "- **Riley Chen** · discovery: 0% right over 4 answers · needs coaching",
        "- **Sam Ortiz** · discovery: 100% right over 2 answers",
    ]
    report = chat_as("enablement@example.com").say("quiz report")
    line = next(x for x in report.plain_text().splitlines() if x.startswith("- **disc-1**"))
    assert "answered by 2 of 2 reps · 33% right" in line
    assert (
        'most chosen wrong answer: "A signed contract" (50%)' in line
        and "confusing? review the wording" in line
    )
    assert chat_as().say("quiz report").kind == "refusal"
    assert chat_as().say("team knowledge").kind == "refusal"


def test_weak_topics_feed_the_coaching_nudge(ctx, demo, chat_as, tmp_path):
    only_question(ctx, demo, tmp_path)
    answer_many(ctx, chat_as, "rep@example.com", [0, 0, 0])
    nudge = chat_as("manager@example.com").say("who should I coach")
    riley = next(s for s in nudge.sections if (s.title or "").startswith("Riley Chen"))
    assert (
        "**Focus (Methodology, Skills & behaviors):** knowledge checks on Discovery are 0% right over 90 days"
        in riley.text
    )


def test_the_knowledge_checks_job_from_the_command_line(demo, database_url):
    from tests.helpers.cli import run_cli_scheduler

    queued = run_cli_scheduler({"DATABASE_URL": database_url}, "knowledge-checks", "2026-11-23T15:31:00Z")
    assert "knowledge-checks: 2 queued" in queued.stdout  # Riley in Chicago, Sam in New York
    sent = run_cli_scheduler({"DATABASE_URL": database_url}, "outbox", "2026-11-23T15:32:00Z")
    assert "--- to Riley Chen <rep@example.com> (quiz)\nYour knowledge check for today:" in sent.stdout


# -- authoring in chat and channel quizzes ---------------------------------------------------------------


def test_enablement_writes_a_question_in_chat(ctx, chat_as):
    from tests.helpers.chat import submit

    author = chat_as("enablement@example.com")
    form = author.say("new quiz question").form
    assert [f.id for f in form.fields] == ["topic", "question", "choices", "answer", "explanation", "tests"]
    bad = submit(
        author,
        form,
        topic="pricing",
        question="What do you ask first?",
        choices="Only one choice",
        answer="1",
    )
    assert bad.kind == "error" and "Choices, one per line (2 to 6): write at least 2" in bad.plain_text()
    assert dict(bad.form.errors) == {"choices": "write at least 2, one per line."}
    out_of_range = submit(
        author, form, topic="pricing", question="What do you ask first?", choices="A\nB", answer="3"
    )
    assert "answer 2 is not a choice" in out_of_range.plain_text()
    ok = submit(
        author,
        form,
        topic="pricing",
        question="What do you ask first?",
        choices="What they compare the price to\nFor a discount",
        answer="1",
        explanation="Understand before you trade.",
    )
    assert ok.plain_text().startswith("Added question chat-pricing-")
    with ctx.sessions() as db:
        question = db.scalar(select(QuizQuestion).where(QuizQuestion.topic == "pricing"))
        assert (question.choices, question.answer, question.audience) == (
            ["What they compare the price to", "For a discount"],
            0,
            "all reps",
        )
    assert chat_as().say("new quiz question").kind == "refusal"


def test_a_quiz_posted_to_a_slack_channel_is_answered_privately_and_closed_with_results(ctx, slack_web):
    from storage.models import Platform
    from storage.people import get_or_create_workspace, person_by_email
    from tests.doubles.people import SLACK_TEAM
    from tests.helpers.slack import buttons_of, click, event, mention, wait_posts

    web, slack_api = slack_web
    with ctx.sessions.begin() as db:
        workspace = get_or_create_workspace(db, Platform.SLACK, SLACK_TEAM)
        person_by_email(db, workspace.organization_id, "enablement@example.com").slack_user_id = "UAVERY"
    event(web, mention("post quiz enterprise-discovery-1 here", user="UAVERY"))
    (posted,) = wait_posts(slack_api, 1)
    assert posted["channel"] == "C0SALES" and "Answer privately with a button" in json.dumps(posted["blocks"])
    buttons = buttons_of(posted)
    with ctx.sessions() as db:
        question = db.scalar(select(QuizQuestion).where(QuizQuestion.external_id == "enterprise-discovery-1"))
    right, wrong = buttons[question.answer], buttons[(question.answer + 1) % len(question.choices)]
    # Each click is answered after its ack, so wait for each answer: a person clicks, reads, clicks again.
    for n, (button, user) in enumerate([(right, "URILEY"), (wrong, "USAM"), (wrong, "URILEY")], start=1):
        click(web, slack_api, button, channel="C0SALES", user=user)  # Riley's second try does not count
        assert slack_api.wait_for(lambda n=n: len(slack_api.responses) == n)
    assert all(r["response_type"] == "ephemeral" for r in slack_api.responses)
    texts = [json.dumps(r["blocks"]) for r in slack_api.responses]
    assert sum("Thanks, your answer is in" in t for t in texts) == 2 and any(
        "your first answer counts" in t for t in texts
    )
    click(web, slack_api, buttons[-1], channel="C0SALES", user="USAM")  # a rep cannot close it
    assert slack_api.wait_for(lambda: len(slack_api.responses) == 4)
    click(web, slack_api, buttons[-1], channel="C0SALES", user="UAVERY")
    assert slack_api.wait_for(lambda: len(slack_api.responses) == 5)
    refusal, results = slack_api.responses[3], slack_api.responses[4]
    assert refusal["response_type"] == "ephemeral" and "enablement closes channel quizzes" in json.dumps(
        refusal["blocks"]
    )
    assert results["response_type"] == "in_channel"
    shown = json.dumps(results["blocks"], ensure_ascii=False)
    assert "2 answers, 50% right" in shown and "Riley" not in shown  # no names unless asked for


def test_home_shows_a_waiting_knowledge_check(ctx, demo, chat_as):
    chat = chat_as()
    assert "Knowledge check" not in [s.title for s in chat.say("home").sections]
    chat.say("quiz me")
    home = chat.say("home")
    waiting = next(s for s in home.sections if s.title == "Knowledge check")
    assert waiting.text.startswith("1 question waiting for you.")
    assert [b.label for b in home.buttons] == ["Quiz me"]
    assert "Knowledge check · " in chat.click("Quiz me").sections[0].title


def test_the_daily_question_is_written_at_send_time_once_and_a_retry_repeats_it(ctx, demo):
    import io
    from functools import partial

    from bot.channels.console import LocalSender
    from bot.delivery import Drainer, RetryLater
    from handlers.proactive import compose
    from storage.models import OutboxStatus, Platform

    class FlakyOnce(LocalSender):
        failed = False

        def send(self, message, reply):  # type: ignore[no-untyped-def]
            if not self.failed:
                self.failed = True
                raise RetryLater("Slack is having a moment")
            return super().send(message, reply)

    new_york_0930 = MONDAY_0930_CHICAGO - timedelta(hours=1)
    assert enqueue_knowledge_checks(ctx, new_york_0930) == 1  # Sam
    with ctx.sessions() as db:
        (queued,) = db.scalars(select(OutboxMessage)).all()
    assert "buttons" not in queued.payload  # the tick only decided who gets a question today
    out = io.StringIO()
    sender = FlakyOnce(out)
    drainer = Drainer(
        ctx.sessions, {Platform.LOCAL: sender}, "t", lambda: new_york_0930, compose=partial(compose, ctx)
    )
    assert drainer.drain().retried == 1
    with ctx.sessions() as db:
        composed = db.get(OutboxMessage, queued.id).payload
        pending = db.scalars(select(ReviewCard).where(ReviewCard.pending_since.is_not(None))).all()
    assert composed["buttons"][-1]["label"] == "I'm not sure"
    drainer.clock = lambda: new_york_0930 + timedelta(minutes=5)
    assert drainer.drain().sent == 1
    with ctx.sessions() as db:
        sent = db.get(OutboxMessage, queued.id)
        still_pending = db.scalars(select(ReviewCard).where(ReviewCard.pending_since.is_not(None))).all()
    assert sent.status == OutboxStatus.SENT and sent.payload == composed  # the same words, not a new question
    assert [c.id for c in still_pending] == [c.id for c in pending] and len(pending) == 1
    assert out.getvalue().count("Your knowledge check for today:") == 1


def test_a_rep_with_no_question_left_gets_no_daily_message(ctx, demo):
    with ctx.sessions.begin() as db:
        for question in db.scalars(select(QuizQuestion)):
            question.active = False
    assert enqueue_knowledge_checks(ctx, MONDAY_0930_CHICAGO) == 2  # Sam's and Riley's turn today...
    assert deliver(ctx, MONDAY_0930_CHICAGO) == ""  # ...but there is nothing to ask
    with ctx.sessions() as db:
        assert {m.status.value for m in db.scalars(select(OutboxMessage))} == {"skipped"}
