"""What the CLI and the web layer call: users, proposals, reviews, all audited.

Every function works inside the caller's session and never commits: one request is one
transaction (``with store.session() as s: ...``), and the audit row of a change is written in
that same transaction, so a change and its audit entry are stored together or not at all.

Who may do what (enforced here, on the server, for every call):

- corporation: sees its own organisation's proposals; proposes plots; edits its organisation's
  proposals while they are ``proposed``;
- planner: sees every proposal; reviews: sets the status to ``accepted`` or ``rejected`` (a
  reason is required to reject) or back to ``proposed``;
- admin: sees every proposal; manages users (the ``flexplan users`` commands, or the app's
  admin pages, which pass the admin as ``actor``: an actor must be an active admin, and an admin
  may not disable themselves); neither proposes nor reviews.

A disabled user may do nothing. Objects a user may not see are reported as `NotFound`, never as
forbidden, so the web layer's 404 does not reveal that they exist.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import shapely
from sqlalchemy import false, select, text, true
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from planner.proposals.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from planner.proposals.models import (
    ROLES,
    STATUSES,
    AuditEntry,
    Proposal,
    User,
    utcnow,
)
from planner.proposals.validation import (
    FIELDS,
    MAX_FEATURES,
    TARGET_CRS,
    FeatureReport,
    Problem,
    check_features,
    planner_flags,
)

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "fp_"

_hasher: Any = None


def _password_hasher() -> Any:
    global _hasher  # one hasher, built on first use
    if _hasher is None:
        from argon2 import PasswordHasher

        _hasher = PasswordHasher()
    return _hasher


# --- audit -------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, shapely.Geometry):
        return shapely.to_wkt(value, rounding_precision=3)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def audit(
    session: Session,
    user: User | None,
    action: str,
    entity: str,
    entity_id: int | None,
    changes: Mapping[str, Any],
    *,
    actor: str | None = None,
) -> AuditEntry:
    """Record one change (``changes``: field -> [old, new]) in the caller's transaction."""
    entry = AuditEntry(
        at=utcnow(),
        user_id=user.id if user is not None else None,
        actor=actor or (user.name if user is not None else "system"),
        action=action,
        entity=entity,
        entity_id=entity_id,
        changes={k: [_jsonable(v) for v in pair] for k, pair in changes.items()},
    )
    session.add(entry)
    return entry


def audit_trail(session: Session, user: User, proposal_id: int) -> list[AuditEntry]:
    """The audit entries of a proposal the user may see, oldest first."""
    if get_proposal(session, proposal_id, user) is None:
        raise NotFound(f"proposal {proposal_id} not found")
    query = (
        select(AuditEntry)
        .where(AuditEntry.entity == "proposal", AuditEntry.entity_id == proposal_id)
        .order_by(AuditEntry.id)
    )
    return list(session.scalars(query))


# --- users -------------------------------------------------------------------------------------


