"""Knowledge-check streaks (working days in a row, in the rep's time zone; days off, public holidays and paused
days never break one) and the opt-in team leaderboard ranked by mastery, through the terminal path and signed
Slack HTTP, with a frozen clock."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from storage.models import Organization, QuizQuestion, ReviewCard
from tests.helpers.chat import add_person

CHICAGO = ZoneInfo("America/Chicago")


def local(text: str, tz: ZoneInfo = CHICAGO) -> datetime:
    """A wall-clock time in `tz` ("2026-11-23 09:00"), as the UTC instant the clock gives."""
    return datetime.fromisoformat(text).replace(tzinfo=tz).astimezone(UTC)


def answer_at(ctx, chat, when: datetime, right: bool = True):  # type: ignore[no-untyped-def]
    """At `when`, ask for a question and answer it (rightly, or "I'm not sure"); the answer's reply."""
    ctx.clock = lambda: when
    asked = chat.say("quiz me")
    assert asked.buttons, asked.plain_text()
    if not right:
        return chat.press(asked.buttons[-1].action, asked.buttons[-1].value)
    card_id = int(asked.buttons[0].value.split(":")[0])
    with ctx.sessions() as db:
        wanted = db.get(QuizQuestion, db.get(ReviewCard, card_id).question_id).answer
    button = next(b for b in asked.buttons if b.value.split(":")[1] == str(wanted))
    return chat.press(button.action, button.value)


def streak_line(reply) -> str | None:  # type: ignore[no-untyped-def]
    return next((s.text for s in reply.sections if s.text.startswith("🔥")), None)


def progress_streak(ctx, chat, when: datetime) -> str:  # type: ignore[no-untyped-def]
    ctx.clock = lambda: when
    return dict(chat.say("my progress").sections[0].fields)["Streak"]


# -- streaks --------------------------------------------------------------------------------------------


def test_a_weekend_does_not_break_a_streak_and_a_missed_working_day_does(ctx, chat_as):
    riley = chat_as()  # America/Chicago, Monday to Friday
    answer_at(ctx, riley, local("2026-11-19 09:40"))  # Thursday
    assert streak_line(answer_at(ctx, riley, local("2026-11-20 17:00"))) == "🔥 2-day streak"  # Friday
    assert progress_streak(ctx, riley, local("2026-11-22 12:00")) == "2 days in a row"  # Sunday
    monday = answer_at(ctx, riley, local("2026-11-23 09:30"))
    assert streak_line(monday) == "🔥 3-day streak"
    assert monday.sections[0].text.startswith(("**Right.**",))  # the answer itself comes first
    # Tuesday evening without an answer yet: the day is not over, so the streak still stands
    assert progress_streak(ctx, riley, local("2026-11-24 22:00")) == "3 days in a row"
    # Tuesday was missed: on Wednesday the streak is gone, and an answer starts a new one
    assert progress_streak(ctx, riley, local("2026-11-25 08:00")) == "0 days in a row"
    assert streak_line(answer_at(ctx, riley, local("2026-11-25 10:00"))) == "🔥 1-day streak"


def test_answers_on_a_day_off_neither_count_nor_break(ctx, chat_as):
    riley = chat_as()
    answer_at(ctx, riley, local("2026-11-20 09:40"))  # Friday
    assert streak_line(answer_at(ctx, riley, local("2026-11-21 11:00"))) == "🔥 1-day streak"  # Saturday
    assert streak_line(answer_at(ctx, riley, local("2026-11-23 11:00"))) == "🔥 2-day streak"  # Monday


def test_a_public_holiday_where_the_rep_works_does_not_break_a_streak(ctx, chat_as):
    riley, sam = chat_as(), chat_as("sam@example.com")
    ctx.clock = lambda: local("2026-11-20 12:00")
    assert riley.say("my country is US").text.startswith("Got it: you work in United States")
    new_york = ZoneInfo("America/New_York")
    for day in ("23", "24", "25"):  # Monday to Wednesday; Thursday 26 is Thanksgiving
        answer_at(ctx, riley, local(f"2026-11-{day} 09:45"))
        answer_at(ctx, sam, local(f"2026-11-{day} 09:45", new_york))
    friday_riley = answer_at(ctx, riley, local("2026-11-27 09:45"))
    friday_sam = answer_at(ctx, sam, local("2026-11-27 09:45", new_york))
    assert streak_line(friday_riley) == "🔥 4-day streak"  # Thanksgiving is a US public holiday for Riley
    assert streak_line(friday_sam) == "🔥 1-day streak"  # Sam set no country: Thursday was a working day


