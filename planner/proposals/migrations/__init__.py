"""Alembic migrations of the proposals store (run by `planner.proposals.db.upgrade_schema`)."""
