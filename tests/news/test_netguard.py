"""news.netguard: private, loopback, link-local and metadata addresses are refused; public literals pass."""

from __future__ import annotations

import pytest

from news.netguard import is_public_host, parse_ip, resolve_is_public

NOT_PUBLIC = [
    "127.0.0.1",
    "127.1",  # inet_aton shorthand for 127.0.0.1
    "2130706433",  # decimal 127.0.0.1
    "0x7f000001",
    "0.0.0.0",
    "10.1.2.3",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "224.0.0.1",
    "::1",
    "[::1]",
    "::",
    "fc00::1",
    "fd12:3456::1",
    "fe80::1%eth0",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "ff02::1",
    "localhost",
    "LOCALHOST.",
    "api.localhost",
    "printer.local",
    "metadata.google.internal",
    "metadata",  # single-label names reach the local network through search domains
    "",
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "[2606:4700:4700::1111]", "aawsat.com", "www.alriyadh.com"]


@pytest.mark.parametrize("host", NOT_PUBLIC)
def test_not_public(host: str) -> None:
    assert not is_public_host(host)


@pytest.mark.parametrize("host", PUBLIC)
def test_public_without_dns(host: str) -> None:
    assert is_public_host(host)


def test_parse_ip_reads_resolver_shorthands() -> None:
    assert str(parse_ip("127.1")) == "127.0.0.1"
    assert str(parse_ip("0x7f.1")) == "127.0.0.1"
    assert parse_ip("cafe.example") is None


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "169.254.169.254", "10.0.0.7", "localhost"])
async def test_resolve_refuses_private(host: str) -> None:
    assert not await resolve_is_public(host)


async def test_resolve_accepts_public_literal_without_dns() -> None:
    assert await resolve_is_public("8.8.8.8")


async def test_unresolvable_name_is_not_public() -> None:
    assert not await resolve_is_public("no-such-host.invalid")
