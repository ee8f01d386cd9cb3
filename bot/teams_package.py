"""The Microsoft Teams app package: the zip an admin uploads (Teams > Apps > Manage your apps > Upload an
app, or the Teams Developer Portal) so people can find the bot, add it and see its command menu.

The package is `manifest.json` (schema 1.17) plus two icons, flat at the zip's root. The icons are drawn
here with a tiny PNG encoder, so building a package needs nothing beyond the standard library.
Limits below are those of https://developer.microsoft.com/json-schemas/teams/v1.17/MicrosoftTeams.schema.json.
"""

from __future__ import annotations

import io
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

SCHEMA_URL = "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
MANIFEST_VERSION = "1.17"
ACCENT = "#1D3557"
DEFAULT_FILENAME = "enablement-teams-app.zip"
SCOPES = ["personal", "team", "groupChat"]

# (title <= 32, description <= 128): Teams inserts the title into the compose box, so each title is the
# start of something bot/router.py understands and the description shows how to finish it.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("help", "What I can do, with examples you can try"),
    ("what's next for", 'The stage, next tasks and open exit criteria for a deal: "what\'s next for Acme"'),
    ("exit criteria for", 'What must be true before a deal leaves a stage: "exit criteria for discovery"'),
    ("my deals", "Your open deals, their stages and how many exit criteria each has confirmed"),
    ("search", 'Search every stage of the playbook: "search pricing objection"'),
    ("new deal", 'Start tracking a deal: "new deal Globex in discovery"'),
    ("move", 'Record a stage change: "move Acme to evaluation"'),
    ("home", "Your overview: your deals, or your team's if you are a manager"),
)

SHORT_DESCRIPTION = "Your sales playbook in chat: what's next for each deal, exit criteria, coaching"
FULL_DESCRIPTION = (
    "Enablement brings your sales playbook into the conversations where deals are worked. "
    'Reps ask "what\'s next for Acme?" and get the stage the deal is in, the next tasks, the exit '
    "criteria not yet confirmed for that deal, questions to ask, talk tracks and content to send. "
    'Ask "exit criteria for discovery" or any playbook question ("how do I handle a pricing objection?") '
    "and the bot answers with the right section of your playbook. "
    "Frontline managers see their team's deals and where they stall, and get coaching nudges so "
    "coaching starts from evidence rather than from memory. "
    "Enablement teams write the playbooks (stages, exit criteria, content) and short knowledge checks "
    "that reps answer in chat, and see which exit criteria hold deals back. "
    "Works in a personal chat with the bot, in group chats and in team channels (mention the bot)."
)

_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_SEMVER = re.compile(r"(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)\.(?:0|[1-9][0-9]*)")
_HOST = re.compile(
    r"(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?::\d{1,5})?"
)


@dataclass(frozen=True)
class PackageOptions:
    """What varies between installations; everything else is fixed by what the bot can do."""

    app_id: str  # the Microsoft App ID (bot id), a GUID; also used as the Teams app id
    host: str | None = None  # public host of `python -m bot serve`, e.g. "bot.example.com"
    name: str = "Enablement"
    version: str = "1.0.0"
    developer: str = "Enablement Bot contributors"
    website: str = "https://github.com/"  # developer website, privacy and terms links (https)


class PackageError(ValueError):
    """An option Teams would reject, with what to change; raised before anything is written."""


def _check(options: PackageOptions) -> str | None:
    """Validate the options; return the host to list in validDomains (None when not given)."""
    if not _GUID.fullmatch(options.app_id.strip()):
        raise PackageError(
            f"app id {options.app_id!r} is not a GUID. A GUID looks like "
            '"00000000-0000-0000-0000-000000000000" (8-4-4-4-12 hexadecimal digits). Use the bot\'s '
            "Microsoft App ID: MICROSOFT_APP_ID, shown in the Azure portal under your Azure Bot > "
            "Configuration (or the app registration's Application (client) ID)."
        )
    if not _SEMVER.fullmatch(options.version):
        raise PackageError(
            f'version {options.version!r} must look like "1.0.0" (three numbers); '
            "raise it each time you upload a changed package."
        )
    if not 0 < len(options.name) <= 30:
        raise PackageError(f"name {options.name!r} must be 1 to 30 characters (Teams' short name limit).")
    if not 0 < len(options.developer) <= 32:
        raise PackageError(f"developer {options.developer!r} must be 1 to 32 characters.")
    if not options.website.lower().startswith("https://") or len(options.website) > 2048:
        raise PackageError(f'website {options.website!r} must be an https URL, e.g. "https://example.com/".')
    if options.host is None or not options.host.strip():
        return None
    host = options.host.strip()
    if "://" in host:  # tolerate a pasted URL such as https://bot.example.com/api/messages
        host = urlsplit(host).netloc
    if not _HOST.fullmatch(host):
        raise PackageError(
            f'host {options.host!r} is not a domain name; give the public host only, e.g. "bot.example.com".'
        )
    return host.lower()


