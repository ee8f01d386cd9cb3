"""Enablement edits playbooks by hand: every mistake is reported as `file:line: what is wrong`."""

from __future__ import annotations

import textwrap
from pathlib import Path

from playbooks.loader import check_folder
from tests.helpers.cli import REPO, run_cli

GOOD = """\
id: mini
name: Mini playbook
stages:
  - id: discovery
    name: Discovery
    objectives: [Understand the problem]
    exit_criteria:
      - id: pain-confirmed
        text: The buyer confirmed the problem
  - id: proposal
    name: Proposal
    exit_criteria:
      - id: proposal-reviewed
        text: The buyer reviewed the proposal
"""


def errors_for(tmp_path: Path, text: str, name: str = "mini.yaml") -> list[str]:
    (tmp_path / name).write_text(textwrap.dedent(text), encoding="utf-8")
    _, errors = check_folder(tmp_path)
    return [str(e).replace(str(tmp_path) + "/", "") for e in errors]


def test_bundled_playbooks_are_valid_and_complete():
    playbooks, errors = check_folder(REPO / "playbooks")
    assert errors == []
    by_id = {p.id: p for p in playbooks}
    enterprise = by_id["enterprise"]
    assert [s.id for s in enterprise.stages][0] == "awareness"
    assert enterprise.stages[-1].id == "value-delivery"
    assert len(enterprise.stages) >= 6
    for stage in enterprise.stages + by_id["transactional"].stages:
        assert 2 <= len(stage.exit_criteria) <= 5, stage.id
        assert stage.objectives and stage.tasks and stage.questions and stage.content, stage.id


def test_good_file_has_no_errors(tmp_path):
    assert errors_for(tmp_path, GOOD) == []


def test_yaml_syntax_error_names_the_line(tmp_path):
    broken = GOOD.replace("    name: Proposal\n", "    name: Proposal\n   bad indent: here\n")
    assert errors_for(tmp_path, broken) == [
        "mini.yaml:12: YAML syntax error: expected <block end>, but found '<block mapping start>' (while parsing a block collection)"
    ]


def test_missing_exit_criteria(tmp_path):
    broken = GOOD.replace(
        "    exit_criteria:\n      - id: proposal-reviewed\n        text: The buyer reviewed the proposal\n",
        "",
    )
    assert errors_for(tmp_path, broken) == ["mini.yaml:10: stages[1]: missing required key 'exit_criteria'"]


def test_empty_exit_criteria(tmp_path):
    broken = GOOD.replace(
        "    exit_criteria:\n      - id: proposal-reviewed\n        text: The buyer reviewed the proposal\n",
        "    exit_criteria: []\n",
    )
    assert errors_for(tmp_path, broken) == ["mini.yaml:12: stages[1].exit_criteria: must not be empty"]


def test_misspelt_key_suggests_the_right_one(tmp_path):
    broken = GOOD.replace(
        "    objectives: [Understand the problem]", "    objectivs: [Understand the problem]"
    )
    assert errors_for(tmp_path, broken) == [
        "mini.yaml:6: stages[0]: unknown key 'objectivs' (did you mean 'objectives'?)"
    ]


def test_duplicate_stage_and_criterion_ids(tmp_path):
    broken = GOOD.replace("  - id: proposal", "  - id: discovery").replace(
        "id: proposal-reviewed", "id: pain-confirmed"
    )
    errors = errors_for(tmp_path, broken)
    assert (
        "mini.yaml:10: stages[1]: stage id 'discovery' is used twice (first at line 4); each stage needs its own id"
        in errors
    )
    broken = GOOD.replace(
        "        text: The buyer confirmed the problem\n",
        "        text: The buyer confirmed the problem\n      - id: pain-confirmed\n        text: Again\n",
    )
    assert errors_for(tmp_path, broken) == [
        "mini.yaml:10: stages[0].exit_criteria[1]: criterion id 'pain-confirmed' is used twice in stage 'discovery' (first at line 8)"
    ]


