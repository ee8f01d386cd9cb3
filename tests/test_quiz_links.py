"""Quiz questions tied to the playbook section they test (`tests:` in quiz files).

The reference is checked at import with `file:line` and the nearest name; when the section's text changes
in the playbook folder, the clock's knowledge-checks job (the production path: it runs every 10 minutes
with the playbooks the clock loaded) flags the question for enablement and asks it again to the reps who
had answered it right, and only them, and only for that section. Enablement sees the flag in chat and in
`check-playbooks`, and clears it by marking the question reviewed or re-importing it updated. A rep's weak
topic names the section to re-read. The clock is frozen throughout."""

from __future__ import annotations

import dataclasses
import textwrap
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.quizfile import import_quizzes
from handlers.quizzes.daily import enqueue_knowledge_checks
from playbooks.loader import load_library
from playbooks.yamlfile import YamlFileError
from storage.models import Person, QuizQuestion, ReviewCard
from tests.helpers.chat import Chat, deliver
from tests.helpers.cli import run_cli
from tests.helpers.clock import FIXED_NOW
from tests.helpers.playbooks import edited_copy

REFS_TEXT = "        text: The buyer has spoken with a reference customer or said they do not need one\n"
REFS_EDITED = (
    REFS_TEXT,
    "        text: The buyer has spoken with a reference customer in their own industry\n",
)
REFS_REMOVED = ("      - id: references-checked\n" + REFS_TEXT, "")

QUIZ = """\
quizzes:
  - id: refs
    topic: evaluation
    tests: enterprise/evaluation/exit_criterion:references-checked
    question: When is the references-checked criterion met?
    choices: [You sent a list of references, The buyer spoke with a reference or said they need none, A case study is online]
    answer: 1
    explanation: The buyer must have talked to a reference, or said they need none.
  - id: criteria
    topic: evaluation
    tests: {playbook: enterprise, stage: evaluation, exit_criterion: criteria-agreed}
    question: Who must agree the decision criteria before Evaluation ends?
    choices: [The buying group, Your sales manager, Procurement alone]
    answer: 0
  - id: roi
    topic: proposal
    tests: enterprise/proposal/tasks
    question: Whose figures does the ROI model rest on?
    choices: [Industry averages, The buyer's own figures]
    answer: 1
"""
RIGHT = {
    "When is the references-checked criterion met?": 1,
    "Who must agree the decision criteria before Evaluation ends?": 0,
    "Whose figures does the ROI model rest on?": 1,
}
TUESDAY_0930_CHICAGO = FIXED_NOW + timedelta(days=1, minutes=30)  # Riley's daily check, the day after


def write(tmp_path, text: str, name: str = "quiz.yaml"):  # type: ignore[no-untyped-def]
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def import_file(ctx, demo, path, now=FIXED_NOW):  # type: ignore[no-untyped-def]
    with ctx.sessions.begin() as db:
        return import_quizzes(db, demo.organization_id, path, ctx.playbooks, now=now)


def linked_only(ctx, demo, tmp_path):  # type: ignore[no-untyped-def]
    """The starter questions retired, so the test's three linked questions are the whole set."""
    with ctx.sessions.begin() as db:
        for question in db.scalars(select(QuizQuestion)):
            question.active = False
    path = write(tmp_path, QUIZ)
    import_file(ctx, demo, path)
    return path


def answer(chat: Chat, right: bool = True) -> str:
    """Ask for a question and answer it (right or wrong); returns the question asked."""
    asked = chat.say("quiz me")
    text = next(q for q in RIGHT if q in asked.plain_text())
    pick = RIGHT[text] if right else (RIGHT[text] + 1) % 2
    chat.press(asked.buttons[pick].action, asked.buttons[pick].value)
    return text


def cards_of(ctx, email: str) -> dict[str, ReviewCard]:
    with ctx.sessions() as db:
        person = db.scalar(select(Person.id).where(Person.email == email))
        rows = db.execute(
            select(QuizQuestion.external_id, ReviewCard)
            .join(ReviewCard, ReviewCard.question_id == QuizQuestion.id)
            .where(ReviewCard.person_id == person)
        ).all()
        return {external_id: card for external_id, card in rows}


