"""Exports people open in a spreadsheet: deals, confirmations, coaching sessions and quiz results as CSV
and xlsx, with text a spreadsheet would run as a formula neutralized in both."""

from __future__ import annotations

import csv
import io
from datetime import datetime

from openpyxl import load_workbook

from tests.helpers.chat import add_deal, submit
from tests.helpers.cli import run_cli
from tests.helpers.clock import FIXED_NOW


def _coached(ctx, demo, note: str) -> None:
    from storage.models import CoachingSession, Deal
    from storage.people import person_by_email

    with ctx.sessions.begin() as db:
        manager = person_by_email(db, demo.organization_id, "manager@example.com")
        rep = person_by_email(db, demo.organization_id, "rep@example.com")
        deal = db.query(Deal).filter(Deal.name == "Acme Corp").one()
        db.add(
            CoachingSession(
                organization_id=demo.organization_id,
                manager_id=manager.id,
                rep_id=rep.id,
                area="pipeline",
                deal_id=deal.id,
                note=note,
                occurred_at=FIXED_NOW,
                idempotency_key="k-export",
            )
        )


def test_deals_as_csv_and_xlsx_with_formulas_neutralized(ctx, demo, database_url, tmp_path):
    add_deal(ctx, demo, '=HYPERLINK("http://evil.example","x")')
    env = {"DATABASE_URL": database_url}
    result = run_cli("export", "deals", "--format", "csv", env=env)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_name = {r["deal"]: r for r in rows}
    assert (
        by_name["Acme Corp"]["amount"] == "120000.00"
        and by_name["Acme Corp"]["owner_email"] == "rep@example.com"
    )
    assert '\'=HYPERLINK("http://evil.example","x")' in by_name
    out = tmp_path / "deals.xlsx"
    result = run_cli("export", "deals", "--format", "xlsx", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    assert f"wrote 6 deals to {out}" in result.stderr
    sheet = load_workbook(out).active
    values = list(sheet.values)
    assert values[0][:4] == ("organization", "deal", "crm_id", "owner_email")
    acme = next(v for v in values if v[1] == "Acme Corp")
    assert acme[8] == 120000 and isinstance(acme[10], datetime)  # typed number and date
    evil = next(v for v in values if "HYPERLINK" in str(v[1]))
    assert evil[1] == '=HYPERLINK("http://evil.example","x")'  # shown as typed, as text
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)  # no formula anywhere


def test_confirmations_coaching_and_quiz_results_in_both_formats(ctx, chat_as, demo, database_url, tmp_path):
    rep = chat_as()
    rep.say("confirm acme")
    submit(
        rep,
        rep.click("Confirm").form,
        criteria=["requirements-documented"],
        buyer_name="-Dana",
        evidence="@once",
    )
    _coached(ctx, demo, "+1 on the forecast")
    quiz = rep.say("quiz me")
    answer = next(b for b in quiz.buttons if b.action == "quiz.answer")
    rep.press(answer.action, answer.value)
    env = {"DATABASE_URL": database_url}

    confirmations = run_cli("export", "confirmations", env=env)  # as documented: CSV, unchanged
    last = list(csv.DictReader(io.StringIO(confirmations.stdout)))[-1]
    assert (last["buyer_name"], last["evidence"]) == ("'-Dana", "'@once")
    out = tmp_path / "c.xlsx"
    run_cli("export", "confirmations", "--format", "xlsx", "--out", str(out), env=env)
    rows = list(load_workbook(out).active.values)
    assert rows[0][0] == "organization" and rows[-1][9] == "-Dana"  # text cells: shown as typed, never run

    coaching = list(csv.DictReader(io.StringIO(run_cli("export", "coaching", env=env).stdout)))
    assert [(c["manager_email"], c["rep_email"], c["deal"], c["note"]) for c in coaching] == [
        ("manager@example.com", "rep@example.com", "Acme Corp", "'+1 on the forecast")
    ]
    out = tmp_path / "q.xlsx"
    result = run_cli("export", "quiz-results", "--format", "xlsx", "--out", str(out), env=env)
    assert result.returncode == 0, result.stderr
    header, *answers = list(load_workbook(out).active.values)
    assert header[:3] == ("organization", "rep_email", "question_id")
    assert len(answers) == 1 and answers[0][1] == "rep@example.com" and answers[0][6] in (True, False)


def test_xlsx_piped_to_standard_output_is_a_workbook(demo, database_url):
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "bot", "export", "deals", "--format", "xlsx"],
        capture_output=True,
        env={**os.environ, "DATABASE_URL": database_url},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = list(load_workbook(io.BytesIO(result.stdout)).active.values)
    assert len(rows) == 6  # the header and the five demo deals