def test_bad_ids_urls_and_types(tmp_path):
    broken = GOOD.replace("id: pain-confirmed", "id: Pain Confirmed").replace(
        "    objectives: [Understand the problem]",
        "    objectives: Understand the problem\n    content:\n      - {title: Guide, url: example.com/guide}",
    )
    assert errors_for(tmp_path, broken) == [
        "mini.yaml:6: stages[0].objectives: expected a list, got text 'Understand the problem'",
        "mini.yaml:10: stages[0].exit_criteria[0].id: id 'Pain Confirmed' must be lower-case letters, digits and dashes, like 'pain-confirmed'",
        "mini.yaml:8: stages[0].content[0].url: url 'example.com/guide' must start with http:// or https:// and contain no spaces",
    ]


def test_duplicate_keys_and_empty_files(tmp_path):
    assert errors_for(
        tmp_path, GOOD.replace("name: Mini playbook\n", "name: Mini playbook\nname: Again\n")
    ) == ["mini.yaml:3: duplicate key 'name' (first at line 2)"]
    assert errors_for(tmp_path, "", name="mini.yaml") == ["mini.yaml:1: the file is empty"]


def test_an_alias_bomb_is_refused_with_its_line_not_run(tmp_path):
    bomb = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 10):  # 10^10 values if expanded
        previous = chr(ord("a") + level - 1)
        bomb.append(f"{chr(ord('a') + level)}: &{chr(ord('a') + level)} [{', '.join(['*' + previous] * 10)}]")
    (error,) = errors_for(tmp_path, GOOD + "\n".join(bomb) + "\n")
    assert (
        error.startswith("mini.yaml:") and "aliases (*name) expand this file to over 200,000 values" in error
    )
    anchors = GOOD.replace(
        "objectives: [Understand the problem]", "objectives: &goals [Understand the problem]"
    )
    assert (
        errors_for(
            tmp_path, anchors.replace("    name: Proposal\n", "    name: Proposal\n    objectives: *goals\n")
        )
        == []
    )


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path):
    (error,) = errors_for(tmp_path, GOOD + "# " + "x" * 2_100_000 + "\n")
    assert error.startswith("mini.yaml:1: the file is") and "the limit is 2,000,000" in error


def test_playbook_ids_are_unique_across_files(tmp_path):
    (tmp_path / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "b.yaml").write_text(GOOD, encoding="utf-8")
    _, errors = check_folder(tmp_path)
    assert [str(e) for e in errors] == [
        f"{tmp_path}/b.yaml:1: playbook id 'mini' is already used by {tmp_path}/a.yaml:1"
    ]


def test_empty_folder(tmp_path):
    _, errors = check_folder(tmp_path)
    assert [e.message for e in errors] == ["no playbook files (*.yaml) in this folder"]


def test_check_playbooks_command(tmp_path):
    ok = run_cli("check-playbooks")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK: 2 playbooks, 11 stages")
    (tmp_path / "mini.yaml").write_text(
        GOOD.replace("  - id: proposal\n", "  - id: Proposal\n"), encoding="utf-8"
    )
    bad = run_cli("check-playbooks", str(tmp_path))
    assert bad.returncode == 1
    assert (
        bad.stdout
        == f"{tmp_path}/mini.yaml:10: stages[1].id: id 'Proposal' must be lower-case letters, digits and dashes, like 'proposal'\n"
    )


def test_bot_refuses_to_start_on_a_broken_playbook(tmp_path):
    (tmp_path / "mini.yaml").write_text(
        GOOD.replace("    exit_criteria: \n", "").replace(
            "text: The buyer reviewed the proposal", "text: ''"
        ),
        encoding="utf-8",
    )
    env = {"PLAYBOOKS_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    for command in (["chat"], ["serve", "--port", "0"]):
        result = run_cli(*command, env=env, stdin="help\n")
        assert result.returncode == 1, result
        assert "refusing to start: the playbooks have errors" in result.stderr
        assert (
            f"{tmp_path}/mini.yaml:14: stages[1].exit_criteria[0].text: String should have at least 1 character"
            in result.stderr
        )
        assert "Traceback" not in result.stderr