def hash_token(token: str) -> str:
    """SHA-256 hex of an API token: tokens are random, so a fast hash is enough to store them."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def get_user(session: Session, name: str) -> User | None:
    """The user called ``name``, or None."""
    return session.scalars(select(User).where(User.name == name)).one_or_none()


def _require_user(session: Session, name: str) -> User:
    found = get_user(session, name)
    if found is None:
        raise NotFound(f"no user '{name}'; see `flexplan users list`")
    return found


def _require_admin(session: Session, actor: User | None) -> User | None:
    """The acting admin as stored now; None for the CLI (whoever may open the database)."""
    if actor is None:
        return None
    current = _active(session, actor)
    if current.role != "admin":
        raise PermissionDenied("only admins manage users")
    return current


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            [
                {
                    "index": None,
                    "field": "password",
                    "problem": f"must have at least {MIN_PASSWORD_LENGTH} characters",
                }
            ]
        )


def add_user(
    session: Session,
    name: str,
    role: str,
    password: str,
    *,
    org: str | None = None,
    actor: User | None = None,
) -> User:
    """Create a user; a corporation user needs ``org``, the other roles must not have one."""
    actor = _require_admin(session, actor)
    org = org.strip() if org else None
    if not NAME_PATTERN.match(name):
        raise InvalidInput(
            [{"index": None, "field": "name", "problem": "use 1-64 letters, digits, . _ @ -"}]
        )
    if role not in ROLES:
        raise InvalidInput(
            [{"index": None, "field": "role", "problem": f"must be one of {', '.join(ROLES)}"}]
        )
    if role == "corporation" and not org:
        raise InvalidInput(
            [
                {
                    "index": None,
                    "field": "org",
                    "problem": "a corporation user needs an organisation (--org)",
                }
            ]
        )
    if role != "corporation" and org:
        raise InvalidInput(
            [{"index": None, "field": "org", "problem": f"{_a(role)} belongs to no organisation"}]
        )
    _check_password(password)
    if get_user(session, name) is not None:
        raise Conflict(f"user '{name}' already exists")
    user = User(
        name=name,
        role=role,
        org=org,
        password_hash=_password_hasher().hash(password),
        disabled=False,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    changes = {"name": [None, name], "role": [None, role], "org": [None, org]}
    audit(session, actor, "user.add", "user", user.id, changes, actor=_actor_name(actor))
    return user


def _a(role: str) -> str:
    """'a planner', 'an admin'."""
    return f"{'an' if role[:1] in 'aeiou' else 'a'} {role}"


def _actor_name(actor: User | None) -> str:
    return actor.name if actor is not None else "cli"


def issue_token(session: Session, name: str, *, actor: User | None = None) -> str:
    """A new personal API token for ``name`` (replacing any earlier one); only its hash is kept."""
    actor = _require_admin(session, actor)
    user = _require_user(session, name)
    if user.disabled:
        raise PermissionDenied(f"user '{name}' is disabled")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    had = user.token_hash is not None
    user.token_hash = hash_token(token)
    audit(
        session,
        actor,
        "user.token",
        "user",
        user.id,
        {"token": ["set" if had else None, "set"]},
        actor=_actor_name(actor),
    )
    return token


def disable_user(session: Session, name: str, *, actor: User | None = None) -> User:
    """Disable a user: no sign-in, no token, no store call succeeds for them any more.

    An admin may not disable themselves (so an app always keeps the admin who is signed in).
    """
    actor = _require_admin(session, actor)
    user = _require_user(session, name)
    if actor is not None and actor.id == user.id:
        raise Conflict("you cannot disable yourself; ask another admin")
    changes: dict[str, list[Any]] = {}
    if not user.disabled:
        changes["disabled"] = [False, True]
    if user.token_hash is not None:
        changes["token"] = ["set", None]
    user.disabled = True
    user.token_hash = None
    if changes:
        audit(session, actor, "user.disable", "user", user.id, changes, actor=_actor_name(actor))
    return user


def enable_user(session: Session, name: str, *, actor: User | None = None) -> User:
    """Let a disabled user sign in again (with a new token only when one is issued)."""
    actor = _require_admin(session, actor)
    user = _require_user(session, name)
    if user.disabled:
        user.disabled = False
        changes = {"disabled": [True, False]}
        audit(session, actor, "user.enable", "user", user.id, changes, actor=_actor_name(actor))
    return user


def set_password(session: Session, name: str, password: str, *, actor: User | None = None) -> User:
    """Give a user a new password (a reset by an admin); the old one stops working."""
    actor = _require_admin(session, actor)
    user = _require_user(session, name)
    _check_password(password)
    user.password_hash = _password_hasher().hash(password)
    changes = {"password": ["set", "set"]}
    audit(session, actor, "user.password", "user", user.id, changes, actor=_actor_name(actor))
    return user


def user_audit_trail(
    session: Session, name: str | None = None, *, limit: int = 100
) -> list[AuditEntry]:
    """Changes to users (of the user ``name`` when given), newest first, at most ``limit``."""
    query = select(AuditEntry).where(AuditEntry.entity == "user")
    if name is not None:
        query = query.where(AuditEntry.entity_id == _require_user(session, name).id)
    return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))


def list_users(session: Session) -> list[User]:
    """Every user, by name."""
    return list(session.scalars(select(User).order_by(User.name)))


def authenticate_password(session: Session, name: str, password: str) -> User | None:
    """The active user with this name and password, or None (same work when the name is unknown)."""
    from argon2.exceptions import InvalidHashError, VerificationError

    hasher = _password_hasher()
    user = get_user(session, name)
    stored = user.password_hash if user is not None else _dummy_hash()
    try:
        hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hasher.hash(password)
    return user


_DUMMY: dict[str, str] = {}


def _dummy_hash() -> str:
    if "hash" not in _DUMMY:
        _DUMMY["hash"] = _password_hasher().hash(secrets.token_hex(16))
    return _DUMMY["hash"]


def authenticate_token(session: Session, token: str) -> User | None:
    """The active user whose API token this is, or None."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    digest = hash_token(token)
    user = session.scalars(select(User).where(User.token_hash == digest)).one_or_none()
    if user is None or user.disabled or not hmac.compare_digest(user.token_hash or "", digest):
        return None
    return user