def test_paused_days_do_not_break_a_streak_and_resuming_ends_the_pause(ctx, chat_as):
    riley, sam = chat_as(), chat_as("sam@example.com")
    new_york = ZoneInfo("America/New_York")
    for day in ("23", "24"):  # Monday, Tuesday
        answer_at(ctx, riley, local(f"2026-11-{day} 09:45"))
        answer_at(ctx, sam, local(f"2026-11-{day} 09:45", new_york))
    ctx.clock = lambda: local("2026-11-24 18:00")
    assert riley.say("pause quizzes until Monday").text.startswith("Knowledge checks paused")
    # Wednesday to Friday paused for Riley; Sam just did not answer
    assert streak_line(answer_at(ctx, riley, local("2026-11-30 09:45"))) == "🔥 3-day streak"
    assert streak_line(answer_at(ctx, sam, local("2026-11-30 09:45", new_york))) == "🔥 1-day streak"
    # paused again on Monday after answering, back on Wednesday: Tuesday is excused, Thursday is not
    ctx.clock = lambda: local("2026-11-30 18:00")
    riley.say("pause quizzes until 14 Dec")
    ctx.clock = lambda: local("2026-12-02 08:00")
    assert riley.say("resume quizzes").text == "Knowledge checks are on again."
    assert streak_line(answer_at(ctx, riley, local("2026-12-02 09:45"))) == "🔥 4-day streak"
    assert progress_streak(ctx, riley, local("2026-12-04 09:00")) == "0 days in a row"  # Thursday missed


def test_the_rep_s_time_zone_decides_the_day_across_a_daylight_saving_change(ctx, chat_as):
    riley = chat_as()  # Chicago leaves daylight-saving time on Sunday 1 November 2026
    answer_at(ctx, riley, local("2026-10-29 23:30"))  # Thursday (Friday 04:30 UTC)
    answer_at(ctx, riley, local("2026-10-30 23:30"))  # Friday (Saturday 04:30 UTC)
    monday = answer_at(ctx, riley, local("2026-11-02 23:30"))  # Monday, now UTC-6 (Tuesday 05:30 UTC)
    assert streak_line(monday) == "🔥 3-day streak"
    assert progress_streak(ctx, riley, local("2026-11-03 12:00")) == "3 days in a row"
    # just after midnight in Chicago it is already Wednesday: Tuesday went unanswered
    assert progress_streak(ctx, riley, local("2026-11-04 00:10")) == "0 days in a row"


# -- the leaderboard ------------------------------------------------------------------------------------


def organization_settings(ctx, demo) -> dict:  # type: ignore[no-untyped-def,type-arg]
    with ctx.sessions() as db:
        return dict(db.get(Organization, demo.organization_id).settings or {})


def test_the_leaderboard_is_off_until_enablement_turns_it_on(ctx, demo, chat_as):
    riley, avery = chat_as(), chat_as("enablement@example.com")
    off = riley.say("leaderboard")
    assert off.text.startswith("The team leaderboard is off in your organization.")
    assert 'Enablement (Avery Brooks) can turn it on by saying "leaderboard on"' in off.text
    refused = riley.say("leaderboard on")
    assert refused.kind == "refusal"
    assert refused.text.startswith("Turning the team leaderboard on or off is for enablement (Avery Brooks)")
    assert chat_as("manager@example.com").say("turn on the leaderboard").kind == "refusal"
    assert organization_settings(ctx, demo).get("leaderboard") is None
    assert avery.say("turn on the team leaderboard").text.startswith("The team leaderboard is on.")
    assert organization_settings(ctx, demo)["leaderboard"] is True
    assert riley.say("show me the leaderboard").header == "Team leaderboard: Morgan Patel's team"
    assert avery.say("leaderboard off").text.startswith("The team leaderboard is off: nobody sees a ranking.")
    assert riley.say("where do I rank?").text.startswith("The team leaderboard is off")


def test_answering_last_does_not_put_a_rep_on_top(ctx, demo, chat_as):
    chat_as("enablement@example.com").say("leaderboard on")
    riley, sam = chat_as(), chat_as("sam@example.com")
    for day in (16, 17, 18):  # Riley knew the answers, earlier in the week
        answer_at(ctx, riley, local(f"2026-11-{day} 09:40"))
    for minute in ("10", "20", "30"):  # Sam got every one wrong, just now
        answer_at(ctx, sam, local(f"2026-11-19 11:{minute}"), right=False)
    ctx.clock = lambda: local("2026-11-19 12:00")
    lines = [line for line in riley.say("leaderboard").plain_text().splitlines() if line.startswith("- ")]
    assert [line.split(" · ")[0] for line in lines] == ["- 1. **Riley Chen** (you)", "- 2. **Sam Ortiz**"]