def flags(ctx) -> dict[str, str | None]:
    with ctx.sessions() as db:
        return {
            q.external_id: q.review_reason
            for q in db.scalars(select(QuizQuestion).where(QuizQuestion.section_ref.is_not(None)))
            if q.review_flagged_at is not None
        }


def edited_ctx(ctx, tmp_path, *edits):  # type: ignore[no-untyped-def]
    """The bot as it runs after enablement changed the playbook folder (the clock restarted with it)."""
    folder = edited_copy(tmp_path, *edits)
    return dataclasses.replace(ctx, playbooks=load_library(folder)), folder


# -- the reference in quiz files ---------------------------------------------------------------------------


def test_each_bad_reference_is_reported_at_its_line_with_the_nearest_name_and_nothing_is_imported(
    ctx, demo, tmp_path
):
    path = write(
        tmp_path,
        """\
        quizzes:
          - id: a
            topic: evaluation
            tests: enterprise/evaluaton
            question: Q?
            choices: [x, y]
            answer: 0
          - id: b
            topic: evaluation
            tests: evaluation/exit_criterion:reference-checked
            question: Q?
            choices: [x, y]
            answer: 0
          - id: c
            topic: evaluation
            tests:
              stage: evaluation
              objction: We need more time to evaluate
            question: Q?
            choices: [x, y]
            answer: 0
          - id: d
            topic: evaluation
            tests: {stage: evaluation, objection: we need more time}
            question: Q?
            choices: [x, y]
            answer: 0
          - id: e
            topic: proposal
            tests: enterprse/proposal/taks
            question: Q?
            choices: [x, y]
            answer: 0
          - id: f
            topic: demo
            tests: transactional/demo/talk_track
            question: Q?
            choices: [x, y]
            answer: 0
        """,
    )
    with pytest.raises(YamlFileError) as caught:
        import_file(ctx, demo, path)
    found = [str(e).replace(str(tmp_path) + "/", "") for e in caught.value.errors]
    assert found == [
        "quiz.yaml:4: quizzes[0].tests: no stage 'evaluaton' in playbook 'enterprise'; did you mean 'evaluation'?",
        "quiz.yaml:10: quizzes[1].tests: stage 'evaluation' of playbook 'enterprise' has no exit criterion "
        "'reference-checked'; did you mean 'references-checked'?",
        "quiz.yaml:18: quizzes[2].tests: unknown key 'objction': did you mean 'objection'? use playbook, stage, "
        "exit_criterion, objection, talk_track, section",
        "quiz.yaml:24: quizzes[3].tests: stage 'evaluation' of playbook 'enterprise' has no objection 'we need more "
        "time'; did you mean 'We need more time to evaluate'?",
        "quiz.yaml:30: quizzes[4].tests: no playbook 'enterprse'; did you mean 'enterprise'?",
        "quiz.yaml:36: quizzes[5].tests: name the talk track: `talk_track:…`, or the whole kind `talk_tracks`",
    ]
    with ctx.sessions() as db:
        assert db.scalar(select(QuizQuestion).where(QuizQuestion.external_id == "a")) is None


def test_the_import_command_prints_file_line_errors_and_exits_1(demo, database_url, tmp_path):
    bad = write(tmp_path, QUIZ.replace("exit_criterion: criteria-agreed", "exit_criterion: criteria-agred"))
    result = run_cli("import", "quizzes", str(bad), env={"DATABASE_URL": database_url})
    assert result.returncode == 1
    assert (
        f"{bad}:11: quizzes[1].tests: stage 'evaluation' of playbook 'enterprise' has no exit criterion "
        "'criteria-agred'; did you mean 'criteria-agreed'?"
    ) in result.stderr
    assert "nothing was imported" in result.stderr and "Traceback" not in result.stderr


