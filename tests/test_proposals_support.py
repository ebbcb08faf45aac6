"""Helpers shared by the proposals tests (no tests of its own).

Databases: SQLite always, and PostgreSQL+PostGIS too when ``FLEXPLAN_TEST_POSTGRES_URL`` names
a database (with the postgis extension, or a user allowed to create it). Each PostgreSQL test gets
its own schema, dropped afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import box, mapping
from sqlalchemy import create_engine, make_url, text

from planner.proposals import Store, User, add_user

POSTGRES_ENV = "FLEXPLAN_TEST_POSTGRES_URL"
POSTGRES_URL = os.environ.get(POSTGRES_ENV)
#: Amersfoort, RD New (as in tests/world.py).
X0, Y0 = 155_000.0, 463_000.0
PASSWORD = "correct horse battery"

BACKENDS = [
    "sqlite",
    pytest.param(
        "postgresql",
        marks=pytest.mark.skipif(
            not POSTGRES_URL, reason=f"set {POSTGRES_ENV} to run these on PostgreSQL+PostGIS"
        ),
    ),
]


def _postgres_schema_url(base: str, schema: str) -> str:
    """The base URL with ``search_path`` set to a fresh schema (then public, for PostGIS)."""
    url = make_url(base)
    return url.update_query_dict({"options": f"-csearch_path={schema},public"}).render_as_string(
        hide_password=False
    )


@contextmanager
def empty_database(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database: a SQLite file, or a fresh schema on the PostgreSQL server.

    Test modules wrap this in a ``db_url`` fixture parametrised over `BACKENDS`.
    """
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'flexplan.db'}"
        return
    assert POSTGRES_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(POSTGRES_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 with the smallest cost: the tests check hashing, not its strength."""
    from argon2 import PasswordHasher

    import planner.proposals.store as store_module

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr(store_module, "_hasher", cheap)


def square(cx: float, cy: float, side: float = 100.0) -> shapely.Polygon:
    """A square plot around (cx, cy) in RD metres."""
    return box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


def feature(geom: Any = None, **props: Any) -> dict[str, Any]:
    """A GeoJSON Feature: a 1 ha square (30 homes/ha) at Amersfoort unless told otherwise."""
    geometry = mapping(square(X0, Y0)) if geom is None else geom
    if isinstance(geometry, shapely.Geometry):
        geometry = mapping(geometry)
    properties = {"name": "Kavel", "capacity": 30, **props}
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def make_users(store: Store) -> dict[str, User]:
    """corp_a and corp_a2 (Woonstad), corp_b (Eigen Haard), a planner, an admin, a disabled corp."""
    specs = {
        "corp_a": ("corporation", "Woonstad"),
        "corp_a2": ("corporation", "Woonstad"),
        "corp_b": ("corporation", "Eigen Haard"),
        "planner": ("planner", None),
        "admin": ("admin", None),
        "gone": ("corporation", "Woonstad"),
    }
    with store.session() as session:
        users = {
            name: add_user(session, name, role, PASSWORD, org=org)
            for name, (role, org) in specs.items()
        }
        users["gone"].disabled = True
    return users
