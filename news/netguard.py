"""Refuse hosts that point inside the machine or its network (SSRF guard for user-supplied feed URLs).

`is_public_host` judges a host name or address literal without DNS; `resolve_is_public` also resolves names
and requires every address to be public, so a name that resolves to 127.0.0.1 or 169.254.169.254 is refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Ranges that Python's `is_global` misses or gets wrong on some patch releases; checked explicitly.
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches localhost on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. the 169.254.169.254 cloud metadata service
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "fc00::/7",  # ULA
        "fe80::/10",  # link-local
        "fec0::/10",  # deprecated site-local
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Names that only ever mean "this machine" or "this site's network".
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")
# What the C resolver accepts as an IPv4 literal: "127.1", "0x7f.1", "2130706433", "017700000001".
_INET_ATON_SHAPE = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+)){0,3}$", re.IGNORECASE)


def is_public_address(ip: IPAddress) -> bool:
    """Whether an IP address is globally routable unicast (not loopback, private, link-local, CGNAT, …)."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    if any(ip in net for net in _BLOCKED_NETWORKS if net.version == ip.version):
        return False
    return ip.is_global and not ip.is_multicast and not ip.is_unspecified


def parse_ip(host: str) -> IPAddress | None:
    """The address a host string denotes by itself (brackets, zone ids and inet_aton forms allowed), else None."""
    host = host.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _INET_ATON_SHAPE.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def is_public_host(host: str) -> bool:
    """Whether a host may be public, judged without DNS: literals by address, names by their shape.

    A name passing this check can still resolve to a private address; use `resolve_is_public` for that.
    """
    ip = parse_ip(host)
    if ip is not None:
        return is_public_address(ip)
    name = host.strip().rstrip(".").lower()
    if not name or "." not in name:  # "localhost", "metadata", intranet short names
        return False
    return not name.endswith(_LOCAL_SUFFIXES)


async def resolve_addresses(host: str) -> list[IPAddress]:
    """Every address a host resolves to (the literal itself for an IP); raises `socket.gaierror` on failure."""
    ip = parse_ip(host)
    if ip is not None:
        return [ip]
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


async def resolve_is_public(host: str) -> bool:
    """Whether a host and every address it resolves to are public; False when it does not resolve."""
    if not is_public_host(host):
        return False
    try:
        addresses = await resolve_addresses(host)
    except (OSError, UnicodeError):
        return False
    return bool(addresses) and all(is_public_address(ip) for ip in addresses)
