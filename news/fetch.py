"""The only HTTP code: fetch a feed or page into a `FetchResult`, never raising for network or HTTP trouble.

Like Miniflux's `reader/fetcher`, this module only talks HTTP (conditional GET, redirects, size cap, SSRF guard)
and hands raw bytes plus headers to the parser; a failure comes back as a short human `error`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from news import netguard
from news.models import FetchResult

USER_AGENT = "Khulasa/0.1 (+https://github.com/khulasa; Telegram news digest bot)"
MAX_REDIRECTS = 5
_ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, text/html;q=0.8, */*;q=0.5"
_DEADLINE_FACTOR = 3  # the whole fetch may take this many read timeouts (guards against slow-drip servers)


def make_client(*, user_agent: str, timeout: float = 20.0) -> httpx.AsyncClient:
    """One shared client: redirects followed (at most 5), gzip/deflate (brotli when installed), timeouts set."""
    return httpx.AsyncClient(
        headers={"User-Agent": user_agent, "Accept": _ACCEPT, "Accept-Language": "ar, en;q=0.5"},
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
    )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = 10_000_000,
    allow_private: bool = True,
    deadline: float | None = None,
) -> FetchResult:
    """GET `url` (conditionally when validators are given) and return its body, or a short reason why not.

    Redirects are followed here hop by hop (up to `client.max_redirects`) so each hop is checked against
    the scheme and, with `allow_private=False`, the private-address guard. `deadline` bounds the whole
    fetch in seconds (default: three read timeouts of the client).
    """
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    if deadline is None:
        deadline = (client.timeout.read or 20.0) * _DEADLINE_FACTOR
    try:
        async with asyncio.timeout(deadline):
            return await _fetch(client, url, headers, etag, last_modified, max_bytes, allow_private)
    except TimeoutError:
        return _failure(url, "timeout")
    except httpx.HTTPError as exc:
        return _failure(url, _describe(exc))


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
    allow_private: bool,
) -> FetchResult:
    """`fetch` without the deadline; raises httpx errors for the caller to describe."""
    try:
        request = client.build_request("GET", url, headers=headers)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError):
        return _failure(url, "not an http(s) URL" if not url.lower().startswith(("http:", "https:")) else "invalid URL")
    for _hop in range(client.max_redirects + 1):
        if refusal := await _refuse(request.url, allow_private):
            return _failure(url, refusal)
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            if not allow_private and not _peer_is_public(response):
                return _failure(url, "blocked private address")
            if response.next_request is not None:
                request = response.next_request
                continue
            return await _result(url, response, etag, last_modified, max_bytes)
        finally:
            await response.aclose()
    return _failure(url, "too many redirects")


async def _refuse(url: httpx.URL, allow_private: bool) -> str | None:
    """Why a request URL must not be fetched, or None."""
    if url.scheme not in ("http", "https"):
        return "not an http(s) URL"
    if not url.host:
        return "invalid URL"
    if allow_private:
        return None
    if not netguard.is_public_host(url.host):
        return "blocked private address"
    try:
        addresses = await netguard.resolve_addresses(url.host)
    except (OSError, UnicodeError):
        return "DNS lookup failed"
    if not all(netguard.is_public_address(ip) for ip in addresses):
        return "blocked private address"
    return None


def _peer_is_public(response: httpx.Response) -> bool:
    """Whether the connected server's address is public (checked again after connect, against DNS rebinding)."""
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if not peer:
        return True  # not exposed by this transport; the pre-connect check stands
    ip = netguard.parse_ip(str(peer[0]))
    return ip is None or netguard.is_public_address(ip)


async def _result(
    url: str, response: httpx.Response, etag: str | None, last_modified: str | None, max_bytes: int
) -> FetchResult:
    """Turn a final (non-redirect) streamed response into a FetchResult, reading at most `max_bytes`."""
    headers = {name: value for name, value in response.headers.items()}
    common = {
        "url": url,
        "status": response.status_code,
        "headers": headers,
        "final_url": str(response.url),
    }
    if response.status_code == 304:
        return FetchResult(
            **common,
            etag=headers.get("etag", etag),
            last_modified=headers.get("last-modified", last_modified),
            not_modified=True,
        )
    if response.status_code >= 300:
        return FetchResult(
            **common,
            error=_status_reason(response.status_code),
            retry_after=_retry_after(headers.get("retry-after")) if response.status_code in (429, 503) else None,
        )
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes and "content-encoding" not in headers:
        return FetchResult(**common, error=_too_large(max_bytes))
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            return FetchResult(**common, error=_too_large(max_bytes))
        chunks.append(chunk)
    return FetchResult(
        **common,
        body=b"".join(chunks),
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
    )


def _failure(url: str, reason: str) -> FetchResult:
    """A result for a fetch that got no usable HTTP response."""
    return FetchResult(url=url, status=0, error=reason)


def _too_large(max_bytes: int) -> str:
    return f"too large (> {max_bytes / 1_000_000:g} MB)"


def _status_reason(status: int) -> str:
    """A short human reason for an HTTP status that carries no feed."""
    if status == 403:
        return "HTTP 403 (likely an anti-bot wall)"
    if status == 404:
        return "HTTP 404 (not found)"
    if status == 410:
        return "HTTP 410 (gone)"
    if status == 401:
        return "HTTP 401 (needs login)"
    if status == 429:
        return "HTTP 429 (rate limited)"
    if status >= 500:
        return f"HTTP {status} (server error)"
    if status >= 400:
        return f"HTTP {status} (client error)"
    return f"HTTP {status} (unexpected redirect)"


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _describe(exc: httpx.HTTPError) -> str:
    """A short human reason for an httpx exception."""
    if isinstance(exc, httpx.TimeoutException):
        return "timeout"
    if isinstance(exc, httpx.TooManyRedirects):
        return "too many redirects"
    if isinstance(exc, httpx.UnsupportedProtocol):
        return "not an http(s) URL"
    if isinstance(exc, httpx.DecodingError):
        return "bad content encoding"
    if isinstance(exc, httpx.ConnectError):
        causes = _causes(exc)
        if any(isinstance(c, socket.gaierror) for c in causes):
            return "DNS lookup failed"
        if any(isinstance(c, ConnectionRefusedError) for c in causes):
            return "connection refused"
        if any(isinstance(c, ssl.SSLError) for c in causes):
            return "TLS error"
        return "connection failed"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "bad redirect" if "location header" in str(exc).lower() else "server broke the connection"
    if isinstance(exc, httpx.NetworkError):
        return "network error"
    return f"HTTP error ({type(exc).__name__})"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and its chain of causes/contexts, including members of exception groups."""
    seen: list[BaseException] = []
    stack = [exc]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.append(current)
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        stack.extend(c for c in (current.__cause__, current.__context__) if c is not None)
    return seen
