"""news.fetch over a loopback HTTP server: every failure is a short reason, never an exception."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from news.fetch import USER_AGENT, fetch, make_client
from tests.support.feedserver import FeedServer

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"
RSS = (FEEDS / "arabic.rss.xml").read_bytes()
LAST_MODIFIED = "Tue, 11 Aug 2015 15:47:38 GMT"


async def test_ok_returns_body_validators_and_lowercased_headers(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.add(
        "/feed.xml",
        RSS,
        headers={"Content-Type": "application/rss+xml; charset=utf-8", "X-Custom": "1"},
        etag='"v1"',
        last_modified=LAST_MODIFIED,
    )
    result = await fetch(client, srv.url("/feed.xml"))
    assert result.error is None
    assert (result.status, result.body, result.not_modified) == (200, RSS, False)
    assert (result.etag, result.last_modified) == ('"v1"', LAST_MODIFIED)
    assert result.headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert result.headers["x-custom"] == "1"
    assert all(name == name.lower() for name in result.headers)
    assert result.url == result.final_url == srv.url("/feed.xml")
    request = srv.requests_to("/feed.xml")[0]
    assert request.headers["user-agent"] == "Khulasa/0.1 (+https://github.com/khulasa; Telegram news digest bot)"
    assert "if-none-match" not in request.headers


async def test_conditional_get_round_trip(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.add("/feed.xml", RSS, etag='"v1"', last_modified=LAST_MODIFIED)
    first = await fetch(client, srv.url("/feed.xml"))
    second = await fetch(client, srv.url("/feed.xml"), etag=first.etag, last_modified=first.last_modified)
    assert second.error is None
    assert (second.status, second.not_modified, second.body) == (304, True, b"")
    assert (second.etag, second.last_modified) == ('"v1"', LAST_MODIFIED)  # carried over for the next poll
    sent = srv.requests_to("/feed.xml")[1].headers
    assert (sent["if-none-match"], sent["if-modified-since"]) == ('"v1"', LAST_MODIFIED)

    srv.add("/feed.xml", RSS + b"\n", etag='"v2"')  # the feed changed: the old validator no longer matches
    third = await fetch(client, srv.url("/feed.xml"), etag=first.etag)
    assert (third.status, third.not_modified, third.etag) == (200, False, '"v2"')


async def test_last_modified_only(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.add("/feed.xml", RSS, last_modified=LAST_MODIFIED)
    result = await fetch(client, srv.url("/feed.xml"), last_modified=LAST_MODIFIED)
    assert (result.status, result.not_modified, result.last_modified) == (304, True, LAST_MODIFIED)


async def test_gzip_is_decoded(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.add("/feed.xml", RSS, gzip=True)
    result = await fetch(client, srv.url("/feed.xml"))
    assert result.error is None
    assert result.body == RSS
    assert result.headers["content-encoding"] == "gzip"
    assert "gzip" in srv.requests_to("/feed.xml")[0].headers["accept-encoding"]
    assert srv.routes["/feed.xml"].bytes_sent < len(RSS)  # it really travelled compressed


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (403, "HTTP 403 (likely an anti-bot wall)"),
        (404, "HTTP 404 (not found)"),
        (410, "HTTP 410 (gone)"),
        (500, "HTTP 500 (server error)"),
        (502, "HTTP 502 (server error)"),
    ],
)
async def test_http_errors(srv: FeedServer, client: httpx.AsyncClient, status: int, reason: str) -> None:
    srv.add("/feed.xml", b"<html>nope</html>", status=status, headers={"Content-Type": "text/html"})
    result = await fetch(client, srv.url("/feed.xml"))
    assert (result.status, result.error, result.body, result.retry_after) == (status, reason, b"", None)


async def test_unknown_path_is_404(srv: FeedServer, client: httpx.AsyncClient) -> None:
    result = await fetch(client, srv.url("/missing.xml"))
    assert (result.status, result.error) == (404, "HTTP 404 (not found)")


async def test_429_retry_after_seconds(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.add("/feed.xml", status=429, headers={"Retry-After": "120"})
    result = await fetch(client, srv.url("/feed.xml"))
    assert (result.status, result.error, result.retry_after) == (429, "HTTP 429 (rate limited)", 120.0)


async def test_503_retry_after_http_date(srv: FeedServer, client: httpx.AsyncClient) -> None:
    when = datetime.now(UTC) + timedelta(minutes=10)
    srv.add("/feed.xml", status=503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    result = await fetch(client, srv.url("/feed.xml"))
    assert (result.status, result.error) == (503, "HTTP 503 (server error)")
    assert result.retry_after is not None
    assert 590 <= result.retry_after <= 600


async def test_retry_after_garbage_is_ignored(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.add("/feed.xml", status=429, headers={"Retry-After": "soon"})
    result = await fetch(client, srv.url("/feed.xml"))
    assert (result.error, result.retry_after) == ("HTTP 429 (rate limited)", None)


async def test_server_that_never_answers_times_out(srv: FeedServer) -> None:
    srv.add("/feed.xml", RSS, delay=math.inf)
    started = time.monotonic()
    async with make_client(user_agent=USER_AGENT, timeout=0.3) as client:
        result = await fetch(client, srv.url("/feed.xml"))
    assert (result.status, result.error) == (0, "timeout")
    assert time.monotonic() - started < 2


async def test_slow_drip_is_cut_by_the_deadline(srv: FeedServer, client: httpx.AsyncClient) -> None:
    """A server sending a byte every 50 ms never trips the read timeout; the overall deadline stops it."""
    srv.add("/feed.xml", lambda: (b"<" for _ in range(1000)), chunk_delay=0.05)
    started = time.monotonic()
    result = await fetch(client, srv.url("/feed.xml"), deadline=0.5)
    assert result.error == "timeout"
    assert time.monotonic() - started < 2


async def test_redirect_is_followed_and_final_url_kept(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.redirect("/old.xml", "/mid.xml", status=301)
    srv.redirect("/mid.xml", srv.url("/feed.xml"), status=302)
    srv.add("/feed.xml", RSS)
    result = await fetch(client, srv.url("/old.xml"))
    assert result.error is None
    assert result.body == RSS
    assert result.url == srv.url("/old.xml")
    assert result.final_url == srv.url("/feed.xml")


async def test_redirect_loop(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.redirect("/a.xml", "/b.xml")
    srv.redirect("/b.xml", "/a.xml")
    result = await fetch(client, srv.url("/a.xml"))
    assert (result.status, result.error) == (0, "too many redirects")
    assert len(srv.requests) == 6  # the request and the five redirects the client allows


async def test_redirect_to_a_non_http_scheme_is_refused(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.redirect("/feed.xml", "file:///etc/passwd")
    result = await fetch(client, srv.url("/feed.xml"))
    assert result.error == "not an http(s) URL"


async def test_redirect_to_a_broken_location(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.redirect("/feed.xml", "http://host:port/")
    result = await fetch(client, srv.url("/feed.xml"))
    assert (result.status, result.error) == (0, "bad redirect")


@pytest.mark.parametrize(
    "url", ["ftp://news.example/feed.xml", "file:///etc/passwd", "javascript:alert(1)", "news.example/feed.xml"]
)
async def test_non_http_urls(client: httpx.AsyncClient, url: str) -> None:
    result = await fetch(client, url)
    assert (result.url, result.status, result.error) == (url, 0, "not an http(s) URL")


def _fifty_megabytes() -> Iterator[bytes]:
    chunk = b"<item><title>x</title></item>" * 2000  # about 60 KB
    for _ in range(50_000_000 // len(chunk)):
        yield chunk


async def test_50mb_stream_is_capped_without_reading_it_all(srv: FeedServer, client: httpx.AsyncClient) -> None:
    route = srv.add("/huge.xml", _fifty_megabytes)  # chunked, no Content-Length: only streaming can stop it
    started = time.monotonic()
    result = await fetch(client, srv.url("/huge.xml"), max_bytes=1_000_000)
    assert (result.status, result.error, result.body) == (200, "too large (> 1 MB)", b"")
    await asyncio.sleep(0.05)  # let the server notice the hang-up
    assert route.bytes_sent < 20_000_000  # what fits in socket buffers, not the 50 MB
    assert time.monotonic() - started < 3


async def test_declared_content_length_over_the_cap_is_refused_up_front(
    srv: FeedServer, client: httpx.AsyncClient
) -> None:
    route = srv.add("/huge.xml", _fifty_megabytes, headers={"Content-Length": "50000000"})
    result = await fetch(client, srv.url("/huge.xml"))  # default cap: 10 MB
    assert result.error == "too large (> 10 MB)"
    await asyncio.sleep(0.05)
    assert route.bytes_sent < 20_000_000


async def test_gzip_bomb_is_capped_on_decoded_size(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.add("/bomb.xml", b"\0" * 5_000_000, gzip=True)  # about 5 KB on the wire
    result = await fetch(client, srv.url("/bomb.xml"), max_bytes=1_000_000)
    assert result.error == "too large (> 1 MB)"


async def test_connection_refused(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago and now has no listener
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = await fetch(client, f"http://127.0.0.1:{port}/feed.xml")
    assert (result.status, result.error) == (0, "connection refused")


async def test_dns_failure(client: httpx.AsyncClient) -> None:
    result = await fetch(client, "http://no-such-host.invalid/feed.xml")
    assert (result.status, result.error) == (0, "DNS lookup failed")


async def test_private_addresses_blocked_when_asked(srv: FeedServer, client: httpx.AsyncClient) -> None:
    srv.add("/feed.xml", RSS)
    for url in (srv.url("/feed.xml"), f"http://localhost:{srv.port}/feed.xml", "http://169.254.169.254/latest/"):
        result = await fetch(client, url, allow_private=False)
        assert (result.status, result.error) == (0, "blocked private address")
    assert srv.requests == []  # refused before connecting
    assert (await fetch(client, srv.url("/feed.xml"))).error is None  # allowed by default


def test_make_client_settings() -> None:
    client = make_client(user_agent=USER_AGENT, timeout=7.0)
    assert client.follow_redirects is True
    assert client.max_redirects == 5
    assert client.headers["user-agent"] == USER_AGENT
    assert (client.timeout.read, client.timeout.connect) == (7.0, 7.0)
    assert "gzip" in client.headers["accept-encoding"]


async def test_the_client_alone_caps_redirects(srv: FeedServer, client: httpx.AsyncClient) -> None:
    """Other callers (not `fetch`) get the same redirect cap from the client itself."""
    for hop in range(6):
        srv.redirect(f"/r{hop}", f"/r{hop + 1}")
    srv.add("/r6", b"ok")
    assert (await client.get(srv.url("/r1"))).text == "ok"  # five redirects
    with pytest.raises(httpx.TooManyRedirects):
        await client.get(srv.url("/r0"))  # six
