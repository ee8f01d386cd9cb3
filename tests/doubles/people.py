"""People and ids the Slack and Teams doubles know: the demo team as Slack users and a Teams roster."""

from __future__ import annotations

SLACK_SECRET = "test-signing-secret"
SLACK_TEAM = "T0TEST"
SLACK_RILEY = {
    "id": "URILEY",
    "team_id": SLACK_TEAM,
    "name": "riley",
    "real_name": "Riley Chen",
    "tz": "America/Chicago",
    "profile": {"email": "rep@example.com", "real_name": "Riley Chen"},
}
SLACK_SAM = {
    "id": "USAM",
    "team_id": SLACK_TEAM,
    "name": "sam",
    "real_name": "Sam Ortiz",
    "tz": "America/New_York",
    "profile": {"email": "sam@example.com", "real_name": "Sam Ortiz"},
}
SLACK_NEWBIE = {
    "id": "UNEW",
    "team_id": SLACK_TEAM,
    "name": "nia",
    "real_name": "Nia New",
    "tz": "Europe/Berlin",
    "profile": {"email": "nia@example.com", "real_name": "Nia New"},
}

TEAMS_TENANT = "8f3c1a52-0000-4000-8000-00000000aaaa"
TEAMS_BOT = {"id": "28:0b7a6c3e-bot", "name": "Enablement"}
TEAMS_RILEY = {"id": "29:1riley", "name": "Riley Chen", "aadObjectId": "aad-riley"}
TEAMS_ROSTER = {
    "29:1riley": {
        "id": "29:1riley",
        "name": "Riley Chen",
        "aadObjectId": "aad-riley",
        "email": "rep@example.com",
        "userPrincipalName": "rep@example.com",
        "tenantId": TEAMS_TENANT,
        "userRole": "user",
    },
    "29:1newbie": {
        "id": "29:1newbie",
        "name": "Nia New",
        "aadObjectId": "aad-nia",
        "email": "Nia@Example.com",
        "userPrincipalName": "nia@example.com",
        "tenantId": TEAMS_TENANT,
        "userRole": "user",
    },
}
