"""A channel linked to a deal, so "this deal" said there means it."""

from __future__ import annotations

from sqlalchemy import select

from bot.messages import Reply
from handlers.common import (
    Turn,
)
from handlers.deals.cards import deal_by_id, resolve_deal
from storage.models import ChannelLink, Deal


def link_channel(turn: Turn, words: str) -> Reply:
    """Link the channel the request came from to a deal, so "this deal" there means that deal."""
    if not turn.request.shared or not turn.request.channel_id:
        return turn.render("replies/deals.j2#link_needs_channel", kind="error")
    deal = resolve_deal(turn, words, action="channel.link", write=True)
    if isinstance(deal, Reply):
        return deal
    return _link(turn, deal)


def link_clicked(turn: Turn, value: str) -> Reply:
    deal = deal_by_id(turn, value)
    return deal if isinstance(deal, Reply) else _link(turn, deal)


def _link(turn: Turn, deal: Deal) -> Reply:
    link = turn.db.scalar(
        select(ChannelLink).where(
            ChannelLink.organization_id == turn.organization.id,
            ChannelLink.channel_id == turn.request.channel_id,
        )
    )
    if link is None:
        link = ChannelLink(organization_id=turn.organization.id, channel_id=turn.request.channel_id)
        turn.db.add(link)
    link.deal_id = deal.id
    link.linked_by_id = turn.person.id
    return turn.render("channel_linked.j2", deal=deal)


def unlink_channel(turn: Turn) -> Reply:
    link = turn.db.scalar(
        select(ChannelLink).where(
            ChannelLink.organization_id == turn.organization.id,
            ChannelLink.channel_id == turn.request.channel_id,
        )
    )
    if link is None:
        return turn.render("replies/deals.j2#channel_not_linked", kind="error")
    turn.db.delete(link)
    return turn.render("replies/deals.j2#channel_unlinked")
