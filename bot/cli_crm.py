"""`python -m bot crm ...`: connect an organization's CRM, see how its sync goes, run one by hand."""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import select

from bot.startup import CliError, ensure_schema, load_context


def add_parser(commands: Any) -> None:
    crm = commands.add_parser("crm", help="CRM sync (Salesforce, HubSpot): connect, status, sync")
    actions = crm.add_subparsers(dest="action", required=True)

    connect = actions.add_parser("connect", help="connect (or reconfigure) the organization's CRM")
    connect.add_argument("system", choices=["salesforce", "hubspot"])
    connect.add_argument("--org", default=None, help="organization name or id (needed when there are several)")
    sf = connect.add_argument_group("Salesforce")
    sf.add_argument("--login-url", default=None, help="https://login.salesforce.com (default), test.salesforce.com for a sandbox, or My Domain")
    sf.add_argument("--username", default=None, help="the integration user's username")
    sf.add_argument("--consumer-key", default=None, help="the connected app's consumer key (client id)")
    sf.add_argument("--private-key-file", default=None, help="JWT bearer flow: the PEM private key of the connected app's certificate")
    sf.add_argument("--password-env", default=None, help="username-password flow: env var holding the password (e.g. SALESFORCE_PASSWORD)")
    sf.add_argument("--security-token-env", default=None, help="env var holding the user's security token")
    sf.add_argument("--consumer-secret-env", default=None, help="env var holding the connected app's consumer secret")
    sf.add_argument("--record-types", action="store_true", help="Opportunities have record types: playbooks' crm_pipeline names them")
    hs = connect.add_argument_group("HubSpot")
    hs.add_argument("--token-env", default=None, help="env var holding the private app's access token (default HUBSPOT_ACCESS_TOKEN)")
    hs.add_argument("--portal-id", default=None, help="the HubSpot account (portal) id, which webhooks name")
    connect.add_argument("--api-url", default=None, help=argparse.SUPPRESS)  # a HubSpot API host other than api.hubapi.com
    connect.add_argument("--disable", action="store_true", help="keep the settings but stop syncing")
    connect.add_argument(
        "--write-back", action="store_true",
        help="write each confirmation of exit criteria to the CRM record (Salesforce Task, HubSpot note); off by default",
    )

    status = actions.add_parser("status", help="last sync, cursor, counts, unmapped stages, unknown owners, errors")
    status.add_argument("--org", default=None, help="only this organization")

    sync = actions.add_parser("sync", help="sync now (what the clock's crm-sync job does)")
    sync.add_argument("--org", default=None, help="only this organization (default: every connected one)")
    sync.add_argument("--dry-run", action="store_true", help="read the CRM and say what would change; write nothing")


