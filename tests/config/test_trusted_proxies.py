"""TRUSTED_PROXIES is read at start-up: a value that is not an address or a network stops it."""

from tests.config.test_sending_settings import start_with


def test_a_bad_trusted_proxy_stops_start_up_and_says_which():
    started = start_with(TRUSTED_PROXIES="10.0.0.0/8, the-load-balancer")

    assert started.returncode != 0
    assert "TRUSTED_PROXIES: 'the-load-balancer' is not an address or network" in started.stderr


def test_addresses_and_networks_are_accepted():
    assert start_with(TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.7, 2001:db8::/32").returncode == 0
