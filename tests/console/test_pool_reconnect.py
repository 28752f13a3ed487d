"""The console after its database has ended every connection (a restart, a failover): the next
requests are answered. Before, each connection the pool held idle was handed out dead once, and
its request failed with a 500 (AdminShutdown)."""

from __future__ import annotations

import pytest

from tests.console.conftest import running_app, seeded_database, sign_in
from tests.fix_stack import end_connections
from vigil.settings import Settings
from vigil.stack import LocalStack

pytestmark = pytest.mark.stack


def test_requests_after_the_database_ended_the_pools_connections_are_answered(
    stack: LocalStack, schema_template: str, settings: Settings
) -> None:
    with seeded_database(stack, schema_template) as dsn, running_app(dsn, settings) as app:
        client = sign_in(app, "op")
        for _ in range(3):  # the pool holds more than one connection now
            assert client.get("/api/incidents").status_code == 200
        assert end_connections(stack, dsn) >= 2, "the pool's connections were ended"
        for _ in range(12):  # more than the pool may hold
            assert client.get("/api/incidents").status_code == 200
