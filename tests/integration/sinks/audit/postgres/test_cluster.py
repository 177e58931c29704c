"""The real PostgreSQL is real: a psycopg round trip against the cluster ops/postgres started."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[5]


def test_postgres_round_trip_and_bound_to_loopback(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("create temporary table rt (id text primary key, body jsonb)")
        conn.execute("insert into rt values (%s, %s::jsonb), (%s, %s::jsonb)",
                     ("a", '{"n": 1}', "b", '{"n": 4913577855806636138}'))
        conn.execute("insert into rt values (%s, %s::jsonb) on conflict (id) do nothing", ("a", '{"n": 9}'))
        rows = conn.execute("select id, body->>'n' from rt order by id").fetchall()
        listen = conn.execute("show listen_addresses").fetchone()
    assert rows == [("a", "1"), ("b", "4913577855806636138")]
    assert listen == ("127.0.0.1",)
    status = subprocess.run([str(ROOT / "ops/postgres/postgres.sh"), "status"], capture_output=True, text=True)
    assert status.returncode == 0 and "***" in status.stdout and ":exmail@" not in status.stdout
