"""Fixtures for the fetching stages: a loopback feed server and the bot's HTTP client (short timeouts)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from news.fetch import USER_AGENT, make_client
from tests.support.feedserver import FeedServer


@pytest.fixture
async def srv() -> AsyncIterator[FeedServer]:
    """A loopback HTTP server for one test."""
    async with FeedServer() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """The bot's HTTP client with a 2-second timeout."""
    async with make_client(user_agent=USER_AGENT, timeout=2.0) as c:
        yield c
