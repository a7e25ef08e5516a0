"""A loopback HTTP/1.1 server for tests: serves bytes, files or streamed bodies with set headers; records requests.

    async with FeedServer() as srv:
        srv.add("/feed.xml", body, headers={"Content-Type": "application/rss+xml"}, etag='"v1"')
        srv.redirect("/old", "/feed.xml")
        result = await fetch(client, srv.url("/feed.xml"))
        assert srv.requests_to("/feed.xml")[0].headers["user-agent"].startswith("Khulasa/")

Written on asyncio streams (stdlib only) so a test controls every byte: no automatic compression, no
Content-Length fixing, bodies streamed chunk by chunk, responses that never come. One response per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip as gzip_module
import math
import mimetypes
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from pathlib import Path

Body = bytes | str | Callable[[], Iterable[bytes]]

_CONTENT_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received (header names lower-cased)."""

    method: str
    path: str  # with the query string
    headers: dict[str, str]


@dataclass
class Route:
    """How the server answers one path."""

    body: Body = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the response starts; math.inf never answers
    chunk_delay: float = 0.0  # seconds between chunks of a streamed body
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    bytes_sent: int = 0  # body bytes written so far (streamed bodies stop early when the client hangs up)


class FeedServer:
    """A loopback HTTP server, used as `async with FeedServer() as srv:`; unknown paths answer 404."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.routes: dict[str, Route] = {}
        self.requests: list[RecordedRequest] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> FeedServer:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def url(self, path: str = "/") -> str:
        """The absolute URL of a path on this server."""
        return f"http://{self.host}:{self.port}{path}"

    def add(
        self,
        path: str,
        body: Body = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        etag: str | None = None,
        last_modified: str | None = None,
        gzip: bool = False,
    ) -> Route:
        """Serve `body` at `path`; a callable body is called per request and its chunks are sent chunked.

        With `etag`/`last_modified` the server sends those validators and answers a matching conditional
        GET with 304. `gzip=True` compresses a bytes body and sets Content-Encoding.
        """
        route = Route(
            body=body,
            status=status,
            headers=dict(headers or {}),
            delay=delay,
            chunk_delay=chunk_delay,
            etag=etag,
            last_modified=last_modified,
            gzip=gzip,
        )
        self.routes[path] = route
        return route

    def redirect(self, path: str, to: str, *, status: int = 302) -> Route:
        """Answer `path` with a redirect to `to` (a path on this server or an absolute URL)."""
        return self.add(path, status=status, headers={"Location": to})

    def serve_dir(self, directory: str | Path, prefix: str = "/") -> list[str]:
        """Serve every file of a directory under `prefix`; returns the paths added."""
        paths = []
        for file in sorted(Path(directory).iterdir()):
            if file.is_file():
                path = prefix.rstrip("/") + "/" + file.name
                self.add(path, file.read_bytes())
                paths.append(path)
        return paths

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests for one path (query string ignored)."""
        return [r for r in self.requests if r.path.split("?", 1)[0] == path]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request = await _read_request(reader)
            if request is not None:
                self.requests.append(request)
                await self._respond(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up: that is what size caps and timeouts do
        except asyncio.CancelledError:
            pass  # server shutting down; asyncio would log a cancelled connection task as an error
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _respond(self, request: RecordedRequest, writer: asyncio.StreamWriter) -> None:
        route = self.routes.get(request.path) or self.routes.get(request.path.split("?", 1)[0])
        if route is None:
            route = Route(body=b"not found", status=404, headers={"Content-Type": "text/plain"})
        if route.delay == math.inf:
            await asyncio.Event().wait()
        elif route.delay:
            await asyncio.sleep(route.delay)

        headers = {name.lower(): (name, value) for name, value in route.headers.items()}
        path = request.path.split("?", 1)[0]
        if "content-type" not in headers and route.status < 300:
            content_type = _CONTENT_TYPES.get(Path(path).suffix.lower()) or mimetypes.guess_type(path)[0]
            headers["content-type"] = ("Content-Type", content_type or "application/octet-stream")
        if route.etag:
            headers["etag"] = ("ETag", route.etag)
        if route.last_modified:
            headers["last-modified"] = ("Last-Modified", route.last_modified)

        status = 304 if _not_modified(route, request.headers) else route.status
        body = route.body.encode() if isinstance(route.body, str) else route.body
        if status == 304 or request.method == "HEAD":
            body = b""
        elif route.gzip and isinstance(body, bytes):
            body = gzip_module.compress(body)
            headers["content-encoding"] = ("Content-Encoding", "gzip")

        streamed = callable(body)
        if isinstance(body, bytes) and "content-length" not in headers:
            headers["content-length"] = ("Content-Length", str(len(body)))
        chunked = streamed and "content-length" not in headers
        if chunked:
            headers["transfer-encoding"] = ("Transfer-Encoding", "chunked")
        headers["connection"] = ("Connection", "close")

        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Unknown"
        head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers.values())
        writer.write(head.encode("latin-1") + b"\r\n")
        if isinstance(body, bytes):
            writer.write(body)
            route.bytes_sent += len(body)
            await writer.drain()
            return
        for chunk in body():
            if not chunk:
                continue
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            await writer.drain()
            route.bytes_sent += len(chunk)
            if route.chunk_delay:
                await asyncio.sleep(route.chunk_delay)
        if chunked:
            writer.write(b"0\r\n\r\n")
        await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    """Read one request line, its headers and any Content-Length body."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _version = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            name = name.strip().lower()
            headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
    if int(headers.get("content-length", "0") or 0):
        await reader.readexactly(int(headers["content-length"]))
    return RecordedRequest(method=method, path=target, headers=headers)


def _not_modified(route: Route, headers: dict[str, str]) -> bool:
    """Whether a conditional GET matches the route's validators (If-None-Match wins over If-Modified-Since)."""
    if route.status != 200:
        return False
    if "if-none-match" in headers:
        tags = {tag.strip() for tag in headers["if-none-match"].split(",")}
        return route.etag is not None and ("*" in tags or route.etag in tags)
    if route.last_modified and "if-modified-since" in headers:
        try:
            return parsedate_to_datetime(headers["if-modified-since"]) >= parsedate_to_datetime(route.last_modified)
        except (TypeError, ValueError):
            return False
    return False
