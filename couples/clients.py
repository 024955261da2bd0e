"""Who is signing in from where: the device cookie and the client's address.

Sign-in throttling is keyed on the *device*: a random id in an HttpOnly cookie that Tend
sets on the first page a browser loads (tend/device_cookie.py). A client that keeps no
cookie falls back to its network address, which is read from X-Forwarded-For only when
the connection comes from a proxy the operator named in ``TEND_TRUSTED_PROXIES``:
anyone can send that header, so from anyone else it is ignored.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import secrets
from collections.abc import Sequence

DEVICE_COOKIE = "tend_device"
# Browsers keep a cookie at most about 400 days; ask for that.
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 3600
# Keys of the two kinds never collide, and only device keys can become known devices.
DEVICE_PREFIX = "d:"
ADDRESS_PREFIX = "a:"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def new_device_id() -> str:
    return secrets.token_urlsafe(32)


def device_key(device_id: str | None, address: str) -> str:
    """The throttling key: a hash of the device cookie (the cookie itself is a secret a
    known device holds, so it is never stored), or the address when there is none."""
    if device_id:
        digest = hashlib.sha256(device_id.encode("utf-8", "replace")).digest()
        return DEVICE_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return (ADDRESS_PREFIX + address)[:64]


def is_device_key(key: str) -> bool:
    return key.startswith(DEVICE_PREFIX)


def _ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is the same client.
    mapped = getattr(address, "ipv4_mapped", None)
    return mapped or address


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The client's address. ``peer`` is the address of the connection (None means
    loopback, as Streamlit reports it). Only when the peer is a trusted proxy is
    X-Forwarded-For read, from the right (each proxy appends the address it saw), up to
    the first address that is not itself a trusted proxy."""
    current = _ip(peer) if peer else ipaddress.ip_address("127.0.0.1")
    if current is None:
        return "unknown"

    def is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address.version == n.version and address in n for n in trusted)

    if not is_trusted(current) or not forwarded_for:
        return str(current)
    for hop in reversed(forwarded_for.split(",")):
        address = _ip(hop)
        if address is None:
            # Garbage before the first untrusted hop: the last proxy is all we know.
            return str(current)
        current = address
        if not is_trusted(current):
            return str(current)
    return str(current)
