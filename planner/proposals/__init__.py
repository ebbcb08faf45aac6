"""Plots proposed by housing corporations, reviewed by planners, stored in a database.

The web layer and the CLI use this package only through the names below: open a `Store`, run
one `with store.session() as session:` per request, and call the store functions inside it.
Storage (SQLite by default, PostgreSQL/PostGIS by URL), schema migrations and the "nothing lost"
settings are described in `planner.proposals.db`; roles and rules in `planner.proposals.store`;
the checks on proposed plots in `planner.proposals.validation`; proposals as a scenario layer
(``plots: "db:accepted"``) in `planner.proposals.layers`.
"""

from __future__ import annotations

from planner.proposals.db import (
    DATA_DIR_ENV,
    DATABASE_URL_ENV,
    Store,
    data_dir,
    database_url,
    open_store,
)
from planner.proposals.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    StoreError,
)
from planner.proposals.models import ROLES, STATUSES, AuditEntry, Proposal, User
from planner.proposals.store import (
    CreateResult,
    add_user,
    audit_trail,
    authenticate_password,
    authenticate_token,
    create_proposals,
    disable_user,
    enable_user,
    get_proposal,
    get_user,
    issue_token,
    list_proposals,
    list_users,
    proposal_feature,
    review_flags,
    set_password,
    update_proposal,
    user_audit_trail,
    validate_features,
)
from planner.proposals.validation import FIELDS, FeatureReport

__all__ = [
    "DATABASE_URL_ENV",
    "DATA_DIR_ENV",
    "FIELDS",
    "ROLES",
    "STATUSES",
    "AuditEntry",
    "Conflict",
    "CreateResult",
    "FeatureReport",
    "InvalidInput",
    "NotFound",
    "PermissionDenied",
    "Proposal",
    "Store",
    "StoreError",
    "User",
    "add_user",
    "audit_trail",
    "authenticate_password",
    "authenticate_token",
    "create_proposals",
    "data_dir",
    "database_url",
    "disable_user",
    "enable_user",
    "get_proposal",
    "get_user",
    "issue_token",
    "list_proposals",
    "list_users",
    "open_store",
    "proposal_feature",
    "review_flags",
    "set_password",
    "update_proposal",
    "user_audit_trail",
    "validate_features",
]
