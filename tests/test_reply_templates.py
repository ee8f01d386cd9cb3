"""Every short reply the code names ("replies/<capability>.j2#<macro>") exists, with the arguments the code
passes: a misspelt name or argument would only show when a user hits that reply."""

from __future__ import annotations

import ast
from pathlib import Path

from bot.rendering import Renderer

ROOT = Path(__file__).resolve().parents[1]
RENDERER_OWN = {"kind", "buttons", "form", "me"}  # taken by Renderer.render itself, not the macro


def _named_replies() -> list[tuple[str, str, set[str], str]]:
    """(template file, macro, keyword arguments, where) for each render of a named reply in the code."""
    found = []
    for path in sorted([*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (
                isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "render" and node.args
            ):
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str) and "#" in first.value:
                file, _, macro = first.value.partition("#")
                names = {k.arg for k in node.keywords if k.arg is not None}
                found.append((file, macro, names, f"{path.relative_to(ROOT)}:{node.lineno}"))
    return found


def test_every_named_reply_exists_and_takes_the_arguments_it_is_given():
    renderer = Renderer()
    replies = _named_replies()
    assert len(replies) > 50  # the deals, criteria, coaching, quiz, availability ... replies
    problems = []
    for file, macro, given, where in replies:
        module = renderer.env.get_template(file).module
        defined = getattr(module, macro, None)
        if defined is None:
            problems.append(f"{where}: {file} has no macro {macro}")
            continue
        takes = set(defined.arguments)
        unknown = given - takes - RENDERER_OWN
        if unknown and not defined.catch_kwargs:
            problems.append(f"{where}: {file}#{macro} takes no {sorted(unknown)}")
    assert problems == []


def test_a_reply_named_wrongly_fails_with_the_file_and_macro_named():
    renderer = Renderer()
    try:
        renderer.render("replies/deals.j2#no_such_reply")
    except Exception as error:  # noqa: BLE001 - whatever it is, it must say which
        assert "replies/deals.j2" in str(error) and "no_such_reply" in str(error)
    else:
        raise AssertionError("a missing reply rendered")
