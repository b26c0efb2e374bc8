"""SSRF guard: a webhook URL is resolved at delivery time and only a vetted address is connected to.

Refused unless inside an explicitly allowed network: every address that is not globally
routable (private, loopback, link-local — which holds the cloud metadata service —, shared
100.64/10, unspecified, reserved, documentation), plus multicast. IPv4-mapped IPv6 addresses are
judged as the IPv4 address they carry. Cloud metadata addresses are refused even when allowed.
The request then goes to the vetted IP itself (``Host`` header and TLS SNI keep the name), so a
second DNS answer cannot move it elsewhere (no rebinding gap).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

#: Always refused: instance metadata services (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
MAX_URL_LENGTH = 2048


class UnsafeUrl(ValueError):
    """The URL itself is not acceptable (scheme, credentials, shape, or a literal blocked IP)."""


class BlockedAddress(Exception):
    """The host resolved only to addresses deliveries may not reach."""


class UnresolvableHost(Exception):
    """The host name did not resolve."""


@dataclass(frozen=True)
class Target:
    """Where one attempt connects: ``connect_url`` has the vetted IP in place of the host name."""

    connect_url: str
    host_header: str
    sni_hostname: str | None
    ip: str


def parse_networks(cidrs: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def _normalise(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def is_blocked(ip: IPAddress, allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    ip = _normalise(ip)
    if ip in METADATA_ADDRESSES:
        return True
    if any(ip.version == net.version and ip in net for net in allowed):
        return False
    return ip.is_multicast or not ip.is_global


def check_url(url: str, *, allow_http: bool) -> None:
    """Shape checks done when an endpoint is saved and again before every attempt.

    Raises ``UnsafeUrl`` with a message fit for the merchant.
    """
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl(f"Must be at most {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("Must be an absolute http(s) URL.") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeUrl("Must be an https URL." if not allow_http else "Must be an http or https URL.")
    if not parts.hostname:
        raise UnsafeUrl("Must name a host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("Must not contain credentials.")
    if parts.fragment:
        raise UnsafeUrl("Must not contain a fragment.")
    if port == 0:
        raise UnsafeUrl("Must not use port 0.")


def literal_ip(url: str) -> IPAddress | None:
    host = urlsplit(url).hostname or ""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_target(
    url: str,
    *,
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    allow_http: bool,
    resolver: Resolver = system_resolver,
) -> Target:
    """Vet ``url`` and pick the address to connect to.

    Raises ``UnsafeUrl``, ``UnresolvableHost`` or ``BlockedAddress`` (no connection is made).
    """
    check_url(url, allow_http=allow_http)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    literal = literal_ip(url)
    if literal is not None:
        candidates: list[IPAddress] = [literal]
    else:
        try:
            candidates = [ipaddress.ip_address(a.split("%", 1)[0]) for a in await resolver(host, port)]
        except (OSError, UnicodeError) as exc:
            raise UnresolvableHost(f"could not resolve {host}: {type(exc).__name__}") from None
        if not candidates:
            raise UnresolvableHost(f"could not resolve {host}")
    usable = [ip for ip in candidates if not is_blocked(ip, allowed_networks)]
    if not usable:
        raise BlockedAddress(f"{host} resolves only to blocked addresses ({', '.join(map(str, candidates[:3]))})")
    ip = _normalise(usable[0])
    ip_host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{ip_host}:{parts.port}" if parts.port else ip_host
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return Target(
        connect_url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host_header=host_header,
        sni_hostname=host if parts.scheme == "https" and literal is None else None,
        ip=str(ip),
    )
