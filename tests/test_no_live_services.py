import socket

import pytest

from tests.conftest import LiveServiceError


def test_it_refuses_connections_beyond_loopback():
    with pytest.raises(LiveServiceError):
        socket.create_connection(("203.0.113.10", 443), timeout=1)


def test_it_stops_the_twilio_client_before_it_leaves_the_machine(settings):
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC" + "0" * 32, "token"
    settings.TWILIO_API_BASE_URL = "https://203.0.113.10"  # an address off this machine
    from notifications.twilio_client import build_client

    with pytest.raises(LiveServiceError):
        build_client().messages.create(to="+12015550123", from_="+12015550100", body="hi")


def test_it_lets_loopback_through():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        socket.create_connection(server.getsockname(), timeout=1).close()
