"""The command line (`python -m bot ...`), as listed in ../shared/CONTRACT.md."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from bot.cli_crm import add_parser as add_crm_parser
from bot.cli_crm import run as run_crm
from bot.settings import Settings
from bot.startup import CliError, ensure_schema, load_context, load_settings
from playbooks.schema import Playbook
from playbooks.yamlfile import YamlFileError
from storage import db

log = logging.getLogger("bot")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Sales-enablement bot for Slack, Teams and the terminal."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    chat = commands.add_parser("chat", help="chat with the bot in the terminal")
    chat.add_argument(
        "--as", dest="email", default="rep@example.com", help="who you are (default: the demo rep)"
    )

    serve = commands.add_parser("serve", help="run the web app (Slack and Teams endpoints, /healthz)")
    serve.add_argument("--port", type=int, default=None, help="port (default: $PORT or 3978)")
    serve.add_argument(
        "--reuse-port",
        action="store_true",
        help="share the port with other `serve` processes (SO_REUSEPORT, Linux): the kernel spreads connections",
    )

    commands.add_parser("socket", help="run the Slack app over Socket Mode (needs SLACK_APP_TOKEN)")

    package = commands.add_parser(
        "teams-package", help="write the Teams app package (zip) to upload in Teams"
    )
    package.add_argument(
        "--out", type=Path, default=Path("enablement-teams-app.zip"), help="zip file or folder"
    )
    package.add_argument(
        "--app-id", default=None, help="Microsoft App ID of the bot (default: $MICROSOFT_APP_ID)"
    )
    package.add_argument("--host", default=None, help="public host of `serve`, e.g. bot.example.com")

    check = commands.add_parser(
        "check-playbooks", help="validate playbook files; prints file:line: message per error"
    )
    check.add_argument("dir", nargs="?", type=Path, default=None, help="folder (default: $PLAYBOOKS_DIR)")
    check.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on warnings too (deals, confirmations or quiz questions in the database these files strand)",
    )

    imp = commands.add_parser("import", help="import people or deals from CSV")
    imp.add_argument("kind", choices=["people", "deals", "quizzes"])
    imp.add_argument("file", type=Path)
    imp.add_argument("--org", default=None, help="organization name or id (needed when there are several)")
    imp.add_argument(
        "--workspace",
        default=None,
        help='the organization of this way in: "local", "slack:TEAM_ID", "teams:TENANT_ID"',
    )

    export = commands.add_parser("export", help="export data as CSV or xlsx")
    export.add_argument("what", choices=["confirmations", "deals", "coaching", "quiz-results"])
    export.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    export.add_argument("--org", default=None, help="organization name or id (needed when there are several)")
    export.add_argument(
        "--workspace",
        default=None,
        help='the organization of this way in: "local", "slack:TEAM_ID", "teams:TENANT_ID"',
    )
    export.add_argument("--out", type=Path, default=None, help="file to write (default: standard output)")

    outbox = commands.add_parser("outbox", help="proactive messages waiting, sent and dead")
    outbox.add_argument("action", choices=["status", "retry"])
    outbox.add_argument("ids", nargs="*", type=int, help="with retry: the dead messages to send again")
    outbox.add_argument("--all-dead", action="store_true", help="with retry: every dead message")

    org = commands.add_parser("org", help="organizations and their ways in (Slack workspaces, Teams tenants)")
    org_actions = org.add_subparsers(dest="action", required=True)
    org_actions.add_parser("list", help="every organization with its ways in, people and open deals")
    link = org_actions.add_parser("link", help="make a way in lead to an existing organization")
    link.add_argument("way_in", help='"slack:TEAM_ID", "teams:TENANT_ID" or "local"')
    link.add_argument("--to", required=True, dest="target", help="organization name or id")
    rename = org_actions.add_parser("rename", help="rename an organization")
    rename.add_argument("name", help="organization name, id or way in")
    rename.add_argument("new_name")

    add_crm_parser(commands)

    database = commands.add_parser("db", help="database schema")
    database.add_argument("action", choices=["upgrade", "status", "encrypt-tokens"])
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CliError as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`export ... | head`): stop quietly; point stdout at devnull so the
        # interpreter's final flush does not raise again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.channels.console import ConsoleConversation, run
    from bot.demo import load_if_empty
    from storage.people import LOCAL_WORKSPACE, get_or_create_workspace, person_by_email

    ctx = load_context()
    logging.getLogger().setLevel(logging.WARNING)
    try:
        ensure_schema(ctx)
        with ctx.sessions.begin() as session:
            workspace = get_or_create_workspace(session, *LOCAL_WORKSPACE, name="Local")
            load_if_empty(session, workspace.organization_id, ctx.playbooks, ctx.clock())
            person = person_by_email(session, workspace.organization_id, args.email)
            if person is None:
                from sqlalchemy import select

                from storage.models import Person

                emails = session.scalars(
                    select(Person.email)
                    .where(Person.organization_id == workspace.organization_id)
                    .order_by(Person.email)
                ).all()
                raise CliError(
                    f"no person {args.email} here. Known people: {', '.join(emails) or 'none'} "
                    "(add people with `python -m bot import people FILE.csv`)"
                )
            conversation = ConsoleConversation(ctx, workspace.id, person.id)
            name = person.name
        run(conversation, name)
    finally:
        ctx.close()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.web import RUNNER_OPTIONS, create_app

    ctx = load_context()
    ensure_schema(ctx)
    port = args.port or ctx.settings.port
    log.info("serving on port %s with %d playbooks", port, len(ctx.playbooks.playbooks))
    web.run_app(create_app(ctx), port=port, print=None, reuse_port=args.reuse_port or None, **RUNNER_OPTIONS)
    ctx.close()
    return 0


def cmd_socket(args: argparse.Namespace) -> int:
    import asyncio

    from bot.channels.slack import SlackChannel, SlackNotConfigured

    ctx = load_context()
    if not ctx.settings.slack_app_token:
        raise CliError(
            "Socket Mode needs SLACK_APP_TOKEN (an app-level token with connections:write, starting xapp-)"
        )
    ensure_schema(ctx)
    try:
        channel = SlackChannel(ctx)
    except SlackNotConfigured as exc:
        raise CliError(f"Slack is not configured: {exc}") from exc
    log.info("connecting to Slack over Socket Mode")
    try:
        asyncio.run(channel.socket_mode())
    finally:
        ctx.close()
    return 0


def cmd_teams_package(args: argparse.Namespace) -> int:
    from bot.teams_package import PackageError, PackageOptions, write_package

    app_id = args.app_id or load_settings().microsoft_app_id
    if not app_id:
        raise CliError("the package needs the bot's Microsoft App ID: pass --app-id or set MICROSOFT_APP_ID")
    try:
        path = write_package(PackageOptions(app_id=app_id, host=args.host), args.out)
    except PackageError as exc:
        raise CliError(str(exc)) from exc
    print(f"wrote {path}: upload it in Teams (Apps > Manage your apps > Upload an app)")
    return 0


def cmd_check_playbooks(args: argparse.Namespace) -> int:
    from playbooks.loader import check_folder

    settings: Settings | CliError
    try:
        settings = load_settings()
    except CliError as exc:
        if args.dir is None:
            raise
        settings = exc  # the files can still be checked; the database cannot be found
    folder = args.dir
    if folder is None:
        assert isinstance(settings, Settings)  # loading them failed only when a folder was given
        folder = settings.playbooks_dir
    playbooks, errors = check_folder(folder)
    for error in errors:
        print(error)
    if errors:
        print(f"{len(errors)} {'error' if len(errors) == 1 else 'errors'} in {folder}", file=sys.stderr)
        return 1
    stages = sum(len(p.stages) for p in playbooks)
    print(f"OK: {len(playbooks)} playbooks, {stages} stages in {folder}")
    warnings, notes = _stranded_warnings(settings, playbooks)
    for line in warnings:
        print(f"warning: {line}")
    for line in notes:  # what the files will do to linked quiz questions: not a problem, never --strict
        print(f"note: {line}")
    return 1 if warnings and args.strict else 0


def _stranded_warnings(
    settings: Settings | CliError, playbooks: list[Playbook]
) -> tuple[list[str], list[str]]:
    """Deals, confirmations and quiz questions in the configured database that these playbooks strand."""
    if isinstance(settings, CliError):
        return [f"{settings}: the database was not checked for data these playbooks would strand"], []
    from bot.stranded.report import check_database

    report = check_database(settings.database_url, playbooks)
    return report.lines(), report.note_lines()


def cmd_import(args: argparse.Namespace) -> int:
    from bot.importers.csvfile import CsvFileError
    from bot.importers.deals import import_deals
    from bot.importers.people import import_people

    ctx = load_context()
    try:
        ensure_schema(ctx)
        with ctx.sessions.begin() as session:
            organization_id = _organization(session, args).id
            if args.kind == "quizzes":
                from bot.quizfile import import_quizzes

                try:
                    imported = import_quizzes(session, organization_id, args.file, ctx.playbooks)
                except YamlFileError as exc:
                    raise CliError(f"{exc}\nnothing was imported", code=1) from exc
                print(imported.summary(str(args.file)))
                return 0
            try:
                if args.kind == "people":
                    result = import_people(session, organization_id, args.file)
                else:
                    result = import_deals(session, organization_id, args.file, ctx.playbooks, now=ctx.clock())
            except CsvFileError as exc:
                raise CliError(f"{exc}\nnothing was imported", code=1) from exc
        print(result.summary("people" if args.kind == "people" else "deals"))
        return 1 if result.errors else 0
    finally:
        ctx.close()


def _organization(session, args: argparse.Namespace):
    """The organization an admin command works on (`--org`, `--workspace`, or the only one)."""
    from storage.organizations import OrganizationError, choose

    try:
        return choose(session, args.org, args.workspace)
    except OrganizationError as exc:
        raise CliError(str(exc)) from exc


def cmd_org(args: argparse.Namespace) -> int:
    from storage import organizations

    ctx = load_context()
    try:
        ensure_schema(ctx)
        with ctx.sessions.begin() as session:
            try:
                if args.action == "list":
                    found = organizations.summaries(session)
                    if not found:
                        print("No organizations yet: the first import, chat or install makes one.")
                    for summary in found:
                        print(summary.line())
                elif args.action == "rename":
                    renamed = organizations.rename(session, args.name, args.new_name)
                    print(f'Renamed: organization {renamed.id} is now "{renamed.name}".')
                else:
                    print(organizations.link(session, args.way_in, args.target).summary())
            except organizations.OrganizationError as exc:
                raise CliError(str(exc)) from exc
        return 0
    finally:
        ctx.close()


def cmd_db(args: argparse.Namespace) -> int:
    settings = load_settings()
    engine = db.make_engine(settings.database_url)
    try:
        if args.action == "encrypt-tokens":
            return _encrypt_tokens(settings, engine)
        if args.action == "upgrade":
            db.upgrade(engine)
        current, head = db.schema_status(engine)
        state = "up to date" if current == head else f"behind: run `python -m bot db upgrade` to reach {head}"
        print(f"schema revision {current or 'none'} ({state})")
        return 0
    except Exception as exc:  # noqa: BLE001
        raise CliError(f"database error: {exc}") from exc
    finally:
        engine.dispose()


def _encrypt_tokens(settings, engine) -> int:
    """Seal the Slack tokens of OAuth installs stored before TOKEN_ENCRYPTION_KEY was set."""
    if not settings.token_encryption_key:
        raise CliError(
            "set TOKEN_ENCRYPTION_KEY first (make one with: python -c "
            '"from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())")'
        )
    from bot.channels.slack_install import installation_store

    store = installation_store(engine, settings.slack_client_id or "", settings.token_encryption_key)
    print(f"{store.encrypt_existing()} rows of stored installations had tokens in plain text; now encrypted")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from bot.export import export_confirmations

    if args.what != "confirmations" or args.format != "csv":
        return _export_table(args)
    ctx = load_context()
    try:
        ensure_schema(ctx)
        with ctx.sessions.begin() as session:
            organization_id = _organization(session, args).id
            if args.out:
                with args.out.open("w", encoding="utf-8", newline="") as out:
                    count = export_confirmations(session, out, organization_id)
                print(f"wrote {count} confirmation events to {args.out}", file=sys.stderr)
            else:
                export_confirmations(session, sys.stdout, organization_id)
        return 0
    finally:
        ctx.close()


def cmd_outbox(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from storage import outbox

    ctx = load_context()
    try:
        ensure_schema(ctx)
        now = datetime.now(UTC)
        if args.action == "status":
            with ctx.sessions() as session:
                print(outbox.status(session).render(now))
            return 0
        if not args.ids and not args.all_dead:
            raise CliError(
                "say which dead messages to retry: `outbox retry ID [ID ...]` or `outbox retry --all-dead`"
            )
        with ctx.sessions.begin() as session:
            count = outbox.retry_dead(session, now, None if args.all_dead else args.ids)
        print(f"{count} dead {'message' if count == 1 else 'messages'} queued again")
        return 0
    finally:
        ctx.close()


def cmd_crm(args: argparse.Namespace) -> int:
    return run_crm(args)


def _export_table(args: argparse.Namespace) -> int:
    """Any table in either format (bot/exports.py); confirmations as CSV keep their own path above."""
    import io

    from bot.exports import NOUNS, TABLES, write_csv, write_xlsx

    if args.format == "xlsx" and args.out is None and sys.stdout.isatty():
        raise CliError(
            "an xlsx file is binary: add --out FILE.xlsx (or redirect the output to a file)", code=2
        )
    columns, rows = TABLES[args.what]
    ctx = load_context()
    try:
        ensure_schema(ctx)
        with ctx.sessions.begin() as session:
            organization_id = _organization(session, args).id
            table = rows(session, organization_id)
            if args.format == "xlsx":
                buffer = io.BytesIO()
                count = write_xlsx(buffer, args.what, columns, table)
                if args.out:
                    args.out.write_bytes(buffer.getvalue())
                else:
                    sys.stdout.buffer.write(buffer.getvalue())
                    sys.stdout.flush()
            elif args.out:
                with args.out.open("w", encoding="utf-8", newline="") as out:
                    count = write_csv(out, columns, table)
            else:
                count = write_csv(sys.stdout, columns, table)
        if args.out:
            print(f"wrote {count} {NOUNS[args.what]} to {args.out}", file=sys.stderr)
        return 0
    finally:
        ctx.close()


COMMANDS = {
    "chat": cmd_chat,
    "serve": cmd_serve,
    "socket": cmd_socket,
    "teams-package": cmd_teams_package,
    "check-playbooks": cmd_check_playbooks,
    "import": cmd_import,
    "db": cmd_db,
    "outbox": cmd_outbox,
    "export": cmd_export,
    "org": cmd_org,
    "crm": cmd_crm,
}