def test_the_starter_questions_are_linked_to_the_bundled_playbooks(ctx, demo, database_url):
    with ctx.sessions() as db:
        refs = dict(db.execute(select(QuizQuestion.external_id, QuizQuestion.section_ref)).all())
    assert refs["enterprise-evaluation-1"] == "enterprise/evaluation/exit_criterion:references-checked"
    assert refs["enterprise-awareness-2"] == (
        "enterprise/awareness/objection:We've always done it this way and it works well enough"
    )
    assert refs["transactional-demo-1"] == "transactional/demo/tasks"
    assert sum(1 for ref in refs.values() if ref) == 22 and refs["coaching-general-1"] is None
    # the bundled playbooks fit them: nothing to warn or note
    check = run_cli("check-playbooks", env={"DATABASE_URL": database_url})
    assert check.returncode == 0 and check.stdout.startswith("OK: ") and len(check.stdout.splitlines()) == 1


# -- a section's text changes ------------------------------------------------------------------------------


def test_editing_a_section_flags_its_questions_and_reasks_only_reps_who_had_it_right(
    ctx, demo, chat_as, tmp_path
):
    linked_only(ctx, demo, tmp_path)
    riley, sam = chat_as("rep@example.com"), chat_as("sam@example.com")
    assert {answer(riley) for _ in range(3)} == set(RIGHT)  # Riley learned all three on Monday
    assert answer(sam, right=False) == "When is the references-checked criterion met?"  # Sam did not
    before_riley, before_sam = cards_of(ctx, "rep@example.com"), cards_of(ctx, "sam@example.com")

    # the unchanged playbooks: the clock's job changes nothing
    enqueue_knowledge_checks(ctx, FIXED_NOW + timedelta(hours=2))
    assert flags(ctx) == {}
    assert {k: c.card for k, c in cards_of(ctx, "rep@example.com").items()} == {
        k: c.card for k, c in before_riley.items()
    }

    # Tuesday: enablement rewrote the references-checked criterion; the clock runs with the new folder
    edited, _ = edited_ctx(ctx, tmp_path, REFS_EDITED)
    assert enqueue_knowledge_checks(edited, TUESDAY_0930_CHICAGO) == 2  # Riley's and Sam's daily checks
    assert flags(ctx) == {"refs": "its playbook section changed since the question was reviewed"}
    after = cards_of(ctx, "rep@example.com")
    assert after["refs"].relearn_since == TUESDAY_0930_CHICAGO
    assert after["refs"].card["stability"] is None and after["refs"].due == TUESDAY_0930_CHICAGO
    for unchanged in ("criteria", "roi"):  # other sections, even of the same stage, are not re-asked
        assert after[unchanged].card == before_riley[unchanged].card
        assert after[unchanged].relearn_since is None
    sam_after = cards_of(ctx, "sam@example.com")["refs"]
    assert sam_after.card == before_sam["refs"].card and sam_after.relearn_since is None  # had it wrong

    # the daily question that goes out is the re-asked one, saying why
    sent = " ".join(deliver(edited, TUESDAY_0930_CHICAGO).split())  # the terminal wraps long lines
    assert "When is the references-checked criterion met?" in sent
    assert (
        "The playbook's Evaluation · exit criterion “references-checked” changed since you answered this; "
        "here it is again."
    ) in sent

    # the next runs of the job do nothing more: no second reset, the flag kept
    enqueue_knowledge_checks(edited, TUESDAY_0930_CHICAGO + timedelta(minutes=10))
    assert cards_of(ctx, "rep@example.com")["refs"].relearn_since == TUESDAY_0930_CHICAGO
    assert list(flags(ctx)) == ["refs"]