def test_the_leaderboard_ranks_the_team_by_mastery_not_volume(ctx, demo, chat_as):
    add_person(ctx, demo, "alex@example.com", "Alex Kim", manager="manager@example.com")
    add_person(ctx, demo, "nia@example.com", "Nia New", manager="manager@example.com")
    add_person(ctx, demo, "other@example.com", "Olga Other")  # no manager: not on Morgan's team
    chat_as("enablement@example.com").say("leaderboard on")
    riley, sam, alex = chat_as(), chat_as("sam@example.com"), chat_as("alex@example.com")
    for day in range(6):  # Riley answers a lot, but doesn't know the answers
        for hour in ("09:40", "14:00"):
            answer_at(ctx, riley, local(f"2026-11-{16 + day:02d} {hour}"), right=False)
    for who in (sam, alex):  # Sam and Alex answer two questions, both right, at the same moments
        answer_at(ctx, who, local("2026-11-16 09:40"))
        answer_at(ctx, who, local("2026-11-17 09:40"))
    answer_at(ctx, chat_as("other@example.com"), local("2026-11-17 09:40"))
    ctx.clock = lambda: local("2026-11-23 12:00")
    board = riley.say("leaderboard")
    lines = [line for line in board.plain_text().splitlines() if line.startswith("- ")]
    sam_line = next(line for line in lines if "Sam Ortiz" in line)
    assert [line.split(" · ")[0] for line in lines] == [
        "- 1. **Alex Kim**",  # the same recall as Sam: by name
        "- 2. **Sam Ortiz**",
        "- 3. **Riley Chen** (you)",  # most answers, least remembered
        "- **Nia New**",  # no answers: last, without a rank
    ]
    percents = [int(re.search(r"· (\d+)% expected recall in 3 weeks over \d+ questions?$", x)[1]) for x in lines[:3]]
    assert percents[0] == percents[1] > percents[2]
    answered = [int(re.search(r"over (\d+) question", x)[1]) for x in lines[:3]]
    assert answered[2] > answered[1]  # Riley was asked more questions than Sam, and ranks below
    assert lines[3] == "- **Nia New** · no answers yet"
    assert "Olga" not in board.plain_text()
    assert chat_as("other@example.com").say("leaderboard").text.startswith(
        "You are not on a manager's team yet, so there is no team to rank."
    )
    assert chat_as("enablement@example.com").say("leaderboard").text.startswith(
        "The leaderboard ranks each manager's team for its reps and manager."
    )
    # Sam hides: teammates see "a teammate" in Sam's place; Sam still sees their own name
    assert sam.say("hide me from the leaderboard").text.startswith(
        'Done: on the leaderboard your teammates see you as "a teammate"'
    )
    seen_by_riley = [x for x in riley.say("leaderboard").plain_text().splitlines() if x.startswith("- 2.")]
    assert seen_by_riley == [sam_line.replace("Sam Ortiz", "a teammate")]
    assert "- 2. **Sam Ortiz** (you)" in sam.say("leaderboard").plain_text()
    assert "- 2. **a teammate**" in chat_as("manager@example.com").say("leaderboard").plain_text()
    sam.say("show me on the leaderboard")
    assert "- 2. **Sam Ortiz**" in riley.say("leaderboard").plain_text()


def test_the_leaderboard_shows_the_top_ten_and_the_asker_s_own_place(ctx, demo, chat_as):
    chat_as("enablement@example.com").say("leaderboard on")
    for n in range(11):
        email = f"teammate{n:02d}@example.com"
        add_person(ctx, demo, email, f"Teammate {n:02d}", manager="manager@example.com")
        answer_at(ctx, chat_as(email), local("2026-11-20 09:40"))
    riley = chat_as()
    answer_at(ctx, riley, local("2026-11-20 09:40"), right=False)
    ctx.clock = lambda: local("2026-11-23 12:00")
    lines = [x for x in riley.say("leaderboard").plain_text().splitlines() if x.startswith(("- ", "…"))]
    assert len(lines) == 13
    assert lines[0].startswith("- 1. **Teammate 00**") and lines[9].startswith("- 10. **Teammate 09**")
    assert lines[10] == "- …"
    assert lines[11].startswith("- 12. **Riley Chen** (you)")
    assert lines[12] == "…and 2 more teammates."  # Teammate 10 and Sam (no answers)


def test_help_offers_the_leaderboard_only_when_it_is_on(ctx, chat_as):
    riley, avery = chat_as(), chat_as("enablement@example.com")
    assert "leaderboard" not in riley.say("help").plain_text()
    assert '"leaderboard on", "leaderboard off"' in avery.say("help").plain_text()
    avery.say("leaderboard on")
    assert '"leaderboard": your team ranked by' in riley.say("help").plain_text()


# -- through Slack -------------------------------------------------------------------------------------


def test_streak_and_leaderboard_over_signed_slack_requests(ctx, slack_web):
    from storage.people import find_workspace
    from tests.doubles.people import SLACK_TEAM
    from tests.helpers.slack import buttons_of, click, dm, event, header_of, wait_posts

    web, slack_api = slack_web
    with ctx.sessions.begin() as db:
        organization = db.get(Organization, find_workspace(db, f"slack:{SLACK_TEAM}").organization_id)
        organization.settings = {**(organization.settings or {}), "leaderboard": True}
    event(web, dm("quiz me"))
    (question,) = wait_posts(slack_api, 1)
    click(web, slack_api, buttons_of(question)[-1])  # "I'm not sure"
    result = wait_posts(slack_api, 2)[1]
    assert "🔥 1-day streak" in json.dumps(result["blocks"], ensure_ascii=False)
    event(web, dm("leaderboard"))
    board = wait_posts(slack_api, 3)[2]
    assert header_of(board) == "Team leaderboard: Morgan Patel's team"
    text = json.dumps(board["blocks"], ensure_ascii=False)
    assert "1. *Riley Chen* (you)" in text and "*Sam Ortiz* · no answers yet" in text