def build_manifest(options: PackageOptions) -> dict[str, Any]:
    """The manifest.json content for schema 1.17 (only keys that schema knows: it allows no others)."""
    host = _check(options)
    app_id = options.app_id.strip()
    full_name = f"{options.name}: sales playbook coach"
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": options.version,
        "id": app_id,
        "developer": {
            "name": options.developer,
            "websiteUrl": options.website,
            "privacyUrl": options.website,
            "termsOfUseUrl": options.website,
        },
        "name": {"short": options.name, "full": full_name if len(full_name) <= 100 else options.name},
        "description": {"short": SHORT_DESCRIPTION, "full": FULL_DESCRIPTION},
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": ACCENT,
        "bots": [
            {
                "botId": app_id,
                "scopes": list(SCOPES),
                "supportsFiles": False,
                "isNotificationOnly": False,
                "commandLists": [
                    {
                        "scopes": list(SCOPES),
                        "commands": [{"title": t, "description": d} for t, d in COMMANDS],
                    }
                ],
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [host] if host else [],
    }


def write_package(options: PackageOptions, out: Path) -> Path:
    """Write the zip to `out` (into `out/enablement-teams-app.zip` if `out` is a folder), creating
    missing folders; return the file written. Identical options give identical bytes."""
    manifest = build_manifest(options)  # validates before anything touches the disk
    target = out / DEFAULT_FILENAME if out.is_dir() else out
    target.parent.mkdir(parents=True, exist_ok=True)
    files = {
        "manifest.json": json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n",
        "color.png": color_icon(),
        "outline.png": outline_icon(),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    target.write_bytes(buffer.getvalue())
    return target


def png(width: int, height: int, pixel: Callable[[int, int], tuple[int, int, int, int]]) -> bytes:
    """An 8-bit RGBA PNG of pixel(x, y) for each pixel: enough for icons without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width))  # filter type 0 (None) per row
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8 bits, RGBA, deflate, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def _in_bars(x: int, y: int, size: int, left: int, bar: int, gap: int, heights: tuple[int, ...]) -> bool:
    """Whether (x, y) falls in a rising bar chart with rounded tops whose baseline is y = size - left."""
    radius = bar // 4
    bottom = size - left
    for i, height in enumerate(heights):
        x0 = left + i * (bar + gap)
        top = bottom - height
        if not (x0 <= x < x0 + bar and top <= y < bottom):
            continue
        # round the two top corners: outside a corner's quarter circle means outside the bar
        cx = min(max(x, x0 + radius), x0 + bar - 1 - radius)
        cy = top + radius
        return y >= cy or (x - cx) ** 2 + (y - cy) ** 2 <= radius**2
    return False


def color_icon() -> bytes:
    """192x192: light bars on a solid accent square; the symbol stays in the middle 96x96 because Teams
    crops the edges (48 px padding, per Microsoft's icon guidance)."""
    light = (0xF1, 0xFA, 0xEE, 255)
    accent = (0x1D, 0x35, 0x57, 255)
    return png(192, 192, lambda x, y: light if _in_bars(x, y, 192, 48, 24, 12, (40, 68, 96)) else accent)


def outline_icon() -> bytes:
    """32x32: the same bars in pure white, everything else fully transparent (alpha 0), no padding:
    Teams allows no other colors or partial transparency in the outline icon."""
    white = (255, 255, 255, 255)
    clear = (0, 0, 0, 0)
    return png(32, 32, lambda x, y: white if _in_bars(x, y, 32, 0, 8, 4, (14, 23, 32)) else clear)
