"""Users, proposals (plots in EPSG:28992) and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _geometry_type(dialect: str) -> sa.types.TypeEngine:
    """PostGIS typed geometry (rejects other SRIDs and types); WKB in a BLOB elsewhere."""
    if dialect == "postgresql":
        from geoalchemy2 import Geometry

        return Geometry("MULTIPOLYGON", srid=28992, spatial_index=False)
    return sa.LargeBinary()


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    stamp = sa.DateTime(timezone=True)
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("org", sa.String(200), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=True, unique=True),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", stamp, nullable=False),
        sa.CheckConstraint("role IN ('corporation', 'planner', 'admin')", name="ck_users_role"),
        sa.CheckConstraint(
            "(role = 'corporation') = (org IS NOT NULL)", name="ck_users_org_iff_corporation"
        ),
    )
    op.create_index("ix_users_org", "users", ["org"])
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("org", sa.String(200), nullable=False),
        sa.Column("proposer_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("available_from", sa.Integer, nullable=True),
        sa.Column("available_until", sa.Integer, nullable=True),
        sa.Column("fixed_cost", sa.Float, nullable=True),
        sa.Column("cost_per_home", sa.Float, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="proposed"),
        sa.Column("review_reason", sa.Text, nullable=True),
        sa.Column("reviewer_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("reviewed_at", stamp, nullable=True),
        sa.Column("created_at", stamp, nullable=False),
        sa.Column("updated_at", stamp, nullable=False),
        sa.Column("geom", _geometry_type(dialect), nullable=False),
        sa.Column("repaired", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("area_m2", sa.Float, nullable=False),
        sa.Column("minx", sa.Float, nullable=False),
        sa.Column("miny", sa.Float, nullable=False),
        sa.Column("maxx", sa.Float, nullable=False),
        sa.Column("maxy", sa.Float, nullable=False),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.CheckConstraint(
            "status IN ('proposed', 'accepted', 'rejected')", name="ck_proposals_status"
        ),
        sa.CheckConstraint("capacity > 0", name="ck_proposals_capacity"),
    )
    op.create_index("ix_proposals_org", "proposals", ["org"])
    op.create_index("ix_proposals_status", "proposals", ["status"])
    op.create_index("ix_proposals_minx", "proposals", ["minx"])
    if dialect == "postgresql":
        op.create_index("ix_proposals_geom", "proposals", ["geom"], postgresql_using="gist")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", stamp, nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.Integer, nullable=True),
        sa.Column("changes", sa.JSON, nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("proposals")
    op.drop_table("users")