def _active(session: Session, user: User) -> User:
    """The user as stored now (a disabled or deleted user may do nothing)."""
    current = session.get(User, user.id)
    if current is None or current.disabled:
        raise PermissionDenied("this user is disabled")
    return current


# --- proposals ---------------------------------------------------------------------------------


@dataclass
class CreateResult:
    """Ids of the stored proposals, in upload order, and the warnings found on the way."""

    ids: list[int]
    warnings: list[Problem] = field(default_factory=list)
    repaired: list[int] = field(default_factory=list)


def _require_corporation(user: User, doing: str) -> str:
    if user.role != "corporation" or not user.org:
        raise PermissionDenied(f"only corporation users may {doing}")
    return user.org


def _lock_org(session: Session, org: str) -> None:
    """Serialise proposers of one organisation on PostgreSQL (SQLite's BEGIN IMMEDIATE does)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:org))"), {"org": org})


def validate_features(
    session: Session,
    user: User,
    features: Sequence[Any],
    *,
    crs: str = TARGET_CRS,
    repair: bool = False,
) -> list[FeatureReport]:
    """A dry run of `create_proposals`: the report per feature, nothing stored."""
    user = _active(session, user)
    org = _require_corporation(user, "propose plots")
    _check_count(features)
    return check_features(session, features, org, crs=crs, repair=repair)


def _check_count(features: Sequence[Any]) -> None:
    if not isinstance(features, Sequence) or isinstance(features, str | bytes):
        raise InvalidInput([{"index": None, "field": "features", "problem": "must be a list"}])
    if not features:
        raise InvalidInput([{"index": None, "field": "features", "problem": "is empty"}])
    if len(features) > MAX_FEATURES:
        raise InvalidInput(
            [
                {
                    "index": None,
                    "field": "features",
                    "problem": f"{len(features)} features; send at most {MAX_FEATURES} at once",
                }
            ]
        )


def create_proposals(
    session: Session,
    user: User,
    features: Sequence[Any],
    *,
    crs: str = TARGET_CRS,
    repair: bool = False,
) -> CreateResult:
    """Store every feature as a proposal of the user's organisation, or none of them.

    ``features`` are GeoJSON Features (geometry in ``crs``; properties from `FIELDS`). When any
    feature has an error, `InvalidInput` lists every ``{index, field, problem}`` and nothing is
    added to the session. ``repair=True`` is the proposer's consent to repair invalid polygons.
    """
    user = _active(session, user)
    org = _require_corporation(user, "propose plots")
    _check_count(features)
    _lock_org(session, org)
    reports = check_features(session, features, org, crs=crs, repair=repair)
    problems = [p for r in reports for p in r.errors]
    if problems:
        raise InvalidInput(problems)
    now = utcnow()
    created = []
    for report in reports:
        assert report.geometry is not None  # no errors, so the geometry is set
        proposal = Proposal(
            org=org,
            proposer_id=user.id,
            status="proposed",
            created_at=now,
            updated_at=now,
            repaired=report.repaired,
            **{name: report.values.get(name) for name in FIELDS},
        )
        proposal.set_geometry(report.geometry)
        session.add(proposal)
        created.append((proposal, report))
    session.flush()
    for proposal, report in created:
        changes = {name: [None, report.values.get(name)] for name in FIELDS}
        changes["geometry"] = [None, proposal.geom]
        changes["status"] = [None, "proposed"]
        if report.repaired:
            changes["repaired"] = [None, True]
        audit(session, user, "proposal.create", "proposal", proposal.id, changes)
    return CreateResult(
        ids=[p.id for p, _ in created],
        warnings=[w for r in reports for w in r.warnings],
        repaired=[p.id for p, r in created if r.repaired],
    )


def _visible(user: User) -> Any:
    """The SQL condition for the proposals a user may see."""
    if user.role in ("planner", "admin"):
        return true()
    if user.role == "corporation" and user.org:
        return Proposal.org == user.org
    return false()


def list_proposals(
    session: Session, user: User, status: str | None = None, *, org: str | None = None
) -> list[Proposal]:
    """The proposals the user may see, oldest first; optionally of one status or organisation."""
    user = _active(session, user)
    if status is not None and status not in STATUSES:
        raise InvalidInput(
            [{"index": None, "field": "status", "problem": f"must be one of {', '.join(STATUSES)}"}]
        )
    query = select(Proposal).where(_visible(user)).order_by(Proposal.id)
    if status is not None:
        query = query.where(Proposal.status == status)
    if org is not None:
        query = query.where(Proposal.org == org)
    return list(session.scalars(query))


def get_proposal(session: Session, proposal_id: int, user: User) -> Proposal | None:
    """The proposal, or None when it does not exist or the user may not see it."""
    user = _active(session, user)
    query = select(Proposal).where(Proposal.id == proposal_id, _visible(user))
    return session.scalars(query).one_or_none()


def review_flags(session: Session, user: User, proposal_id: int) -> list[Problem]:
    """For planners: overlaps of the proposal with other organisations' live proposals."""
    user = _active(session, user)
    if user.role != "planner":
        raise PermissionDenied("only planners see review flags")
    proposal = get_proposal(session, proposal_id, user)
    if proposal is None:
        raise NotFound(f"proposal {proposal_id} not found")
    return planner_flags(session, proposal)


