"""Fixtures of the serving tests: a test client that reaches the app by a loopback name (the
app answers only to the names it serves under: 'testserver', the client's default, is not one)."""

from __future__ import annotations

import pytest


def local_client(app, **kwargs):
    from fastapi.testclient import TestClient

    return TestClient(app, base_url="http://localhost", **kwargs)


@pytest.fixture(scope="session")
def client_of():
    """``client_of(app, **TestClient options)``: a TestClient sending ``Host: localhost``."""
    return local_client
