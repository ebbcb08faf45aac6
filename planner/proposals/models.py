"""Tables of the proposals store: users, proposals and the audit log.

Geometries are MultiPolygons in EPSG:28992. On PostgreSQL they live in a typed PostGIS column
(``geometry(MULTIPOLYGON,28992)`` through GeoAlchemy2, so the database itself rejects another SRID
or type); on SQLite they are WKB in a BLOB. SpatiaLite is not used: it needs a loadable extension
that not every Python build allows, and every spatial test the store makes (bbox pre-filter in
SQL, exact overlap in Shapely) works the same on both databases. The bounding box of each plot is
kept in indexed columns for that pre-filter.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import shapely
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

#: Every geometry in the store is in this CRS (RD New, metres).
SRID = 28992
ROLES = ("corporation", "planner", "admin")
STATUSES = ("proposed", "accepted", "rejected")


def utcnow() -> dt.datetime:
    """Aware UTC now: one clock for every timestamp in the store."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on every database (SQLite keeps no zone, so it is restored on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use an aware UTC datetime")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class RDMultiPolygon(TypeDecorator[shapely.MultiPolygon]):
    """A Shapely MultiPolygon in EPSG:28992: PostGIS geometry on PostgreSQL, WKB elsewhere."""

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect | None) -> TypeEngine[Any]:
        # GeoAlchemy2's DDL hooks call this with dialect None while inspecting tables.
        if dialect is not None and dialect.name == "postgresql":
            from geoalchemy2 import Geometry

            return dialect.type_descriptor(Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False))
        return LargeBinary() if dialect is None else dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, shapely.MultiPolygon):
            raise TypeError(f"the store holds MultiPolygons, not {type(value).__name__}")
        if dialect.name == "postgresql":
            from geoalchemy2 import WKBElement

            return WKBElement(shapely.to_wkb(value), srid=SRID)
        return shapely.to_wkb(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> shapely.MultiPolygon | None:
        if value is None:
            return None
        data = getattr(value, "data", value)  # a GeoAlchemy2 WKBElement on PostGIS
        if isinstance(data, memoryview):
            data = bytes(data)
        return shapely.from_wkb(data)


class Base(DeclarativeBase):
    """Declarative base of the store's tables (the schema itself comes from the migrations)."""


class User(Base):
    """A person who signs in: a corporation member (with an organisation), planner or admin."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('corporation', 'planner', 'admin')", name="ck_users_role"),
        CheckConstraint(
            "(role = 'corporation') = (org IS NOT NULL)", name="ck_users_org_iff_corporation"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    org: Mapped[str | None] = mapped_column(String(200), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"User({self.name!r}, role={self.role!r}, org={self.org!r})"


class Proposal(Base):
    """A candidate plot proposed by a corporation, with its review."""

    __tablename__ = "proposals"
    __table_args__ = (
        CheckConstraint(
            "status IN ('proposed', 'accepted', 'rejected')", name="ck_proposals_status"
        ),
        CheckConstraint("capacity > 0", name="ck_proposals_capacity"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org: Mapped[str] = mapped_column(String(200), index=True)
    proposer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int] = mapped_column(Integer)
    available_from: Mapped[int | None] = mapped_column(Integer)
    available_until: Mapped[int | None] = mapped_column(Integer)
    fixed_cost: Mapped[float | None] = mapped_column(Float)
    cost_per_home: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="proposed", index=True)
    review_reason: Mapped[str | None] = mapped_column(Text)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    geom: Mapped[shapely.MultiPolygon] = mapped_column(RDMultiPolygon)
    repaired: Mapped[bool] = mapped_column(Boolean, default=False)
    area_m2: Mapped[float] = mapped_column(Float)
    minx: Mapped[float] = mapped_column(Float, index=True)
    miny: Mapped[float] = mapped_column(Float)
    maxx: Mapped[float] = mapped_column(Float)
    maxy: Mapped[float] = mapped_column(Float)
    #: Optimistic lock: an edit based on a stale read fails instead of overwriting a review.
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    def set_geometry(self, geom: shapely.MultiPolygon) -> None:
        """Set the geometry and the derived area and bounding box together."""
        self.geom = geom
        self.area_m2 = float(geom.area)
        self.minx, self.miny, self.maxx, self.maxy = (float(v) for v in geom.bounds)

    @property
    def plot_id(self) -> str:
        """The id of this proposal as a plot in scenario layers."""
        return f"PROP-{self.id}"

    def __repr__(self) -> str:
        return f"Proposal({self.id}, {self.name!r}, org={self.org!r}, status={self.status!r})"


class AuditEntry(Base):
    """One change: who, when, what (field -> [old, new]); written in the change's transaction."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def __repr__(self) -> str:
        return f"AuditEntry({self.action} {self.entity} {self.entity_id} by {self.actor})"
