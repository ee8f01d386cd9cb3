"""The real command line, run as a process the way a user starts it, and the terminal conversation."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from bot.channels.console import ConsoleConversation, run
from storage.people import person_by_email

REPO = Path(__file__).resolve().parent.parent.parent


def run_cli(
    *args: str, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env=full_env,
        timeout=120,
    )


def run_cli_scheduler(env, job: str, now: str):  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "scheduler", "run", job, "--now", now],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def terminal(ctx, demo, email: str, script: str) -> str:  # type: ignore[no-untyped-def]
    """A conversation in the terminal (`python -m bot chat`) in-process: what it prints for `script`."""
    with ctx.sessions() as db:
        person = person_by_email(db, demo.organization_id, email)
        conversation = ConsoleConversation(ctx, demo.id, person.id)
    out = io.StringIO()
    run(conversation, person.name, stdin=io.StringIO(script), stdout=out)
    return out.getvalue()