REVIEW_FIELDS = ("status", "review_reason")


def update_proposal(
    session: Session,
    user: User,
    proposal_id: int,
    changes: Mapping[str, Any],
    *,
    crs: str = TARGET_CRS,
    repair: bool = False,
    expected_version: int | None = None,
) -> Proposal:
    """Apply ``changes`` as the user's role allows (see the list at the top of this module).

    A corporation changes `FIELDS` and ``geometry`` of its organisation's proposal while it is
    ``proposed``; a planner changes ``status`` (and ``review_reason``). ``expected_version`` (the
    ``version`` the user's form was based on) turns a lost update into a `Conflict`.
    """
    user = _active(session, user)
    proposal = get_proposal(session, proposal_id, user)
    if proposal is None:
        raise NotFound(f"proposal {proposal_id} not found")
    if expected_version is not None and proposal.version != expected_version:
        raise Conflict(
            f"proposal {proposal_id} was changed by someone else (version {proposal.version}, "
            f"yours {expected_version}); reload it"
        )
    if not isinstance(changes, Mapping) or not changes:
        raise InvalidInput([{"index": None, "field": "changes", "problem": "nothing to change"}])
    if user.role == "planner":
        diff = _review(proposal, user, changes)
        action = "proposal.review"
    elif user.role == "corporation":
        diff = _edit(session, proposal, changes, crs=crs, repair=repair)
        action = "proposal.update"
    else:
        raise PermissionDenied(f"{_a(user.role)} may not change proposals")
    if not diff:
        return proposal
    proposal.updated_at = utcnow()
    try:
        session.flush()
    except StaleDataError:
        raise Conflict(f"proposal {proposal_id} was changed meanwhile; reload it") from None
    audit(session, user, action, "proposal", proposal.id, diff)
    return proposal


