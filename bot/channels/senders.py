"""Which sender delivers each platform's outbox rows, built from the settings."""

from __future__ import annotations

import sys
from typing import TextIO

from bot.channels.console import LocalSender
from bot.channels.slack_install import token_lookup
from bot.channels.slack_outbound import SlackSender
from bot.channels.teams_outbound import TeamsSender
from bot.context import AppContext
from bot.delivery import Sender
from storage.models import Platform


def build_senders(ctx: AppContext, local_stream: TextIO = sys.stdout) -> dict[Platform, Sender]:
    senders: dict[Platform, Sender] = {
        Platform.LOCAL: LocalSender(local_stream),
        Platform.TEAMS: TeamsSender(ctx),
    }
    from handlers.crm.writeback import CrmNoteSender

    senders[Platform.CRM] = CrmNoteSender(ctx)
    if ctx.settings.slack_bot_token or ctx.settings.slack_client_id:
        senders[Platform.SLACK] = SlackSender(token_lookup(ctx), ctx.settings.slack_api_url)
    return senders
