"""SSRF guard: a webhook URL is resolved at delivery time and only a vetted address is connected to.

Refused unless inside an explicitly allowed network: every address that is not globally
routable (private, loopback, link-local — which holds the cloud metadata service —, shared
100.64/10, unspecified, reserved, documentation), plus multicast. IPv6 transition addresses
(IPv4-mapped, IPv4-translated, IPv4-compatible, NAT64, 6to4, Teredo) are judged by the IPv4
address(es) they carry, because a translator or relay on the path would deliver to those.
Cloud metadata addresses are refused even when allowed.

Hosts are read as IP literals the way ``inet_aton`` (and so ``getaddrinfo``) reads them — one to
four parts, each decimal, octal (``0177``) or hex (``0x7f``) — so ``http://2130706433/`` or
``http://127.1/`` is recognised as 127.0.0.1 when an endpoint is saved, not waved through as a
host name.

The request then goes to the vetted IP itself (``Host`` header and TLS SNI keep the name), so a
second DNS answer cannot move it elsewhere (no rebinding gap). Messages never name the addresses
a host resolved to: they are shown to the merchant, and would map the internal network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable
from urllib.parse import urlsplit, urlunsplit

from engine.errors import EasyPayError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

#: Always refused: instance metadata services (AWS/GCP/Azure/OpenStack, AWS IPv6, Alibaba).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
MAX_URL_LENGTH = 2048


class UnsafeUrl(EasyPayError, ValueError):
    """The URL itself is not acceptable (scheme, credentials, shape, or a literal blocked IP)."""


class BlockedAddress(EasyPayError):
    """The host resolved only to addresses deliveries may not reach.

    The message is fit for the merchant (no resolved address in it); ``addresses`` is for logs.
    """

    def __init__(self, message: str, addresses: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.addresses = addresses


class UnresolvableHost(EasyPayError):
    """The host name did not resolve."""


@dataclass(frozen=True)
class Target:
    """Where one attempt connects: ``connect_url`` has the vetted IP in place of the host name."""

    connect_url: str
    host_header: str
    sni_hostname: str | None
    ip: str
    #: Globally routable: only then may the response (body, ``Location``) be kept for the
    #: merchant to read. A target reached through ``WEBHOOK_ALLOWED_NETWORKS`` gets its status only.
    public: bool


def parse_networks(cidrs: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


#: NAT64 well-known prefix (RFC 6052): the IPv4 address is the last 32 bits.
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
#: NAT64 local-use prefix (RFC 8215). The operator picks where the IPv4 address sits; only the
#: /96 layout (bits 48-96 zero) is unambiguous, any other use of the prefix is refused outright.
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
TEREDO = ipaddress.ip_network("2001::/32")
#: IPv4-translated (RFC 2765 SIIT) ``::ffff:0:a.b.c.d`` and deprecated IPv4-compatible ``::a.b.c.d``.
IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_LOW_32 = 0xFFFFFFFF
#: Stands in for an address that cannot be vetted (the local-use NAT64 prefix in another layout).
_UNVETTABLE = ipaddress.IPv4Address("0.0.0.0")


def embedded_ipv4(ip: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 address(es) an IPv6 transition address leads to; empty for any other address."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return ()
    if ip.ipv4_mapped is not None:
        return (ip.ipv4_mapped,)
    if ip.teredo is not None:
        server, client = ip.teredo  # the client address is stored obfuscated; ``teredo`` undoes it
        return (server, client)
    if ip.sixtofour is not None:
        return (ip.sixtofour,)
    value = int(ip)
    low = ipaddress.IPv4Address(value & _LOW_32)
    if ip in NAT64_LOCAL_USE:
        return (low,) if (value >> 32) & 0xFFFF_FFFF_FFFF == 0 else (_UNVETTABLE,)
    if ip in NAT64_WELL_KNOWN or ip in IPV4_TRANSLATED or ip in IPV4_COMPATIBLE:
        return (low,)
    return ()


def _normalise(ip: IPAddress) -> IPAddress:
    """IPv4-mapped addresses are connected to as the IPv4 address (the socket would do so anyway)."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _allowed(ip: IPAddress, allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in allowed)


def is_blocked(ip: IPAddress, allowed: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    """Whether deliveries may not reach ``ip``.

    A transition address is judged by every IPv4 address it carries (its own prefix being
    "global" says nothing about where a translator sends the packets), unless the IPv6 address
    itself is inside an allowed network. Metadata addresses are refused in any form.
    """
    ip = _normalise(ip)
    embedded = embedded_ipv4(ip)
    if ip in METADATA_ADDRESSES or any(v4 in METADATA_ADDRESSES for v4 in embedded):
        return True
    if _allowed(ip, allowed):
        return False
    if embedded:
        return any(is_blocked(v4, allowed) for v4 in embedded)
    return ip.is_multicast or not ip.is_global


def is_public(ip: IPAddress) -> bool:
    """Globally routable: what deliveries may reach with no ``WEBHOOK_ALLOWED_NETWORKS`` at all."""
    return not is_blocked(ip, ())


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
    literal_ip(url)  # a host that looks numeric must be a valid IPv4 address


_NUMBER = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)


def _inet_aton_part(part: str) -> int | None:
    if not _NUMBER.fullmatch(part):
        return None
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part[0] == "0":
        return int(part, 8) if all(c in "01234567" for c in part) else None
    return int(part)


def parse_host_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address if it is one, read as ``inet_aton`` reads IPv4.

    ``None`` for a host name. A host whose last label is numeric (as WHATWG URL parsing says,
    such a host can only be an IPv4 address) but is not a valid one raises ``UnsafeUrl``:
    resolvers disagree on such names, so none is accepted.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    if not _NUMBER.fullmatch(labels[-1]):
        return None
    values = [_inet_aton_part(label) for label in labels]
    if len(values) > 4 or any(v is None for v in values):
        raise UnsafeUrl("Must be a valid IPv4 address or a host name.")
    *head, last = [v for v in values if v is not None]
    if any(v > 0xFF for v in head) or last >= 1 << (8 * (4 - len(head))):
        raise UnsafeUrl("Must be a valid IPv4 address or a host name.")
    value = last
    for index, part in enumerate(head):
        value |= part << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def literal_ip(url: str) -> IPAddress | None:
    """The URL's host as an IP address (any ``inet_aton`` form), ``None`` for a host name."""
    return parse_host_ip(urlsplit(url).hostname or "")


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
        what = "is an address" if literal is not None else "resolves only to addresses"
        raise BlockedAddress(
            f"{host} {what} deliveries may not reach (not public, and not in WEBHOOK_ALLOWED_NETWORKS)",
            tuple(map(str, candidates[:3])),
        )
    ip = _normalise(usable[0])
    ip_host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{ip_host}:{parts.port}" if parts.port else ip_host
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return Target(
        connect_url=urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")),
        host_header=host_header,
        sni_hostname=host if parts.scheme == "https" and literal is None else None,
        ip=str(ip),
        public=is_public(ip),
    )
