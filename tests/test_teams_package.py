"""The Teams app package: what an admin uploads must pass Teams' checks (schema 1.17 limits, icon rules),
so the zip, the manifest and the PNGs are read back here byte by byte rather than trusted."""

from __future__ import annotations

import json
import re
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from bot.router import match, normalize
from bot.teams_package import PackageError, PackageOptions, build_manifest, png, write_package

APP_ID = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
ACCENT = (0x1D, 0x35, 0x57, 255)
WHITE = (255, 255, 255, 255)

# Top-level keys the v1.17 schema defines (it sets additionalProperties: false, so any other key fails).
SCHEMA_1_17_KEYS = {
    "$schema", "manifestVersion", "version", "id", "localizationInfo", "developer", "name", "description",
    "icons", "accentColor", "configurableTabs", "staticTabs", "bots", "connectors", "subscriptionOffer",
    "composeExtensions", "permissions", "devicePermissions", "validDomains", "webApplicationInfo",
    "graphConnector", "showLoadingIndicator", "isFullScreen", "activities", "configurableProperties",
    "supportedChannelTypes", "defaultBlockUntilAdminAction", "publisherDocsUrl", "defaultInstallScope",
    "defaultGroupCapability", "meetingExtensionDefinition", "authorization", "extensions", "dashboardCards",
}  # fmt: skip


def manifest_of(zip_path: Path) -> dict[str, Any]:
    with zipfile.ZipFile(zip_path) as archive:
        return json.loads(archive.read("manifest.json"))


@pytest.fixture
def package(tmp_path: Path) -> Path:
    return write_package(PackageOptions(app_id=APP_ID, host="bot.example.com"), tmp_path / "app.zip")


# --- a PNG reader, independent of the encoder under test ---------------------------------------------