def test_enablement_sees_the_flag_and_clears_it_by_marking_it_reviewed(ctx, demo, chat_as, tmp_path):
    linked_only(ctx, demo, tmp_path)
    riley = chat_as("rep@example.com")
    for _ in range(3):
        answer(riley)
    edited, _ = edited_ctx(ctx, tmp_path, REFS_EDITED)
    enqueue_knowledge_checks(edited, TUESDAY_0930_CHICAGO)
    enablement = Chat(
        dataclasses.replace(edited, clock=lambda: TUESDAY_0930_CHICAGO), demo, "enablement@example.com"
    )

    report = enablement.say("quiz report")
    review = next(s for s in report.sections if (s.title or "").startswith("To review"))
    assert review.title == "To review: the playbook changed (1)"
    assert (
        "- **refs** (evaluation) tests Evaluation · exit criterion “references-checked”: its playbook section "
        "changed since the question was reviewed (flagged 24 November 2026; asked again to 1 rep who had it right)"
    ) in review.text
    assert [b.label for b in report.buttons] == ["Mark refs reviewed"]
    lines = report.plain_text().splitlines()
    assert next(x for x in lines if x.startswith("- **refs**")).endswith(
        "· **to review: the playbook changed**"
    )
    assert "to review" not in next(x for x in lines if x.startswith("- **roi**"))

    listing = enablement.say("questions to review")
    assert listing.header == "Questions to review"
    assert (
        "**refs** (evaluation) tests Evaluation · exit criterion “references-checked”" in listing.plain_text()
    )
    assert chat_as("rep@example.com").say("questions to review").kind == "refusal"
    assert chat_as("rep@example.com").say("mark refs reviewed").kind == "refusal"

    assert (
        enablement.say("mark ref reviewed").text == 'There is no question with id ref. Did you mean "refs"?'
    )
    enablement.say("questions to review")
    done = enablement.click("Mark refs reviewed")
    assert done.text == "Marked refs reviewed against the playbook as it is now. Nothing else to review."
    assert flags(ctx) == {}
    assert "No quiz question is waiting for review" in enablement.say("questions to review").plain_text()
    # reviewed against the new text: the clock does not flag it again
    enqueue_knowledge_checks(edited, TUESDAY_0930_CHICAGO + timedelta(hours=1))
    assert flags(ctx) == {}


def test_reimporting_the_question_updated_clears_the_flag_and_unchanged_keeps_it(
    ctx, demo, chat_as, tmp_path
):
    path = linked_only(ctx, demo, tmp_path)
    edited, _ = edited_ctx(ctx, tmp_path, REFS_EDITED)
    enqueue_knowledge_checks(edited, TUESDAY_0930_CHICAGO)
    assert list(flags(ctx)) == ["refs"]

    same = import_file(edited, demo, path, now=TUESDAY_0930_CHICAGO)
    assert same.unchanged == 3 and same.flagged == ["refs"]
    assert "still flagged for review, their playbook section changed: refs" in same.summary("quiz.yaml")

    updated = write(
        tmp_path,
        QUIZ.replace(
            "The buyer spoke with a reference or said they need none",
            "The buyer spoke with a reference in their industry",
        ),
        "updated.yaml",
    )
    result = import_file(edited, demo, updated, now=TUESDAY_0930_CHICAGO)
    assert (result.updated, result.cleared, result.flagged) == (1, ["refs"], [])
    assert "reviewed (flag lifted): refs" in result.summary("updated.yaml")
    assert flags(ctx) == {}


def test_a_section_that_is_gone_flags_its_questions_without_reasking_and_check_playbooks_warns_first(
    ctx, demo, chat_as, database_url, tmp_path
):
    linked_only(ctx, demo, tmp_path)
    answer(chat_as("rep@example.com"))
    folder = edited_copy(tmp_path, REFS_REMOVED)

    # before deploying: check-playbooks reads the database and says what the removal strands
    check = run_cli("check-playbooks", str(folder), env={"DATABASE_URL": database_url})
    assert check.returncode == 0, check.stderr
    lines = check.stdout.splitlines()[1:]
    assert (
        'warning: organization "Local": 1 quiz question tests '
        "`enterprise/evaluation/exit_criterion:references-checked`, a playbook section these files no longer "
        "have: refs"
    ) in lines
    assert "warning:   nearest current section: `enterprise/evaluation`." in "\n".join(lines).replace(
        " If it is", "\n"
    )
    strict = run_cli("check-playbooks", "--strict", str(folder), env={"DATABASE_URL": database_url})
    assert strict.returncode == 1

    removed = dataclasses.replace(ctx, playbooks=load_library(folder))
    enqueue_knowledge_checks(removed, TUESDAY_0930_CHICAGO)
    assert flags(ctx) == {
        "refs": "its playbook section is no longer in the playbooks (removed, or its stage or id renamed)"
    }
    assert all(card.relearn_since is None for card in cards_of(ctx, "rep@example.com").values())
    enablement = Chat(removed, demo, "enablement@example.com")
    assert enablement.say("questions to review").buttons == ()  # fixed in the file, not by a click
    refused = enablement.say("mark refs reviewed")
    assert refused.kind == "error" and "point its `tests:` at a current section" in refused.text


