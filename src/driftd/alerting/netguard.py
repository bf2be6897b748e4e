"""SSRF guard: outgoing alerting targets must not reach internal addresses.

A webhook or HTTP notification URL comes from configuration, and a target
that resolves to loopback, a private network, a link-local address (cloud
metadata services live at 169.254.169.254 and ``fd00:ec2::254``) or any other
non-global address is refused, both when the settings are validated and right
before every connection, unless ``allow_private`` is set or the host is named
in ``allowed_hosts`` (e.g. ``alertmanager`` in a compose network). Metadata
addresses are refused whatever is allowed. Known limit: the address is checked
just before the request, which resolves the name again (a DNS answer that
changes in between is not caught).

>>> refusal("http://127.0.0.1:9/hook", allow_private=False)
'resolves to 127.0.0.1, a loopback address'
>>> refusal("http://127.0.0.1:9/hook", allow_private=True) is None
True
>>> refusal("http://169.254.169.254/latest", allow_private=True)
'resolves to 169.254.169.254, a cloud metadata address'
>>> refusal("http://localhost:9093", allow_private=False, allowed_hosts=("localhost",)) is None
True
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import urlsplit

from driftd.errors import DeliveryError

__all__ = ["METADATA_ADDRESSES", "check_target", "refusal"]

METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
"""Cloud metadata endpoints: refused even when private targets are allowed."""


def _kind(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if not address.is_global or address.is_multicast:
        return "a reserved address"
    return None


def refusal(
    url: str, *, allow_private: bool, resolve: bool = True, allowed_hosts: Collection[str] = ()
) -> str | None:
    """Why ``url`` must not be contacted, or ``None`` when it may.

    With ``resolve=False`` only literal addresses and ``localhost`` are judged
    (configuration checks must not fail because DNS is down).
    """
    host = (urlsplit(url).hostname or "").rstrip(".")
    if not host:
        return "has no host"
    allow_private = allow_private or host.lower() in allowed_hosts
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        if host.lower() == "localhost" or host.lower().endswith(".localhost"):
            addresses = [ipaddress.ip_address("127.0.0.1")]
        elif not resolve:
            return None
        else:
            try:
                infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
            except OSError:
                return None  # nothing to connect to: the request fails (and is retried)
            addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for found in addresses:
        mapped = found.ipv4_mapped if isinstance(found, ipaddress.IPv6Address) else None
        address = mapped if mapped is not None else found
        kind = _kind(address)
        if kind is None:
            continue
        if allow_private and kind != "a cloud metadata address":
            continue
        return f"resolves to {address}, {kind}"
    return None


def check_target(url: str, *, allow_private: bool, allowed_hosts: Collection[str] = ()) -> None:
    """Raise :class:`DeliveryError` when ``url`` resolves somewhere it must not go."""
    reason = refusal(url, allow_private=allow_private, allowed_hosts=allowed_hosts)
    if reason is not None:
        raise DeliveryError(f"target refused: {urlsplit(url).hostname} {reason}", retry=False)