def read_png(data: bytes) -> tuple[int, int, list[list[tuple[int, ...]]]]:
    """Check signature, chunk order and every CRC; return width, height and RGBA rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind, body = data[offset + 4 : offset + 8], data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(kind + body), f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        offset += 12 + length
    kinds = [kind for kind, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height, depth, color_type, compression, filtering, interlace = struct.unpack(
        ">IIBBBBB", chunks[0][1]
    )
    assert (depth, color_type, compression, filtering, interlace) == (8, 6, 0, 0, 0)  # 8-bit RGBA
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    stride = 1 + 4 * width
    assert len(raw) == stride * height
    rows = []
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        assert line[0] == 0, "only filter type 0 is expected from this encoder"
        rows.append([tuple(line[1 + 4 * x : 5 + 4 * x]) for x in range(width)])
    return width, height, rows


def icon(zip_path: Path, name: str) -> tuple[int, int, list[list[tuple[int, ...]]]]:
    with zipfile.ZipFile(zip_path) as archive:
        return read_png(archive.read(name))


# --- the zip -------------------------------------------------------------------------------------------


def test_zip_holds_exactly_the_manifest_and_two_icons_at_its_root(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert archive.testzip() is None


def test_missing_folders_are_created_and_a_folder_gets_a_default_file_name(tmp_path: Path) -> None:
    options = PackageOptions(app_id=APP_ID)
    nested = write_package(options, tmp_path / "dist" / "teams" / "app.zip")
    assert nested == tmp_path / "dist" / "teams" / "app.zip" and zipfile.is_zipfile(nested)
    in_folder = write_package(options, tmp_path / "dist")
    assert in_folder == tmp_path / "dist" / "enablement-teams-app.zip" and zipfile.is_zipfile(in_folder)


def test_same_options_give_the_same_bytes(tmp_path: Path) -> None:
    options = PackageOptions(app_id=APP_ID, host="bot.example.com")
    first = write_package(options, tmp_path / "a.zip").read_bytes()
    assert write_package(options, tmp_path / "b.zip").read_bytes() == first


def test_bad_input_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(PackageError):
        write_package(PackageOptions(app_id="nope"), tmp_path / "out" / "app.zip")
    assert not (tmp_path / "out").exists()


# --- the manifest --------------------------------------------------------------------------------------


def test_manifest_identifies_the_bot_for_every_scope(package: Path) -> None:
    manifest = manifest_of(package)
    assert manifest["$schema"] == (
        "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
    )
    assert manifest["manifestVersion"] == "1.17"
    assert manifest["id"] == APP_ID and manifest["version"] == "1.0.0"
    assert set(manifest) <= SCHEMA_1_17_KEYS
    [bot] = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert bot["scopes"] == ["personal", "team", "groupChat"]
    assert bot["supportsFiles"] is False and bot["isNotificationOnly"] is False
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert manifest["accentColor"] == "#1D3557"
    assert manifest["permissions"] == ["identity", "messageTeamMembers"]
    assert manifest["validDomains"] == ["bot.example.com"]


def test_command_menu_has_help_and_whats_next_within_teams_limits(package: Path) -> None:
    [bot] = manifest_of(package)["bots"]
    assert 1 <= len(bot["commandLists"]) <= 3
    for command_list in bot["commandLists"]:
        assert set(command_list["scopes"]) <= {"personal", "team", "groupChat"}
        assert 1 <= len(command_list["commands"]) <= 10  # schema 1.17: maxItems 10 per list
        titles = [c["title"] for c in command_list["commands"]]
        assert "help" in titles and "what's next for" in titles
        assert len(set(titles)) == len(titles)
    covered = {scope for command_list in bot["commandLists"] for scope in command_list["scopes"]}
    assert covered == set(bot["scopes"])


# (path in the manifest, maximum length) for every string the v1.17 schema limits
LIMITS = [
    (("name", "short"), 30),
    (("name", "full"), 100),
    (("description", "short"), 80),
    (("description", "full"), 4000),
    (("developer", "name"), 32),
    (("developer", "websiteUrl"), 2048),
    (("developer", "privacyUrl"), 2048),
    (("developer", "termsOfUseUrl"), 2048),
    (("version",), 256),
    (("icons", "color"), 2048),
    (("icons", "outline"), 2048),
]


@pytest.mark.parametrize(
    "options",
    [
        PackageOptions(app_id=APP_ID, host="bot.example.com"),
        PackageOptions(
            app_id=APP_ID, name="N" * 30, developer="D" * 32, website="https://x.example/" + "p" * 2000
        ),
    ],
    ids=["defaults", "longest-accepted"],
)
def test_every_limited_string_is_within_its_limit(options: PackageOptions) -> None:
    manifest = build_manifest(options)
    for path, limit in LIMITS:
        value: Any = manifest
        for key in path:
            value = value[key]
        assert isinstance(value, str) and 0 < len(value) <= limit, (path, len(value))
    for command_list in manifest["bots"][0]["commandLists"]:
        for command in command_list["commands"]:
            assert 0 < len(command["title"]) <= 32, command
            assert 0 < len(command["description"]) <= 128, command
    for domain in manifest["validDomains"]:
        assert len(domain) <= 2048
    for key in ("websiteUrl", "privacyUrl", "termsOfUseUrl"):
        assert manifest["developer"][key].startswith("https://")
    assert re.fullmatch(r"#[0-9a-fA-F]{6}", manifest["accentColor"])


def test_description_speaks_to_sales_teams() -> None:
    description = build_manifest(PackageOptions(app_id=APP_ID))["description"]
    for words in ("what's next for Acme", "exit criteria", "coaching nudges", "knowledge checks", "managers"):
        assert words in description["full"]


# Route each menu command should reach: Teams pastes the title, the user completes it as the example shows.
EXPECTED_ROUTES = {
    "help": "help",
    "what's next for": "next",
    "exit criteria for": "stage-topic",
    "my deals": "my-deals",
    "search": "search",
    "new deal": "new-deal",
    "move": "move",
    "home": "home",
}


def test_every_menu_command_is_understood_by_the_router() -> None:
    [command_list] = build_manifest(PackageOptions(app_id=APP_ID))["bots"][0]["commandLists"]
    assert [c["title"] for c in command_list["commands"]] == list(EXPECTED_ROUTES)
    for command in command_list["commands"]:
        example = re.search(r'"([^"]+)"', command["description"])
        utterance = example.group(1) if example else command["title"]
        assert utterance.startswith(command["title"]), command
        found = match(normalize(utterance))
        assert found is not None and found[0].name == EXPECTED_ROUTES[command["title"]], utterance


def test_valid_domains_empty_without_host_and_host_only_from_a_pasted_url() -> None:
    assert build_manifest(PackageOptions(app_id=APP_ID))["validDomains"] == []
    pasted = PackageOptions(app_id=APP_ID, host="https://Bot.Example.com/api/messages")
    assert build_manifest(pasted)["validDomains"] == ["bot.example.com"]


# --- validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "app_id",
    ["", "my-bot", "3f2504e04f8911d39a0c0305e82c3301", "3f2504e0-4f89-11d3-9a0c-0305e82c330", "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}", "3f2504e0-4f89-11d3-9a0c-0305e82c330g"],
)  # fmt: skip
def test_an_app_id_that_is_not_a_guid_is_refused_with_the_format_and_where_to_find_it(app_id: str) -> None:
    with pytest.raises(PackageError) as raised:
        build_manifest(PackageOptions(app_id=app_id))
    message = str(raised.value)
    assert "GUID" in message and "8-4-4-4-12" in message and "00000000-0000-0000-0000-000000000000" in message
    assert "MICROSOFT_APP_ID" in message and "Azure" in message
    assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("version", "1.0", '"1.0.0"'),
        ("version", "v1.0.0", '"1.0.0"'),
        ("version", "01.0.0", '"1.0.0"'),
        ("name", "", "30 characters"),
        ("name", "N" * 31, "30 characters"),
        ("developer", "D" * 33, "32 characters"),
        ("website", "http://example.com/", "https"),
        ("website", "example.com", "https"),
        ("host", "not a host", "bot.example.com"),
        ("host", "bot.example.com/path", "bot.example.com"),
    ],
)
def test_other_bad_options_are_refused_with_what_to_change(field: str, value: str, hint: str) -> None:
    with pytest.raises(PackageError, match=re.escape(hint)):
        build_manifest(PackageOptions(app_id=APP_ID, **{field: value}))


# --- the icons -----------------------------------------------------------------------------------------


def test_color_icon_is_192_square_accent_with_a_lighter_symbol_inside_the_padding(package: Path) -> None:
    width, height, rows = icon(package, "color.png")
    assert (width, height) == (192, 192)
    assert rows[0][0] == rows[191][191] == ACCENT
    assert all(pixel[3] == 255 for row in rows for pixel in row)  # solid background, square corners
    symbol = {(x, y) for y, row in enumerate(rows) for x, pixel in enumerate(row) if pixel != ACCENT}
    assert symbol, "the icon should show something besides the background"
    assert all(48 <= x < 144 and 48 <= y < 144 for x, y in symbol)  # Teams crops 48 px of padding
    assert all(sum(rows[y][x][:3]) > sum(ACCENT[:3]) for x, y in symbol)  # lighter than the background


def test_outline_icon_is_32_square_pure_white_on_fully_transparent(package: Path) -> None:
    width, height, rows = icon(package, "outline.png")
    assert (width, height) == (32, 32)
    assert rows[0][0][3] == 0  # corner: fully transparent
    assert rows[16][16] == WHITE  # center: white and opaque
    assert all(pixel == WHITE or pixel[3] == 0 for row in rows for pixel in row)  # no other colors


def test_png_encoder_round_trips_every_pixel() -> None:
    def pixel(x: int, y: int) -> tuple[int, int, int, int]:
        return (x * 40, y * 100, 7, 255 - x)

    width, height, rows = read_png(png(5, 3, pixel))
    assert (width, height) == (5, 3)
    assert rows == [[pixel(x, y) for x in range(5)] for y in range(3)]


def test_teams_package_command(tmp_path):
    from tests.helpers.cli import run_cli

    ok = run_cli(
        "teams-package",
        "--out",
        str(tmp_path / "pkg.zip"),
        "--host",
        "bot.example.com",
        env={"MICROSOFT_APP_ID": "3f2504e0-4f89-11d3-9a0c-0305e82c3301"},
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"wrote {tmp_path / 'pkg.zip'}")
    with zipfile.ZipFile(tmp_path / "pkg.zip") as archive:
        assert (
            json.loads(archive.read("manifest.json"))["bots"][0]["botId"]
            == "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
        )
    missing = run_cli("teams-package", "--out", str(tmp_path / "x.zip"), env={"MICROSOFT_APP_ID": ""})
    assert missing.returncode == 2 and "pass --app-id or set MICROSOFT_APP_ID" in missing.stderr
    bad = run_cli("teams-package", "--app-id", "my-bot", "--out", str(tmp_path / "y.zip"))
    assert bad.returncode == 2 and "GUID" in bad.stderr and not (tmp_path / "y.zip").exists()
