"""Security settings are read at start-up: a value that cannot be right stops it, saying which."""

from tests.config.test_sending_settings import start_with


def test_a_bad_trusted_proxy_stops_start_up_and_says_which():
    started = start_with(TRUSTED_PROXIES="10.0.0.0/8, the-load-balancer")

    assert started.returncode != 0
    assert "TRUSTED_PROXIES: 'the-load-balancer' is not an address or network" in started.stderr


def test_addresses_and_networks_are_accepted():
    assert start_with(TRUSTED_PROXIES="10.0.0.0/8, 192.0.2.7, 2001:db8::/32").returncode == 0


def test_an_unknown_two_factor_role_stops_start_up():
    started = start_with(TWO_FACTOR_REQUIRED="admin,nurses")

    assert started.returncode != 0
    assert "TWO_FACTOR_REQUIRED: ['nurses'] are not among" in started.stderr
