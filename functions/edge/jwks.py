"""The signing keys of SUPABASE_JWKS_URL: fetched by one request at a time, kept for
`LIFESPAN`, and fetched again at most once per `COOLDOWN`, whether the last fetch worked
or not. PyJWT's client fetches under a lock that every request waits on in turn (with a
slow endpoint, the fifth request waited 25 s), and after a failed fetch every unknown
`kid` fetches again."""

from __future__ import annotations

import logging
import threading
import time
from functools import cache
from typing import TYPE_CHECKING

from functions.shared.errors import ApiError, Unauthorized, Unavailable

if TYPE_CHECKING:
    import jwt

LIFESPAN = 600.0  # keys this old are fetched again (Supabase caches its JWKS for 10 minutes)
COOLDOWN = 10.0  # no fetch sooner than this after the last one, successful or not
WAIT = 2.0  # how long a request waits for the fetch another request is making
TIMEOUT = 5.0  # one fetch's connection and each of its reads
# While the endpoint fails, keys past their LIFESPAN still verify tokens for this long
# after they were fetched: a JWKS outage does not sign every user out, and a key removed
# from the JWKS in the meantime is not trusted forever.
KEPT = 3600.0
log = logging.getLogger("takeover.identity")


class SigningKeys:
    def __init__(self, url: str) -> None:
        self._url = url
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -float("inf")  # the last fetch that worked (monotonic)
        self._attempted_at = -float("inf")  # the last fetch, whatever its outcome
        self._failed = False  # whether that last fetch failed
        self._in_flight: threading.Event | None = None  # set when the fetch under way ends
        self._lock = threading.Lock()

    def key(self, kid: str) -> jwt.PyJWK:
        """The key `kid` names: 401 when the JWKS (as last fetched) does not have it, 503
        when it cannot be known now (the JWKS fails, or another request's fetch is slow)."""
        deadline = time.monotonic() + WAIT
        may_fetch = True  # once per call: what a fetch brings is then what there is
        while True:
            fetch: threading.Event | None = None  # this call's own fetch, when it makes one
            with self._lock:
                now = time.monotonic()
                age = now - self._fetched_at
                key = self._keys.get(kid) if age < KEPT else None
                if key is not None and age < LIFESPAN:
                    return key
                in_flight = self._in_flight
                if may_fetch and in_flight is None and now - self._attempted_at >= COOLDOWN:
                    fetch = self._in_flight = threading.Event()
                    self._attempted_at = now
            if fetch is not None:
                self._fetch(fetch)  # then look again
                may_fetch = False
            elif key is not None:
                return key  # past its lifespan, while another fetch is made or cools down
            elif in_flight is None:
                raise self._unknown()  # no fetch to wait for, none to make (cooling down)
            elif not in_flight.wait(max(0.0, deadline - time.monotonic())):
                raise _unavailable()

    def _unknown(self) -> ApiError:
        if self._failed:
            return _unavailable()  # the kid may be in the JWKS we could not read
        return Unauthorized("invalid_token", "The token's signing key is unknown.")

    def _fetch(self, done: threading.Event) -> None:
        import jwt

        try:
            # PyJWT's client without its cache, for the request itself: http(s) only, no
            # redirects, the timeout on every read.
            document = jwt.PyJWKClient(self._url, cache_jwk_set=False, timeout=TIMEOUT).fetch_data()
            keys = {
                key.key_id: key
                for key in jwt.PyJWKSet.from_dict(document).keys
                if key.key_id and key.public_key_use in ("sig", None)
            }
            if not keys:
                raise ValueError("the JWKS has no signing key with a kid")
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, ValueError) as error:
            log.warning("jwks_unavailable: fetching %s failed: %s", self._url, error)
            with self._lock:
                self._failed = True
        else:
            with self._lock:
                self._keys, self._fetched_at, self._failed = keys, time.monotonic(), False
        finally:
            with self._lock:
                self._in_flight = None
            done.set()


def _unavailable() -> Unavailable:
    # Our outage, not a bad token: an inbox must not sign its users out over it.
    return Unavailable("jwks_unavailable", "The signing keys cannot be fetched; retry shortly.")


@cache
def signing_keys(url: str) -> SigningKeys:
    return SigningKeys(url)
