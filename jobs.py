"""JobQueue callbacks: poll feeds, and drain the delivery outbox (see delivery.py)."""

from __future__ import annotations

import logging

from delivery import Sender
from handlers.context import Context

log = logging.getLogger(__name__)


async def poll_feeds(context: Context) -> None:
    """Refresh the feeds that are due."""
    refresher = context.bot_data.refresher
    if refresher is None:
        return
    for report in await refresher.refresh_due():
        if report.error:
            log.warning("feed %s: %s", report.url, report.error)
        elif report.new:
            log.info("feed %s: %d new, %d stories, %d queued", report.url, report.new, report.stories, report.queued)


async def push_outbox(context: Context) -> None:
    """Send what is due in the outbox and edit messages whose story gained an outlet."""
    sender = context.bot_data.extras.get("sender")
    if isinstance(sender, Sender):
        await sender.drain(context.bot)
