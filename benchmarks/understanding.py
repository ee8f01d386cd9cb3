"""How well the bot understands questions typed the way reps and managers type them (issue #16).

``python -m benchmarks.understanding [--verbose] [--questions FILE]``

Asks every question of `understanding_data/questions.yaml` through the real router (the terminal path),
as the person named, in a fresh SQLite workspace holding the bundled playbooks plus a second playbook
written for this benchmark (`understanding_data/saas.yaml`, stage names unlike the bundled ones) and the
people and deals of `understanding_data/*.csv`. Each reply is judged on what a user would check:

- a deal: the reply is that deal's card (its header starts with the deal's name), with the section
  asked about first when one is expected;
- a stage and/or section: the stage's card with that section first, or a playbook search whose best
  hit is in that stage and section;
- a choice: the deals offered as buttons include every expected one; refused: a refusal;
- team, moved, my_deals, not_understood: the team summary, the move, the rep's deals, the reply with
  suggestions.

It prints accuracy per kind of question, answers about the wrong deal, details shown of a deal the asker
may not see, and errors. It is an evaluation, not a unit test: the figures go to BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from handlers.playbook import SEARCH_KIND
from playbooks.search import KIND_TITLES

DATA = Path(__file__).resolve().parent / "understanding_data"
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

# First titled section of a stage or deal card, per section kind.
CARD_TITLES = {
    "exit_criteria": ("Exit criteria",),
    "tasks": ("Next tasks",),
    "objectives": ("Objectives",),
    "questions": ("Questions to ask",),
    "coaching_questions": ("Coaching questions",),
    "buyer_roles": ("Buyer roles",),
    "talk_tracks": ("Talk tracks",),
    "objections": ("Objections",),
    "content": ("Content",),
}
# A search hit's title: "<stage> · <kind title>[: ...]", as playbooks.search titles each kind of document.
SEARCH_TITLES = {section: KIND_TITLES[SEARCH_KIND.get(section, section)] for section in CARD_TITLES}


def _first_titled(reply: Any) -> str:
    return next((s.title for s in reply.sections if s.title), "") or ""


def judge(reply: Any, expect: dict[str, Any], deal_names: list[str]) -> tuple[bool, bool]:
    """(right, wrong_deal) for one reply."""
    header = reply.header or ""
    text = reply.plain_text()
    card_of = next(
        (n for n in sorted(deal_names, key=len, reverse=True) if header.startswith(f"{n}:")), None
    )
    if "deal" in expect:
        right = card_of == expect["deal"]
        if right and expect.get("section"):
            right = _first_titled(reply).startswith(CARD_TITLES[expect["section"]])
        return right, card_of is not None and card_of != expect["deal"]
    wrong_deal = card_of is not None
    if expect.get("refused"):
        return reply.kind == "refusal", wrong_deal
    if "choice" in expect:
        offered = {b.label.split(" (")[0] for b in reply.buttons}
        return reply.kind == "choice" and set(expect["choice"]) <= offered, wrong_deal
    if expect.get("team"):
        return header.startswith(("Team summary", "Organization summary", "Your team")), wrong_deal
    if "moved" in expect:
        return header.startswith(f"{expect['moved']} moved to"), False
    if expect.get("my_deals"):
        return header.startswith("Your open deals") or header.startswith("Your team's open deals"), wrong_deal
    if expect.get("not_understood"):
        return reply.kind == "error" and "didn't understand" in text, wrong_deal
    stage, section = expect.get("stage"), expect.get("section")
    if header.endswith(" stage") and not header.startswith("Playbook"):
        right = stage is None or header == f"{stage} stage"
        if section:
            right = right and _first_titled(reply).startswith(CARD_TITLES[section])
        return right and (stage is not None or section is not None), wrong_deal
    if header.startswith("Playbook:"):
        title = _first_titled(reply)
        right = stage is None or title.startswith(f"{stage} · ")
        if section:
            right = right and f"· {SEARCH_TITLES[section]}" in title
        return right, wrong_deal
    return False, wrong_deal


def run(questions_file: Path, *, verbose: bool = False, data: Path = DATA) -> dict[str, Any]:
    """Ask every question of `questions_file` against the people, deals and extra playbooks in `data`.

    `data` holds `people.csv`, `deals.csv` and the playbooks written for the set: `*.yaml` files in
    `data/playbooks/`, or (the first set) `saas.yaml` beside the CSVs.
    """
    from bot.context import AppContext
    from bot.importers.deals import import_deals
    from bot.importers.people import import_people
    from bot.messages import Request
    from bot.rendering import Renderer
    from bot.router import handle
    from bot.settings import BUNDLED_PLAYBOOKS_DIR, Settings
    from handlers.common import visible_deals
    from playbooks.loader import load_library
    from storage import db
    from storage.people import LOCAL_WORKSPACE, get_or_create_workspace, person_by_email

    questions = yaml.safe_load(questions_file.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "playbooks"
        folder.mkdir()
        for path in sorted(BUNDLED_PLAYBOOKS_DIR.glob("*.yaml")):
            shutil.copy(path, folder / path.name)
        extra = sorted((data / "playbooks").glob("*.yaml")) or [data / "saas.yaml"]
        for path in extra:
            shutil.copy(path, folder / path.name)
        url = f"sqlite:///{tmp}/understanding.db"
        engine = db.make_engine(url)
        db.upgrade(engine)
        ctx = AppContext(
            settings=Settings(database_url=url, playbooks_dir=folder),
            engine=engine,
            sessions=db.make_sessionmaker(engine),
            playbooks=load_library(folder),
            renderer=Renderer(),
            clock=lambda: NOW,
        )
        with ctx.sessions.begin() as session:
            workspace = get_or_create_workspace(session, *LOCAL_WORKSPACE, name="Benchmark")
            import_people(session, workspace.organization_id, data / "people.csv")
            result = import_deals(session, workspace.organization_id, data / "deals.csv", ctx.playbooks, now=NOW)
            assert not getattr(result, "errors", None), result
            workspace_id = workspace.id
            people = {}
            visible: dict[str, set[str]] = {}
            for who in {q["as"] for q in questions}:
                email = next(
                    row["email"] for row in csv.DictReader((data / "people.csv").open())
                    if row["email"].split("@")[0] == who
                )
                person = person_by_email(session, workspace.organization_id, email)
                assert person is not None, who
                people[who] = person.id
                visible[who] = {d.name for d in visible_deals(session, person, open_only=False)}
        deal_names = [
            line.split(",")[0] for line in (data / "deals.csv").read_text().splitlines()[1:] if line.strip()
        ]
        totals: Counter[str] = Counter()
        rights: Counter[str] = Counter()
        wrong_deals = errors = leaks = 0
        failures: dict[str, list[str]] = defaultdict(list)
        started = time.perf_counter()
        for q in questions:
            reply = handle(ctx, Request(workspace_id, people[q["as"]], text=q["ask"]))
            right, wrong_deal = judge(reply, q.get("expect") or {}, deal_names)
            if not q.get("expect"):
                right = reply.kind != "error"  # any playbook answer will do
            if reply.kind == "error" and "something went wrong on my side" in reply.plain_text():  # error.j2
                errors += 1
            header = reply.header or ""
            leaks += any(header.startswith(f"{n}:") for n in deal_names if n not in visible[q["as"]])
            totals[q["kind"]] += 1
            rights[q["kind"]] += right
            wrong_deals += wrong_deal
            if not right:
                shown = reply.header or reply.plain_text().splitlines()[0]
                failures[q["kind"]].append(f'{q["as"]}: "{q["ask"]}" -> [{reply.kind}] {shown} | {_first_titled(reply)}')
            if q["kind"] == "command":  # each question sees the data as loaded: undo a move
                _reset_stages(ctx, workspace.organization_id, data / "deals.csv")
        elapsed = time.perf_counter() - started
        engine.dispose()
    report = {
        "kinds": {k: (rights[k], totals[k]) for k in totals},
        "right": sum(rights.values()),
        "total": sum(totals.values()),
        "wrong_deal": wrong_deals,
        "leaks": leaks,
        "errors": errors,
        "ms_per_question": 1000 * elapsed / max(len(questions), 1),
        "failures": failures,
    }
    _print(report, verbose)
    return report


def _reset_stages(ctx: Any, organization_id: int, deals_csv: Path) -> None:
    """Put moved deals back at their imported stage, so each question sees the same data."""
    from sqlalchemy import select

    from storage.models import Deal

    stages = {row["name"]: row["stage"] for row in csv.DictReader(deals_csv.open())}
    with ctx.sessions.begin() as session:
        for deal in session.scalars(select(Deal).where(Deal.organization_id == organization_id)):
            if deal.name in stages and deal.stage_id != stages[deal.name]:
                deal.stage_id = stages[deal.name]


def _print(report: dict[str, Any], verbose: bool) -> None:
    print("| kind | right | of | accuracy |")
    print("|---|---:|---:|---:|")
    for kind, (right, total) in report["kinds"].items():
        print(f"| {kind} | {right} | {total} | {100 * right / total:.0f}% |")
    right, total = report["right"], report["total"]
    print(f"| **all** | **{right}** | **{total}** | **{100 * right / total:.1f}%** |")
    print(
        f"\nanswers about the wrong deal: {report['wrong_deal']}; deal cards the asker may not see: "
        f"{report['leaks']}; errors: {report['errors']}; "
        f"{report['ms_per_question']:.1f} ms per question (terminal path, SQLite)"
    )
    if verbose:
        for kind, lines in report["failures"].items():
            print(f"\n{kind}:")
            for line in lines:
                print(f"  {line}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.understanding", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DATA,
        help="folder with people.csv, deals.csv, the set's playbooks and questions.yaml (default: the first set)",
    )
    parser.add_argument("--questions", type=Path, help="question file (default: DATA/questions.yaml)")
    parser.add_argument("--verbose", action="store_true", help="list every question answered wrongly")
    args = parser.parse_args(argv)
    run(args.questions or args.data / "questions.yaml", verbose=args.verbose, data=args.data)


if __name__ == "__main__":
    main()
