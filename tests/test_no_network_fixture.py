"""The `no_network` fixture that the training tests run under really cuts the network off."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from tests.conftest import NetworkAttempts


def test_connections_and_lookups_are_refused_and_recorded(no_network: NetworkAttempts) -> None:
    with pytest.raises(OSError, match="network disabled"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with pytest.raises(OSError):
        urllib.request.urlopen("https://pypi.org/simple/", timeout=1)
    with socket.socket() as sock, pytest.raises(OSError, match="network disabled"):
        sock.connect(("127.0.0.1", 9))
    assert no_network[0] == "name lookup '192.0.2.1'"
    assert any("pypi.org" in a for a in no_network)
    assert no_network[-1] == "connect ('127.0.0.1', 9)"


def test_local_sockets_still_work(no_network: NetworkAttempts) -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        a.sendall(b"x")
        assert b.recv(1) == b"x"
    assert no_network == []
