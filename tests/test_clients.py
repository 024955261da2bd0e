"""The device key and the client's address that sign-in throttling uses (pure rules)."""

from __future__ import annotations

import ipaddress

import pytest

from couples import clients
from infra.settings import ConfigError, load_settings

LOOPBACK = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128"))
PROXY_NET = (ipaddress.ip_network("10.0.0.0/8"),)


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "expected"),
    [
        # Nobody named: the header is anyone's to write, so it is ignored.
        ("198.51.100.4", "203.0.113.9", (), "198.51.100.4"),
        (None, "203.0.113.9", (), "127.0.0.1"),
        # A peer that is not a named proxy: ignored too.
        ("198.51.100.4", "203.0.113.9", LOOPBACK, "198.51.100.4"),
        # A proxy on the same machine (Streamlit reports loopback as None).
        (None, "203.0.113.9", LOOPBACK, "203.0.113.9"),
        ("::1", "2001:db8::7", LOOPBACK, "2001:db8::7"),
        # The client wrote its own header; the proxy appended what it saw: the rightmost
        # address that is not a trusted proxy is the client.
        (None, "1.2.3.4, 203.0.113.9", LOOPBACK, "203.0.113.9"),
        ("10.1.2.3", "1.2.3.4, 203.0.113.9, 10.9.9.9", PROXY_NET, "203.0.113.9"),
        # Ports and an IPv4 client seen through an IPv6 socket.
        (None, "203.0.113.9:4711", LOOPBACK, "203.0.113.9"),
        (None, "[2001:db8::7]:4711", LOOPBACK, "2001:db8::7"),
        ("::ffff:198.51.100.4", None, (), "198.51.100.4"),
        # Garbage: the last trusted hop is all that is known.
        (None, "not an address", LOOPBACK, "127.0.0.1"),
        ("10.1.2.3", "<script>, 10.9.9.9", PROXY_NET, "10.9.9.9"),
        # A trusted proxy with no header is the client itself.
        (None, None, LOOPBACK, "127.0.0.1"),
    ],
)
def test_x_forwarded_for_counts_only_from_named_proxies(
    peer: str | None, forwarded: str | None, trusted, expected: str
) -> None:  # type: ignore[no-untyped-def]
    assert clients.client_address(peer, forwarded, trusted) == expected


def test_device_keys_hash_the_cookie_and_never_collide_with_addresses() -> None:
    key = clients.device_key("secret-device-id", "ignored")
    assert key.startswith(clients.DEVICE_PREFIX) and "secret-device-id" not in key
    assert len(key) <= 64 and clients.is_device_key(key)
    assert clients.device_key("secret-device-id", "x") == key != clients.device_key("other", "")
    by_address = clients.device_key(None, "203.0.113.9")
    assert by_address == "a:203.0.113.9" and not clients.is_device_key(by_address)
    assert len(clients.new_device_id()) >= 43


def test_trusted_proxies_setting(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TEND_TRUSTED_PROXIES", raising=False)
    assert load_settings().trusted_proxy_networks == ()
    monkeypatch.setenv("TEND_TRUSTED_PROXIES", " 127.0.0.1, ::1 ,10.0.0.0/8")
    settings = load_settings()
    assert settings.trusted_proxies == "127.0.0.1/32,::1/128,10.0.0.0/8"
    assert settings.trusted_proxy_networks == (*LOOPBACK, *PROXY_NET)
    monkeypatch.setenv("TEND_TRUSTED_PROXIES", "localhost")
    with pytest.raises(ConfigError, match="TEND_TRUSTED_PROXIES"):
        load_settings()