def test_check_playbooks_notes_what_a_text_change_will_do_and_what_waits_for_review(
    ctx, demo, chat_as, database_url, tmp_path
):
    linked_only(ctx, demo, tmp_path)
    for _ in range(3):
        answer(chat_as("rep@example.com"))
    edited, folder = edited_ctx(ctx, tmp_path, REFS_EDITED)
    env = {"DATABASE_URL": database_url}
    before = run_cli("check-playbooks", "--strict", str(folder), env=env)
    assert before.returncode == 0  # a changed text is news, not a problem
    assert before.stdout.splitlines()[1:] == [
        'note: organization "Local": these files change the text of '
        "`enterprise/evaluation/exit_criterion:references-checked`, which 1 quiz question tests: refs",
        "note:   when the bot loads them, the questions are flagged for enablement's review and asked again to "
        "the 1 rep who had answered right",
    ]
    enqueue_knowledge_checks(edited, TUESDAY_0930_CHICAGO)
    after = run_cli("check-playbooks", str(folder), env=env)
    assert after.stdout.splitlines()[1:] == [
        'note: organization "Local": 1 quiz question waits for enablement\'s review, the playbook section it '
        'tests having changed: refs (in chat: "questions to review")'
    ]


# -- weak topics ---------------------------------------------------------------------------------------------


def test_a_weak_topic_names_the_section_to_reread(ctx, demo, chat_as, tmp_path):
    linked_only(ctx, demo, tmp_path)
    riley = chat_as("rep@example.com")
    for day in range(3):  # the references question wrong three days running, the others right
        ctx.clock = lambda day=day: FIXED_NOW + timedelta(days=day)
        for _ in range(3 if day == 0 else 1):
            asked = riley.say("quiz me")
            if "When is the references-checked criterion met?" in asked.plain_text():
                riley.press(asked.buttons[0].action, asked.buttons[0].value)
            elif any(q in asked.plain_text() for q in RIGHT):
                text = next(q for q in RIGHT if q in asked.plain_text())
                riley.press(asked.buttons[RIGHT[text]].action, asked.buttons[RIGHT[text]].value)
    progress = riley.say("my progress")
    text = progress.plain_text()
    assert "**evaluation**" in text
    assert (
        "Re-read: Evaluation · exit criterion “references-checked”: The buyer has spoken with a reference "
        "customer or said they do not need one"
    ) in text
    assert "Re-read: Proposal" not in text  # a topic answered right needs no re-reading
    team = chat_as("manager@example.com").say("team knowledge").plain_text()
    assert (
        "- **Riley Chen** · evaluation: 25% right over 4 answers · needs coaching · re-read: Evaluation · "
        "exit criterion “references-checked”\n"  # the section she got wrong, not the one she got right
    ) in team
    stage = riley.click("Re-read Evaluation")
    assert "references" in stage.plain_text().lower() and "Evaluation" in (stage.header or stage.plain_text())


def test_the_demo_loads_into_edited_playbooks_without_the_links_they_no_longer_have(ctx, tmp_path):
    from bot.demo import load_if_empty
    from storage.people import LOCAL_WORKSPACE, get_or_create_workspace

    edited, _ = edited_ctx(ctx, tmp_path, REFS_REMOVED)
    with ctx.sessions.begin() as db:  # `python -m bot chat`'s first run, with an edited playbook folder
        workspace = get_or_create_workspace(db, *LOCAL_WORKSPACE, name="Local")
        assert load_if_empty(db, workspace.organization_id, edited.playbooks, FIXED_NOW)
    with ctx.sessions() as db:
        refs = dict(db.execute(select(QuizQuestion.external_id, QuizQuestion.section_ref)).all())
    assert len(refs) == 26 and refs["enterprise-evaluation-1"] is None
    assert refs["enterprise-evaluation-2"] == (
        "enterprise/evaluation/objection:We're also looking at a competitor and you look much the same"
    )