def _unknown(changes: Mapping[str, Any], allowed: Sequence[str], role: str) -> None:
    unknown = sorted(str(k) for k in changes if k not in allowed)
    if unknown:
        raise PermissionDenied(f"{_a(role)} may not change {', '.join(unknown)}")


def _review(proposal: Proposal, user: User, changes: Mapping[str, Any]) -> dict[str, list[Any]]:
    _unknown(changes, REVIEW_FIELDS, "planner")
    status = changes.get("status", proposal.status)
    reason = changes.get("review_reason")
    reason = reason.strip() if isinstance(reason, str) and reason.strip() else None
    if status not in STATUSES:
        raise InvalidInput(
            [{"index": None, "field": "status", "problem": f"must be one of {', '.join(STATUSES)}"}]
        )
    if status == "rejected" and reason is None:
        raise InvalidInput(
            [{"index": None, "field": "review_reason", "problem": "give a reason to reject"}]
        )
    if reason is not None and len(reason) > 2000:
        raise InvalidInput(
            [{"index": None, "field": "review_reason", "problem": "is over 2000 characters"}]
        )
    diff: dict[str, list[Any]] = {}
    if status != proposal.status:
        diff["status"] = [proposal.status, status]
    if reason != proposal.review_reason:
        diff["review_reason"] = [proposal.review_reason, reason]
    if diff:
        proposal.status = status
        proposal.review_reason = reason
        proposal.reviewer_id = user.id
        proposal.reviewed_at = utcnow()
    return diff


def _edit(
    session: Session,
    proposal: Proposal,
    changes: Mapping[str, Any],
    *,
    crs: str,
    repair: bool,
) -> dict[str, list[Any]]:
    _unknown(changes, (*FIELDS, "geometry"), "corporation")
    if proposal.status != "proposed":
        raise Conflict(f"proposal {proposal.id} has been {proposal.status}; it cannot be edited")
    _lock_org(session, proposal.org)
    merged: dict[str, Any] = {name: getattr(proposal, name) for name in FIELDS}
    merged.update({k: v for k, v in changes.items() if k != "geometry"})
    raw = changes.get("geometry", proposal.geom)
    feature_crs = crs if "geometry" in changes else TARGET_CRS
    (report,) = check_features(
        session,
        [{"geometry": raw, "properties": merged}],
        proposal.org,
        crs=feature_crs,
        repair=repair,
        exclude_ids=[proposal.id],
    )
    if report.errors:
        raise InvalidInput(report.errors)
    diff: dict[str, list[Any]] = {}
    for name in FIELDS:
        new = report.values.get(name)
        if new != getattr(proposal, name):
            diff[name] = [getattr(proposal, name), new]
            setattr(proposal, name, new)
    assert report.geometry is not None
    if "geometry" in changes and not report.geometry.equals_exact(proposal.geom, 0):
        diff["geometry"] = [proposal.geom, report.geometry]
        proposal.set_geometry(report.geometry)
        if report.repaired:
            diff["repaired"] = [proposal.repaired, True]
            proposal.repaired = True
    return diff


def proposal_feature(proposal: Proposal, *, crs: str = TARGET_CRS) -> dict[str, Any]:
    """A proposal as a GeoJSON Feature (``crs="OGC:CRS84"`` for web maps)."""
    geom = proposal.geom
    if crs.upper() != TARGET_CRS:
        import numpy as np
        from pyproj import Transformer

        transformer = Transformer.from_crs(TARGET_CRS, crs, always_xy=True)
        geom = shapely.transform(
            geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
        )
    props = {name: getattr(proposal, name) for name in FIELDS}
    props.update(
        id=proposal.id,
        plot_id=proposal.plot_id,
        org=proposal.org,
        status=proposal.status,
        review_reason=proposal.review_reason,
        repaired=proposal.repaired,
        version=proposal.version,
        created_at=proposal.created_at.isoformat(),
        updated_at=proposal.updated_at.isoformat(),
    )
    return {
        "type": "Feature",
        "id": proposal.id,
        "geometry": geom.__geo_interface__,
        "properties": props,
    }