def run(args: argparse.Namespace) -> int:
    from handlers.crm.mapping import CrmError
    from handlers.crm.sync import render_result, run_sync
    from storage.models import CrmConnection, Organization
    from storage.organizations import OrganizationError, choose, find

    ctx = load_context()
    try:
        ensure_schema(ctx)
        if args.action == "connect":
            with ctx.sessions.begin() as db:
                try:
                    organization = choose(db, args.org)
                except OrganizationError as exc:
                    raise CliError(str(exc)) from exc
                settings = _settings(args)
                problem = _check(args.system, settings)
                if problem:
                    raise CliError(problem)
                connection = db.scalar(select(CrmConnection).where(CrmConnection.organization_id == organization.id))
                if connection is None:
                    connection = CrmConnection(organization_id=organization.id, system=args.system, last_result={})
                    db.add(connection)
                elif connection.system != args.system:
                    connection.cursor = None  # another CRM: start over
                elif args.portal_id and connection.account_id and args.portal_id != connection.account_id:
                    connection.cursor = None  # another HubSpot portal: its deals are read from the start
                    print(
                        f"Warning: {organization.name} was connected to portal {connection.account_id}; deals "
                        "linked to it keep their CRM ids. The next sync reads the new portal from the start."
                    )
                portal = args.portal_id or (connection.account_id if connection.system == args.system else None)
                if portal:
                    other = db.scalar(
                        select(Organization.name)
                        .join(CrmConnection, CrmConnection.organization_id == Organization.id)
                        .where(
                            CrmConnection.system == args.system,
                            CrmConnection.account_id == portal,
                            CrmConnection.organization_id != organization.id,
                        )
                    )
                    if other is not None:  # a webhook names a portal: it must lead to one organization
                        raise CliError(f"Portal {portal} is already connected to the organization {other}.")
                connection.system = args.system
                connection.settings = settings
                connection.account_id = portal  # kept when --portal-id is left out on a reconnect
                connection.enabled = not args.disable
                print(
                    f"{organization.name}: {args.system} connected"
                    + (" (disabled)" if args.disable else "")
                    + ". Try `python -m bot crm sync --dry-run` to see what the first sync would do."
                )
            return 0
        with ctx.sessions() as db:
            query = select(CrmConnection, Organization).join(Organization, Organization.id == CrmConnection.organization_id)
            if args.org:
                try:
                    query = query.where(CrmConnection.organization_id == find(db, args.org).id)
                except OrganizationError as exc:
                    raise CliError(str(exc)) from exc
            rows = db.execute(query.order_by(CrmConnection.id)).all()
        if not rows:
            raise CliError("No CRM is connected: run `python -m bot crm connect salesforce|hubspot ...` (README: Connect your CRM).")
        if args.action == "status":
            for connection, organization in rows:
                when = connection.last_sync_at.isoformat(timespec="seconds") if connection.last_sync_at else "never"
                state = "" if connection.enabled else " (disabled)"
                print(f"{organization.name}: {connection.system}{state}, last sync {when}")
                if connection.last_result:
                    print(render_result(organization.name, connection.system, connection.last_result, connection.cursor))
                elif connection.cursor:
                    print(f"  cursor: {connection.cursor}")
            return 0
        failed = False
        for connection, _organization in rows:
            if not connection.enabled and not args.org:
                continue
            try:
                report = run_sync(ctx, connection.id, ctx.clock(), dry_run=args.dry_run)
            except CrmError as exc:
                print(f"{_organization.name}: {exc}")
                failed = True
                continue
            print(("DRY RUN, nothing written. " if args.dry_run else "") + report.render())
            failed = failed or bool(report.errors)
        return 1 if failed else 0
    finally:
        ctx.close()


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    keys = {
        "salesforce": ("login_url", "username", "consumer_key", "private_key_file", "password_env", "security_token_env", "consumer_secret_env", "record_types"),
        "hubspot": ("token_env", "api_url"),
    }[args.system]
    values = {k: getattr(args, k) for k in keys if getattr(args, k, None) not in (None, False)}
    if args.write_back:
        values["write_back"] = True
    if args.system == "salesforce" and args.api_url:
        values["login_url"] = args.api_url
    if args.system == "salesforce" and "password_env" in values:
        values.setdefault("security_token_env", "SALESFORCE_SECURITY_TOKEN")
        values.setdefault("consumer_secret_env", "SALESFORCE_CONSUMER_SECRET")
    if args.system == "hubspot":
        values.setdefault("token_env", "HUBSPOT_ACCESS_TOKEN")
    return values


def _check(system: str, settings: dict[str, Any]) -> str | None:
    if system == "salesforce":
        missing = [f"--{k.replace('_', '-')}" for k in ("username", "consumer_key") if not settings.get(k)]
        if not settings.get("private_key_file") and not settings.get("password_env"):
            missing.append("--private-key-file (JWT bearer flow) or --password-env (username-password flow)")
        if missing:
            return "Salesforce needs " + ", ".join(missing)
        if settings.get("private_key_file"):
            from pathlib import Path

            if not Path(settings["private_key_file"]).is_file():
                return f"--private-key-file {settings['private_key_file']}: no such file"
    return None