# -- the answer names the section --------------------------------------------------------------------------


def _ask_until(chat: Chat, wanted: str):  # type: ignore[no-untyped-def]
    """Ask for questions, answering the others right, until `wanted` is the one asked."""
    for _ in range(3):
        asked = chat.say("quiz me")
        text = next(q for q in RIGHT if q in asked.plain_text())
        if text == wanted:
            return asked
        chat.press(asked.buttons[RIGHT[text]].action, asked.buttons[RIGHT[text]].value)
    raise AssertionError(f"{wanted} was never asked")


def test_a_wrong_answer_names_the_section_it_tests_and_offers_to_reread_its_stage(
    ctx, demo, chat_as, tmp_path
):
    linked_only(ctx, demo, tmp_path)
    riley = chat_as("rep@example.com")
    asked = _ask_until(riley, "When is the references-checked criterion met?")
    wrong = riley.press(asked.buttons[0].action, asked.buttons[0].value)
    text = " ".join(wrong.plain_text().split())
    assert wrong.text.startswith("Not quite.")
    assert (
        "The buyer must have talked to a reference, or said they need none." in text
    )  # the explanation stays
    assert (
        "This tests the playbook's Evaluation · exit criterion “references-checked”; re-read it: The buyer has "
        "spoken with a reference customer or said they do not need one"
    ) in text
    assert [b.label for b in wrong.buttons][0] == "Re-read Evaluation"
    assert "🔥 1-day streak" in text  # the streak line is still there
    stage = riley.click("Re-read Evaluation")
    assert "Evaluation" in (stage.header or "") and "references" in stage.plain_text().lower()


def test_a_right_answer_names_the_section_and_opens_the_stage_it_belongs_to(ctx, demo, chat_as, tmp_path):
    linked_only(ctx, demo, tmp_path)
    riley = chat_as("rep@example.com")
    asked = _ask_until(riley, "Whose figures does the ROI model rest on?")  # topic proposal, tests its tasks
    right = riley.press(asked.buttons[1].action, asked.buttons[1].value)
    text = " ".join(right.plain_text().split())
    assert right.text.startswith("Right.")
    assert (
        "This tests the playbook's Proposal and business case · tasks." in text and "re-read it" not in text
    )
    assert [b.label for b in right.buttons][0] == "Open the Proposal and business case stage"
    assert "🔥 1-day streak" in text
    stage = riley.click("Open the Proposal and business case stage")
    assert "Proposal" in (stage.header or "")


def test_an_unlinked_question_says_only_which_stage_it_is_from(ctx, demo, chat_as, tmp_path):
    with ctx.sessions.begin() as db:
        for question in db.scalars(select(QuizQuestion)):
            question.active = question.external_id == "enterprise-discovery-1"
            if question.active:
                question.section_ref = None  # as a question written without `tests:`
    riley = chat_as("rep@example.com")
    asked = riley.say("quiz me")
    result = riley.press(asked.buttons[0].action, asked.buttons[0].value)
    assert "This tests the playbook" not in result.plain_text()
    assert "From the Discovery stage of the playbook." in (result.context or "")
    assert "Open the Discovery stage" in [b.label for b in result.buttons]


# -- the manager's coaching cue --------------------------------------------------------------------------


def _three_days(ctx, chat: Chat, wrong: str) -> None:
    """Monday to Wednesday: `wrong` answered wrong each time it is asked, the other questions right."""
    for day in range(3):
        ctx.clock = lambda day=day: FIXED_NOW + timedelta(days=day)
        for _ in range(3 if day == 0 else 1):
            asked = chat.say("quiz me")
            text = next((q for q in RIGHT if q in asked.plain_text()), None)
            if text is not None:
                pick = (RIGHT[text] + 1) % 2 if text == wrong else RIGHT[text]
                chat.press(asked.buttons[pick].action, asked.buttons[pick].value)


