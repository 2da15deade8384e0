"""Which URLs we send webhooks to: the URL's form, and the addresses its host resolves to.

A host is resolved once per connection and the connection made to the addresses that were
checked (transport.py), so a DNS answer that changes in between (rebinding) is never
reached.
"""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from urllib.parse import urlsplit

from functions.shared.config import config
from functions.shared.errors import Unprocessable

MAX_URL_LENGTH = 2048
# Saving an endpoint resolves its host at most this long.
_SAVE_RESOLVE_SECONDS = 2.0
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


class AddressNotAllowed(Exception):
    """The URL's host is, or resolves to, a loopback, private or link-local address."""


class ResolutionTimeout(OSError):
    """The host's name was not resolved in time."""


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address reaches through: mapped (::ffff:a.b.c.d),
    compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d), 6to4 (2002:ab:cd::) and Teredo."""
    embedded = []
    if ip.ipv4_mapped is not None:
        embedded.append(ip.ipv4_mapped)
    if int(ip) >> 32 == 0 or ip in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        embedded.append(ip.sixtofour)
    if ip.teredo is not None:
        embedded.extend(ip.teredo)
    return embedded


def _forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if ip.ipv4_mapped is not None or int(ip) >> 32 == 0:
            # Only the IPv4 address is reached (:: and ::1 unwrap to 0.0.0.0 and 0.0.0.1).
            return any(not v4.is_global for v4 in embedded)
        if ip in _NAT64_LOCAL or any(not v4.is_global for v4 in embedded):
            return True
    # Only globally routable addresses: this refuses loopback, private, link-local, CGNAT,
    # multicast, unspecified and reserved ranges alike.
    return not ip.is_global


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook-dns")


def resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses of `host`, in the resolver's order, within `timeout` seconds (the
    system resolver itself has no deadline). Unresolvable: socket.gaierror."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    lookup = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = lookup.result(timeout=timeout)
    except FutureTimeout as error:
        raise ResolutionTimeout(host) from error
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def allowed_addresses(host: str, port: int, timeout: float | None) -> list[str]:
    """`host`'s addresses, or AddressNotAllowed unless every one of them is public. An
    unresolvable host raises socket.gaierror (ResolutionTimeout when it takes too long)."""
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        raise AddressNotAllowed(host)
    addresses = resolve(host, port, timeout)
    if any(_forbidden(address) for address in addresses):
        raise AddressNotAllowed(host)
    return addresses


def validate_url(url: str) -> str:
    """The URL, if we may send to it; else 422 invalid_url."""
    allow_private = config().webhooks_allow_private_urls

    def refuse(why: str) -> Unprocessable:
        return Unprocessable("invalid_url", f"The url {why}.", {"url": url[:200]})

    if len(url) > MAX_URL_LENGTH:
        raise refuse(f"is over {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise refuse("is not a valid URL") from error
    schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in schemes:
        raise refuse("must start with https://")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise refuse("must not carry credentials")
    host = parts.hostname
    if not host or any(c.isspace() for c in url):
        raise refuse("has no valid host")
    if not allow_private:
        try:
            allowed_addresses(host, port or 443, _SAVE_RESOLVE_SECONDS)
        except AddressNotAllowed as error:
            raise refuse("points at a loopback, private or link-local address") from error
        except (OSError, UnicodeError):
            pass  # not resolvable now; checked again at every connection
    return url
