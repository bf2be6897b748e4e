"""The SSRF guard: which addresses are refused, and when an exemption applies."""

from __future__ import annotations

import socket

import pytest

from driftd.alerting.netguard import check_target, refusal
from driftd.errors import DeliveryError


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1/", "loopback"),
        ("http://127.8.9.10:8080/x", "loopback"),
        ("http://[::1]:9093/", "loopback"),
        ("http://localhost:9093/", "loopback"),
        ("http://api.localhost/", "loopback"),
        ("http://10.0.0.1/", "private"),
        ("http://172.16.5.4/", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://[fd12::1]/", "private"),
        ("http://169.254.10.10/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://169.254.169.254/latest/meta-data", "metadata"),
        ("http://[fd00:ec2::254]/", "metadata"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://0.0.0.0/", "address"),
        ("http://100.64.0.1/", "reserved"),
    ],
)
def test_internal_addresses_are_refused(url: str, kind: str) -> None:
    reason = refusal(url, allow_private=False)
    assert reason is not None and kind in reason
    with pytest.raises(DeliveryError) as caught:
        check_target(url, allow_private=False)
    assert caught.value.retry is False


@pytest.mark.parametrize("url", ["https://93.184.215.14/hook", "http://[2606:4700::1111]/"])
def test_public_addresses_pass(url: str) -> None:
    assert refusal(url, allow_private=False) is None


def test_exemptions_never_cover_metadata() -> None:
    assert refusal("http://10.0.0.1/", allow_private=True) is None
    assert refusal("http://am:9093/", allow_private=False, allowed_hosts={"am"}) is None
    meta = "http://169.254.169.254/"
    assert refusal(meta, allow_private=True, allowed_hosts={"169.254.169.254"}) is not None


def test_names_are_resolved_at_connect_time_only() -> None:
    # at configuration, a name is not resolved (DNS may be down); at connect time it is
    name = socket.gethostname()  # this machine: a loopback or private address
    try:
        socket.getaddrinfo(name, None)
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve")
    assert refusal(f"http://{name}:9/", allow_private=False, resolve=False) is None
    reason = refusal(f"http://{name}:9/", allow_private=False)
    assert reason is not None and ("loopback" in reason or "private" in reason)
    # a name that does not resolve is no SSRF risk: the request fails and is retried
    assert refusal("http://driftd-test.invalid/", allow_private=False) is None
    assert refusal("no-host-here", allow_private=True) == "has no host"