def test_the_coaching_cue_names_the_sections_each_rep_last_got_wrong(ctx, demo, chat_as, tmp_path):
    linked_only(ctx, demo, tmp_path)
    _three_days(ctx, chat_as("rep@example.com"), "When is the references-checked criterion met?")
    _three_days(
        ctx, chat_as("sam@example.com"), "Who must agree the decision criteria before Evaluation ends?"
    )
    nudge = chat_as("manager@example.com").say("who should I coach")
    focus = {
        s.title.split(" · ")[0]: " ".join(s.text.split())
        for s in nudge.sections
        if (s.title or "").startswith(("Riley", "Sam"))
    }
    assert (
        "**Focus (Methodology, Skills & behaviors):** knowledge checks on Evaluation are 25% right over 90 days; "
        "last answered wrong: Evaluation · exit criterion “references-checked”."
    ) in focus["Riley Chen"]
    assert "criteria-agreed" not in focus["Riley Chen"]  # the one she got right is not named
    assert (
        "last answered wrong: Evaluation · exit criterion “criteria-agreed”." in focus["Sam Ortiz"]
        and "references-checked" not in focus["Sam Ortiz"]
    )
    # the coaching questions are still the stage's own
    evaluation = ctx.playbooks.get("enterprise").stage("evaluation")
    assert evaluation.coaching_questions[0] in focus["Riley Chen"]


