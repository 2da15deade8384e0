"""Which URLs we send webhooks to: the URL's form, and the addresses its host resolves to.

One rule for addresses: only global unicast ones, unless WEBHOOKS_ALLOW_PRIVATE_URLS. An
IPv6 address that reaches an IPv4 one (mapped, translated, compatible, NAT64, 6to4) is judged
by that IPv4 address. A host is resolved once per connection and the connection made to the
addresses that were checked (transport.py), so a DNS answer that changes in between
(rebinding) is never reached.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from urllib.parse import urlsplit

from functions.shared.config import config
from functions.shared.errors import Unprocessable

MAX_URL_LENGTH = 2048
# Saving an endpoint resolves its host at most this long.
_SAVE_RESOLVE_SECONDS = 2.0
# IANA's global unicast space; the special-purpose blocks inside it are not is_global.
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765's IPv4-translated


class AddressNotAllowed(Exception):
    """The URL's host is, or resolves to, an address that is not global unicast."""


class ResolutionTimeout(OSError):
    """The host's name was not resolved in time."""


def _ipv4_reached(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that a connection to `ip` reaches instead of an IPv6 one: mapped
    (::ffff:a.b.c.d), translated (::ffff:0:a.b.c.d), compatible (::a.b.c.d; :: and ::1
    too) or NAT64 (64:ff9b::a.b.c.d)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if int(ip) >> 32 == 0 or ip in _TRANSLATED or ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_global_unicast(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable and not multicast: no loopback, private, link-local, site-local,
    shared (CGNAT), documentation, reserved, unspecified or broadcast address."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip.is_global and not ip.is_multicast
    reached = _ipv4_reached(ip)
    if reached is not None:
        return is_global_unicast(reached)
    # 6to4 also reaches the IPv4 address it carries (a Teredo one is not is_global).
    if ip.sixtofour is not None and not is_global_unicast(ip.sixtofour):
        return False
    return ip in _GLOBAL_UNICAST and ip.is_global


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _local_name(host: str) -> bool:
    return host.lower() == "localhost" or host.lower().endswith(".localhost")


def resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses of `host`, in the resolver's order, within `timeout` seconds (the
    system resolver itself has no deadline). Unresolvable: socket.gaierror."""
    literal = _literal(host)
    if literal is not None:
        return [str(literal)]
    # A thread of its own per lookup, not a shared pool: one tenant's hung names would take
    # every worker of a pool, and everyone's lookups would queue behind them. A lookup given
    # up on runs on, as a daemon thread, until the system resolver's own timeout
    # (resolv.conf's, seconds).
    answer: list[list[str] | OSError | UnicodeError] = []

    def look_up() -> None:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            answer.append(list(dict.fromkeys(str(info[4][0]) for info in infos)))
        except (OSError, UnicodeError) as error:
            answer.append(error)

    lookup = threading.Thread(target=look_up, name="webhook-dns", daemon=True)
    lookup.start()
    lookup.join(timeout)
    if not answer:
        raise ResolutionTimeout(host)
    if isinstance(answer[0], BaseException):
        raise answer[0]
    return answer[0]


def refused_by_its_form(host: str) -> bool:
    """What is refused without a lookup: `localhost` and its subdomains, and an address
    literal that is not global unicast."""
    literal = _literal(host)
    return _local_name(host) or (literal is not None and not is_global_unicast(literal))


def allowed_addresses(host: str, port: int, timeout: float | None) -> list[str]:
    """`host`'s addresses, or AddressNotAllowed unless every one is global unicast. An
    unresolvable host raises socket.gaierror (ResolutionTimeout when it takes too long)."""
    if _local_name(host):
        raise AddressNotAllowed(host)
    addresses = resolve(host, port, timeout)
    # A literal is judged here like a resolved address; a zone (fe80::1%eth0) names an
    # interface, and ip_address keeps it apart from the address that decides.
    if not all(is_global_unicast(ipaddress.ip_address(a)) for a in addresses):
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
        raise refuse(
            "must start with https:// or http://" if allow_private else "must start with https://"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise refuse("must not carry credentials")
    host = parts.hostname
    if not host or any(c.isspace() for c in url):
        raise refuse("has no valid host")
    if not allow_private:
        try:
            allowed_addresses(host, port or 443, _SAVE_RESOLVE_SECONDS)
        except AddressNotAllowed as error:
            raise refuse("points at an address that is not public (global unicast)") from error
        except (OSError, UnicodeError):
            pass  # not resolvable now; checked again at every connection
    return url