def test_the_coaching_cue_reads_the_sections_in_one_query_for_the_whole_team(ctx, demo, chat_as, tmp_path):
    from sqlalchemy import event

    linked_only(ctx, demo, tmp_path)
    _three_days(ctx, chat_as("rep@example.com"), "When is the references-checked criterion met?")
    _three_days(
        ctx, chat_as("sam@example.com"), "Who must agree the decision criteria before Evaluation ends?"
    )
    statements: list[str] = []
    engine = ctx.engine

    def seen(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        nudge = chat_as("manager@example.com").say("who should I coach")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert "last answered wrong" in nudge.plain_text()
    section_reads = [s for s in statements if "section_ref" in s and "review_logs" in s.lower()]
    assert len(section_reads) == 1  # both reps' sections, read together


# -- writing a linked question in chat --------------------------------------------------------------------

AUTHOR_SCRIPT = (
    "new quiz question\nevaluation\nWhen is references-checked met?\n"
    "When you sent references\nWhen the buyer spoke with one or said they need none\n\n2\n\n"
)


def test_a_question_written_in_the_terminal_names_its_section_checked_like_a_quiz_file(ctx, demo, tmp_path):
    from tests.helpers.cli import terminal

    script = (
        AUTHOR_SCRIPT
        + "enterprise/evaluaton/exit_criterion:references-checked\n"  # a typo in the stage
        + "enterprise/evaluation/exit_criterion:references-checked\n"
    )
    out = terminal(ctx, demo, "enablement@example.com", script)
    assert "Playbook section it tests, as in quiz files: PLAYBOOK/STAGE[/PART]" in out
    assert "(optional: press Enter to skip)" in out.split("Playbook section it tests")[1]
    assert "no stage 'evaluaton' in playbook 'enterprise'; did you mean 'evaluation'?" in out
    assert (
        "New quiz question: question 6 of 6" in out.split("did you mean")[1]
    )  # only the section asked again
    assert "It tests the playbook's Evaluation · exit criterion “references-checked”" in " ".join(out.split())
    with ctx.sessions() as db:
        question = db.scalar(
            select(QuizQuestion).where(
                QuizQuestion.topic == "evaluation", QuizQuestion.external_id.like("chat-%")
            )
        )
        assert question.section_ref == "enterprise/evaluation/exit_criterion:references-checked"
        assert question.question == "When is references-checked met?" and question.answer == 1

    # linked like a question from a file: a change to the section flags it for enablement's review
    edited, _ = edited_ctx(ctx, tmp_path, REFS_EDITED)
    enqueue_knowledge_checks(edited, TUESDAY_0930_CHICAGO)
    assert flags(ctx)[question.external_id] == "its playbook section changed since the question was reviewed"


def test_a_question_written_in_the_terminal_without_a_section_is_not_linked(ctx, demo):
    from tests.helpers.cli import terminal

    out = terminal(ctx, demo, "enablement@example.com", AUTHOR_SCRIPT + "\n")
    assert "Added question chat-evaluation-" in out and "It tests the playbook" not in out
    with ctx.sessions() as db:
        question = db.scalar(select(QuizQuestion).where(QuizQuestion.external_id.like("chat-%")))
        assert question.section_ref is None and question.section_fingerprint is None


def test_the_section_field_on_a_slack_modal_and_a_teams_card_and_its_error_on_each(ctx, chat_as):
    from bot.channels.slack_blocks import to_modal, view_errors
    from bot.channels.teams_cards import to_card
    from tests.helpers.chat import submit

    author = chat_as("enablement@example.com")
    asked = author.say("new quiz question")
    modal = to_modal(asked, "C1")
    block = next(b for b in modal["blocks"] if b.get("block_id") == "tests")
    assert block["optional"] is True and block["label"]["text"].startswith("Playbook section it tests")
    assert (
        block["element"]["placeholder"]["text"] == "enterprise/evaluation/exit_criterion:references-checked"
    )
    card_input = next(e for e in to_card(asked)["body"] if e.get("id") == "tests")
    assert card_input["type"] == "Input.Text" and card_input["isRequired"] is False

    answers = {
        "topic": "evaluation",
        "question": "Who agrees the decision criteria?",
        "choices": "The buying group\nYour manager",
        "answer": "1",
    }
    bad = submit(author, asked.form, **answers, tests="enterprise/evaluation/objction:We need more time")
    assert bad.kind == "error"
    assert view_errors(bad.form) == {
        "tests": "'objction' names no item: use exit_criterion:ID, objection:WORDING or talk_track:TITLE; "
        "did you mean 'objection'?"
    }
    sent_back = next(e for e in to_card(bad)["body"] if e.get("id") == "tests")
    assert sent_back["value"] == "enterprise/evaluation/objction:We need more time"  # kept, to be fixed
    with ctx.sessions() as db:
        assert db.scalar(select(QuizQuestion).where(QuizQuestion.external_id.like("chat-%"))) is None

    ok = submit(author, asked.form, **answers, tests="evaluation/exit_criterion:criteria-agreed")
    assert "It tests the playbook's Evaluation · exit criterion “criteria-agreed”" in ok.text
    with ctx.sessions() as db:
        question = db.scalar(select(QuizQuestion).where(QuizQuestion.external_id.like("chat-%")))
        assert (
            question.section_ref == "enterprise/evaluation/exit_criterion:criteria-agreed"
        )  # stored in full


def test_a_part_without_its_stage_is_an_error_at_its_line(ctx, demo, tmp_path):
    path = write(
        tmp_path,
        """\
        quizzes:
          - id: a
            topic: evaluation
            tests: "objection:We need more time to evaluate"
            question: Q?
            choices: [x, y]
            answer: 0
        """,
    )
    with pytest.raises(YamlFileError) as caught:
        import_file(ctx, demo, path)
    found = [str(e).replace(str(tmp_path) + "/", "") for e in caught.value.errors]
    assert found == [
        "quiz.yaml:4: quizzes[0].tests: 'objection:We need more time to evaluate': name the stage before the "
        "part (e.g. `evaluation/objection:…`)"
    ]


def test_marking_reviewed_is_refused_while_the_chat_runs_other_playbooks_than_the_clock(
    ctx, demo, chat_as, tmp_path
):
    linked_only(ctx, demo, tmp_path)
    riley = chat_as("rep@example.com")
    for _ in range(3):
        answer(riley)
    edited, _ = edited_ctx(ctx, tmp_path, REFS_EDITED)
    enqueue_knowledge_checks(edited, TUESDAY_0930_CHICAGO)  # the clock runs the new playbooks
    old = Chat(dataclasses.replace(ctx, clock=lambda: TUESDAY_0930_CHICAGO), demo, "enablement@example.com")
    refused = old.say("mark refs reviewed")  # a web process still on the old ones
    assert refused.kind == "error" and "nothing was marked" in refused.text
    assert "refs" in flags(ctx)
    new = Chat(dataclasses.replace(edited, clock=lambda: TUESDAY_0930_CHICAGO), demo, "enablement@example.com")
    assert new.say("mark refs reviewed").text.startswith("Marked refs reviewed")
    assert flags(ctx) == {}
