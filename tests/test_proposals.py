"""The proposals store: roles, all-or-nothing creation, audit, persistence, concurrency.

Every test runs on SQLite, and on PostgreSQL+PostGIS as well when FLEXPLAN_TEST_POSTGRES_URL is
set (see tests/test_proposals_support.py).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import Polygon, mapping
from sqlalchemy import func, inspect, select, text

from planner.proposals import (
    AuditEntry,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Proposal,
    Store,
    StoreError,
    User,
    add_user,
    audit_trail,
    authenticate_password,
    authenticate_token,
    create_proposals,
    disable_user,
    get_proposal,
    issue_token,
    list_proposals,
    review_flags,
    update_proposal,
    validate_features,
)
from planner.proposals.db import schema_revision
from tests.test_proposals_support import (
    BACKENDS,
    PASSWORD,
    X0,
    Y0,
    cheap_passwords,
    empty_database,
    feature,
    make_users,
    square,
)


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with empty_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def fast_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    cheap_passwords(monkeypatch)


@pytest.fixture
def store(db_url: str, fast_passwords: None) -> Iterator[Store]:
    with Store(db_url) as opened:
        yield opened


BOWTIE = Polygon([(X0, Y0), (X0 + 100, Y0 + 100), (X0 + 100, Y0), (X0, Y0 + 100), (X0, Y0)])


def _count(store: Store, model: Any) -> int:
    with store.session(write=False) as session:
        return int(session.scalar(select(func.count()).select_from(model)))


def _propose(store: Store, user: User, *features: dict[str, Any]) -> list[int]:
    with store.session() as session:
        return create_proposals(session, user, list(features) or [feature()]).ids


# --- schema and persistence --------------------------------------------------------------------


def test_migrations_run_from_an_empty_database(db_url: str) -> None:
    with Store(db_url, migrate=False) as empty:
        assert schema_revision(empty.engine) is None
    with Store(db_url) as opened:
        assert schema_revision(opened.engine) == "0001"
        tables = set(inspect(opened.engine).get_table_names())
        assert {"users", "proposals", "audit_log", "alembic_version"} <= tables
    with Store(db_url) as again:  # a second open is a no-op upgrade
        assert schema_revision(again.engine) == "0001"


def test_data_survives_closing_and_reopening(db_url: str, fast_passwords: None) -> None:
    geom = shapely.MultiPolygon([square(X0 + 0.123456789, Y0, 80.5)])
    with Store(db_url) as first:
        users = make_users(first)
        (pid,) = _propose(first, users["corp_a"], feature(geom, note="naast de school"))
    with Store(db_url) as second, second.session(write=False) as session:
        proposal = get_proposal(session, pid, users["planner"])
        assert proposal is not None
        assert proposal.geom.equals_exact(geom, 0)
        assert (proposal.note, proposal.org, proposal.status) == (
            "naast de school",
            "Woonstad",
            "proposed",
        )
        assert proposal.created_at.tzinfo is not None


def test_sqlite_is_set_up_not_to_lose_commits(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'f.db'}") as opened, opened.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_store_that_cannot_be_opened_says_which_database(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"not-a-db\.db: cannot open or upgrade"):
        Store(f"sqlite:///{bad}")


# --- roles: every combination ------------------------------------------------------------------

ALLOWED = "ok"
ACTIONS = ("create", "get", "list", "edit", "review", "flags")
#: actor -> action -> expected outcome on a proposal of corp_a's organisation (Woonstad).
EXPECTED: dict[str, dict[str, Any]] = {
    "corp_a": {
        "create": ALLOWED,
        "get": ALLOWED,
        "list": 1,
        "edit": ALLOWED,
        "review": PermissionDenied,
        "flags": PermissionDenied,
    },
    "corp_a2": {  # a colleague in the same organisation
        "create": ALLOWED,
        "get": ALLOWED,
        "list": 1,
        "edit": ALLOWED,
        "review": PermissionDenied,
        "flags": PermissionDenied,
    },
    "corp_b": {
        "create": ALLOWED,
        "get": None,
        "list": 0,
        "edit": NotFound,
        "review": NotFound,
        "flags": PermissionDenied,
    },
    "planner": {
        "create": PermissionDenied,
        "get": ALLOWED,
        "list": 1,
        "edit": PermissionDenied,
        "review": ALLOWED,
        "flags": ALLOWED,
    },
    "admin": {
        "create": PermissionDenied,
        "get": ALLOWED,
        "list": 1,
        "edit": PermissionDenied,
        "review": PermissionDenied,
        "flags": PermissionDenied,
    },
    "gone": {action: PermissionDenied for action in ACTIONS},  # disabled
}


def _act(session: Any, user: User, action: str, pid: int) -> Any:
    if action == "create":
        return create_proposals(session, user, [feature(square(X0 + 5000, Y0))]).ids
    if action == "get":
        return get_proposal(session, pid, user)
    if action == "list":
        return list_proposals(session, user)
    if action == "edit":
        return update_proposal(session, user, pid, {"name": "Nieuwe naam", "capacity": 40})
    if action == "review":
        return update_proposal(session, user, pid, {"status": "accepted", "review_reason": "ok"})
    return review_flags(session, user, pid)


@pytest.mark.parametrize(
    ("actor", "action"), [(a, x) for a in EXPECTED for x in ACTIONS], ids=lambda v: str(v)
)
def test_role_matrix(store: Store, actor: str, action: str) -> None:
    users = make_users(store)
    (pid,) = _propose(store, users["corp_a"])
    expected = EXPECTED[actor][action]
    with store.session() as session:
        if isinstance(expected, type) and issubclass(expected, Exception):
            with pytest.raises(expected):
                _act(session, users[actor], action, pid)
            session.rollback()
        else:
            result = _act(session, users[actor], action, pid)
            if action == "list":
                assert len(result) == expected
            elif action == "get":
                assert (result is None) == (expected is None)
    with store.session(write=False) as session:
        stored = session.get(Proposal, pid)
        assert stored is not None
        changed = expected is ALLOWED and action in ("edit", "review")
        assert (stored.version > 1) == changed
        assert (stored.name == "Nieuwe naam") == (changed and action == "edit")
        assert (stored.status == "accepted") == (changed and action == "review")


def test_a_corporation_cannot_edit_a_reviewed_proposal(store: Store) -> None:
    users = make_users(store)
    (pid,) = _propose(store, users["corp_a"])
    with store.session() as session:
        update_proposal(session, users["planner"], pid, {"status": "accepted"})
    for changes in ({"name": "x"}, {"geometry": mapping(square(X0 + 10, Y0))}):
        with store.session() as session, pytest.raises(Conflict, match="accepted"):
            update_proposal(session, users["corp_a"], pid, changes)


@pytest.mark.parametrize(
    "changes",
    [{"status": "accepted"}, {"review_reason": "mooi"}, {"org": "Eigen Haard"}, {"id": 99}],
)
def test_a_corporation_cannot_change_review_or_ownership_fields(
    store: Store, changes: dict[str, Any]
) -> None:
    users = make_users(store)
    (pid,) = _propose(store, users["corp_a"])
    with store.session() as session, pytest.raises(PermissionDenied, match="may not change"):
        update_proposal(session, users["corp_a"], pid, changes)


@pytest.mark.parametrize("changes", [{"name": "x"}, {"geometry": None}, {"capacity": 1}])
def test_a_planner_cannot_edit_a_proposal(store: Store, changes: dict[str, Any]) -> None:
    users = make_users(store)
    (pid,) = _propose(store, users["corp_a"])
    with store.session() as session, pytest.raises(PermissionDenied, match="planner may not"):
        update_proposal(session, users["planner"], pid, changes)


def test_rejecting_needs_a_reason_and_a_known_status(store: Store) -> None:
    users = make_users(store)
    (pid,) = _propose(store, users["corp_a"])
    with store.session() as session:
        with pytest.raises(InvalidInput, match="reason") as info:
            update_proposal(session, users["planner"], pid, {"status": "rejected"})
        assert info.value.problems[0]["field"] == "review_reason"
        with pytest.raises(InvalidInput, match="status"):
            update_proposal(session, users["planner"], pid, {"status": "maybe"})
        rejected = update_proposal(
            session, users["planner"], pid, {"status": "rejected", "review_reason": "te nat"}
        )
        assert (rejected.status, rejected.review_reason) == ("rejected", "te nat")
        assert rejected.reviewer_id == users["planner"].id
        assert list_proposals(session, users["planner"], "rejected") == [rejected]
        assert list_proposals(session, users["planner"], "accepted") == []


def test_a_user_disabled_after_signing_in_is_refused(store: Store) -> None:
    users = make_users(store)
    (pid,) = _propose(store, users["corp_a"])
    with store.session() as session:
        disable_user(session, "corp_a")
    with store.session() as session, pytest.raises(PermissionDenied):
        get_proposal(session, pid, users["corp_a"])  # the object loaded before disabling


def test_a_stale_form_gets_a_conflict_not_a_lost_review(store: Store) -> None:
    users = make_users(store)
    (pid,) = _propose(store, users["corp_a"])
    with store.session() as session:
        version = get_proposal(session, pid, users["corp_a"]).version  # type: ignore[union-attr]
    with store.session() as session:
        update_proposal(session, users["planner"], pid, {"status": "accepted"})
    with store.session() as session, pytest.raises(Conflict, match="changed by someone else"):
        update_proposal(
            session, users["planner"], pid, {"status": "rejected"}, expected_version=version
        )


# --- creating: all or nothing, with a problem list ---------------------------------------------


def test_one_bad_feature_stores_nothing_and_every_problem_is_listed(store: Store) -> None:
    users = make_users(store)
    features = [
        feature(),
        feature(square(X0 + 500, Y0), name=""),  # missing name
        feature(square(5.38, 52.15, 0.001)),  # lon/lat given as RD: outside the Netherlands
        feature(BOWTIE, capacity=-3),  # invalid polygon and negative capacity
        feature({"type": "Point", "coordinates": [X0, Y0]}),
        feature(square(X0 + 900, Y0), available_from=2030, available_until=2025),
        "not a feature",
    ]
    with store.session() as session, pytest.raises(InvalidInput) as info:
        create_proposals(session, users["corp_a"], features)
    problems = info.value.problems
    json.dumps(problems)  # the 422 body as is
    found = {(p["index"], p["field"]) for p in problems}
    assert found == {
        (1, "name"),
        (2, "geometry"),
        (3, "capacity"),
        (3, "geometry"),
        (4, "geometry"),
        (5, "available_from"),
        (6, "feature"),
    }
    assert all(set(p) == {"index", "field", "problem"} for p in problems)
    assert "Self-intersection" in next(
        p["problem"] for p in problems if p["index"] == 3 and p["field"] == "geometry"
    )
    assert "outside the Netherlands" in next(p["problem"] for p in problems if p["index"] == 2)
    assert _count(store, Proposal) == 0
    assert _count(store, AuditEntry) == len(users)  # only the user.add entries


def test_an_invalid_polygon_is_repaired_only_with_consent(store: Store) -> None:
    users = make_users(store)
    with store.session() as session:
        result = create_proposals(session, users["corp_a"], [feature(BOWTIE)], repair=True)
    assert result.repaired == result.ids
    assert any("repaired" in w["problem"] for w in result.warnings)
    with store.session(write=False) as session:
        proposal = session.get(Proposal, result.ids[0])
        assert proposal is not None and proposal.repaired and proposal.geom.is_valid
        assert proposal.geom.geom_type == "MultiPolygon"
        assert proposal.area_m2 == pytest.approx(5000.0)  # two triangles of the bow-tie


def test_features_in_lon_lat_are_stored_in_rd(store: Store) -> None:
    users = make_users(store)
    lonlat = shapely.box(5.387, 52.155, 5.3885, 52.156)  # about 1 ha in Amersfoort
    with store.session() as session:
        (pid,) = create_proposals(session, users["corp_a"], [feature(lonlat)], crs="OGC:CRS84").ids
        proposal = session.get(Proposal, pid)
        assert proposal is not None
        assert 150_000 < proposal.minx < 160_000 and 460_000 < proposal.miny < 466_000
        assert 8_000 < proposal.area_m2 < 13_000


@pytest.mark.parametrize(
    ("capacity", "side", "expected"),
    [(30, 100.0, None), (500, 100.0, "more than 200"), (2, 100.0, "fewer than 5")],
)
def test_density_outside_5_to_200_homes_per_ha_is_a_warning(
    store: Store, capacity: int, side: float, expected: str | None
) -> None:
    users = make_users(store)
    with store.session() as session:
        reports = validate_features(
            session, users["corp_a"], [feature(square(X0, Y0, side), capacity=capacity)]
        )
    (report,) = reports
    assert report.ok
    messages = [w["problem"] for w in report.warnings if w["field"] == "capacity"]
    if expected is None:
        assert messages == []
    else:
        assert len(messages) == 1 and expected in messages[0]
    assert _count(store, Proposal) == 0  # validate_features stores nothing


def test_duplicates_within_an_upload_and_of_own_proposals_are_errors(store: Store) -> None:
    users = make_users(store)
    (pid,) = _propose(store, users["corp_a"])
    nearly = square(X0 + 5, Y0)  # IoU 0.90 with the stored plot
    far = square(X0 + 3000, Y0)
    with store.session() as session, pytest.raises(InvalidInput) as info:
        create_proposals(session, users["corp_a2"], [feature(nearly), feature(far), feature(far)])
    problems = {(p["index"], p["problem"].split(" (")[0]) for p in info.value.problems}
    assert problems == {
        (0, f"duplicates your organisation's proposal {pid}"),
        (2, "duplicates feature 1 of this upload"),
    }
    half = square(X0 + 50, Y0)  # IoU 1/3: an overlap, not a duplicate
    with store.session() as session:
        result = create_proposals(session, users["corp_a"], [feature(half)])
    assert [w["problem"] for w in result.warnings] == [
        f"overlaps your organisation's proposal {pid} ('Kavel') by 5,000 m²"
    ]


def test_a_rejected_plot_may_be_proposed_again(store: Store) -> None:
    users = make_users(store)
    (pid,) = _propose(store, users["corp_a"])
    with store.session() as session:
        update_proposal(
            session, users["planner"], pid, {"status": "rejected", "review_reason": "te klein"}
        )
    assert len(_propose(store, users["corp_a"])) == 1


def test_overlap_with_another_corporation_is_flagged_for_planners_only(store: Store) -> None:
    users = make_users(store)
    (a_id,) = _propose(store, users["corp_a"], feature(name="Geheim project Woonstad"))
    with store.session() as session:
        result = create_proposals(session, users["corp_b"], [feature(name="Ons plan")])
    (b_id,) = result.ids
    leaked = json.dumps(result.warnings)
    assert "Woonstad" not in leaked and "Geheim" not in leaked and str(a_id) not in leaked
    with store.session(write=False) as session:
        (flag,) = review_flags(session, users["planner"], b_id)
        assert (flag["other_id"], flag["other_org"], flag["iou"]) == (a_id, "Woonstad", 1.0)
        assert flag["problem"].startswith(f"duplicates proposal {a_id} of Woonstad")
        with pytest.raises(PermissionDenied):
            review_flags(session, users["corp_b"], b_id)


def test_an_edit_is_checked_like_a_new_proposal(store: Store) -> None:
    users = make_users(store)
    (pid,) = _propose(store, users["corp_a"])
    with store.session() as session:
        with pytest.raises(InvalidInput) as info:
            update_proposal(session, users["corp_a"], pid, {"capacity": 0, "name": " "})
        assert {p["field"] for p in info.value.problems} == {"capacity", "name"}
        with pytest.raises(InvalidInput, match="invalid"):
            update_proposal(session, users["corp_a"], pid, {"geometry": mapping(BOWTIE)})
        moved = update_proposal(
            session, users["corp_a"], pid, {"geometry": mapping(square(X0 + 20, Y0))}
        )
        assert moved.minx == X0 - 30  # not a duplicate of itself
        assert moved.version == 2


# --- audit -------------------------------------------------------------------------------------


def test_every_change_is_audited_with_who_when_what(store: Store) -> None:
    users = make_users(store)
    (pid,) = _propose(store, users["corp_a"], feature(capacity=30))
    with store.session() as session:
        update_proposal(session, users["corp_a"], pid, {"capacity": 40})
        update_proposal(session, users["planner"], pid, {"status": "accepted"})
    with store.session(write=False) as session:
        trail = audit_trail(session, users["corp_a"], pid)
    assert [(e.action, e.actor, e.user_id) for e in trail] == [
        ("proposal.create", "corp_a", users["corp_a"].id),
        ("proposal.update", "corp_a", users["corp_a"].id),
        ("proposal.review", "planner", users["planner"].id),
    ]
    assert trail[0].changes["capacity"] == [None, 30]
    assert trail[0].changes["geometry"][1].startswith("MULTIPOLYGON")
    assert trail[1].changes == {"capacity": [30, 40]}
    assert trail[2].changes == {"status": ["proposed", "accepted"]}
    assert all(e.at.tzinfo is not None for e in trail)
    assert trail[0].at <= trail[1].at <= trail[2].at
    with store.session(write=False) as session, pytest.raises(NotFound):
        audit_trail(session, users["corp_b"], pid)


def test_audit_rows_share_the_transaction_of_the_change(store: Store) -> None:
    users = make_users(store)
    before = _count(store, AuditEntry)
    with pytest.raises(RuntimeError, match="request failed"), store.session() as session:
        create_proposals(session, users["corp_a"], [feature()])
        session.flush()
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == before + 1
        raise RuntimeError("request failed after the change")
    assert (_count(store, Proposal), _count(store, AuditEntry)) == (0, before)
    _propose(store, users["corp_a"])
    assert (_count(store, Proposal), _count(store, AuditEntry)) == (1, before + 1)


# --- users, passwords and tokens ---------------------------------------------------------------


def test_passwords_are_argon2_hashes_and_checked(store: Store) -> None:
    make_users(store)
    with store.session() as session:
        planner = authenticate_password(session, "planner", PASSWORD)
        assert planner is not None and planner.role == "planner"
        assert planner.password_hash.startswith("$argon2")
        assert PASSWORD not in planner.password_hash
        assert authenticate_password(session, "planner", PASSWORD + "x") is None
        assert authenticate_password(session, "nobody", PASSWORD) is None
        assert authenticate_password(session, "gone", PASSWORD) is None  # disabled


def test_tokens_are_stored_as_sha256_and_replaced_and_revoked(store: Store) -> None:
    make_users(store)
    with store.session() as session:
        first = issue_token(session, "corp_b")
        second = issue_token(session, "corp_b")
    with store.session() as session:
        user = authenticate_token(session, second)
        assert user is not None and user.name == "corp_b"
        assert user.token_hash == hashlib.sha256(second.encode()).hexdigest()
        assert authenticate_token(session, first) is None
        assert authenticate_token(session, "fp_guess") is None
        assert authenticate_token(session, "") is None
        disable_user(session, "corp_b")
    with store.session() as session:
        assert authenticate_token(session, second) is None
        with pytest.raises(PermissionDenied):
            issue_token(session, "corp_b")


@pytest.mark.parametrize(
    ("name", "role", "org", "password", "field"),
    [
        ("c", "corporation", None, PASSWORD, "org"),
        ("p", "planner", "Woonstad", PASSWORD, "org"),
        ("a", "admin", "Woonstad", PASSWORD, "org"),
        ("x", "superuser", None, PASSWORD, "role"),
        ("bad name", "planner", None, PASSWORD, "name"),
        ("short", "planner", None, "kort", "password"),
    ],
)
def test_add_user_refuses_bad_combinations(
    store: Store, name: str, role: str, org: str | None, password: str, field: str
) -> None:
    with store.session() as session, pytest.raises(InvalidInput) as info:
        add_user(session, name, role, password, org=org)
    assert info.value.problems[0]["field"] == field
    assert _count(store, User) == 0


def test_a_user_name_is_taken_once(store: Store) -> None:
    make_users(store)
    with store.session() as session, pytest.raises(StoreError, match="already exists"):
        add_user(session, "planner", "planner", PASSWORD)


def test_the_database_enforces_the_org_rule_too(store: Store) -> None:
    with pytest.raises(Exception, match=r"(?i)check"), store.session() as session:
        session.add(User(name="x", role="corporation", org=None, password_hash="h"))
        session.flush()


# --- concurrency -------------------------------------------------------------------------------

WRITERS = 4
PER_WRITER = 15


def test_concurrent_writers_lose_nothing(store: Store) -> None:
    users = make_users(store)
    names = ["corp_a", "corp_a2", "corp_b", "corp_b"]
    barrier = threading.Barrier(WRITERS)
    errors: list[BaseException] = []
    ids: list[int] = []

    def writer(number: int) -> None:
        try:
            barrier.wait()
            for i in range(PER_WRITER):
                geom = square(X0 + 200 * i, Y0 + 200 * number)
                with store.session() as session:
                    ids.extend(create_proposals(session, users[names[number]], [feature(geom)]).ids)
        except BaseException as exc:  # reported below, with the thread's traceback lost
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(set(ids)) == WRITERS * PER_WRITER
    assert _count(store, Proposal) == WRITERS * PER_WRITER
    assert _count(store, AuditEntry) == len(users) + WRITERS * PER_WRITER


_PROCESS_WRITER = """
import sys
from planner.proposals import Store, create_proposals, get_user
from tests.test_proposals_support import X0, Y0, feature, square
url, name, row = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Store(url) as store:
    for i in range(int(sys.argv[4])):
        with store.session() as session:
            user = get_user(session, name)
            create_proposals(session, user, [feature(square(X0 + 200 * i, Y0 + 200 * row))])
print("done")
"""


def test_concurrent_processes_lose_nothing(store: Store, db_url: str) -> None:
    make_users(store)
    root = Path(__file__).resolve().parents[1]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _PROCESS_WRITER, db_url, name, str(row), str(PER_WRITER)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for row, name in enumerate(["corp_a", "corp_b", "corp_a2"])
    ]
    outcomes = [proc.communicate(timeout=180) for proc in procs]
    for proc, (stdout, stderr) in zip(procs, outcomes, strict=True):
        assert proc.returncode == 0, stderr
        assert stdout.strip() == "done"
        assert "locked" not in stderr
    assert _count(store, Proposal) == 3 * PER_WRITER


def test_concurrent_first_opens_migrate_once(db_url: str) -> None:
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            with Store(db_url):
                pass
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with Store(db_url) as opened:
        assert schema_revision(opened.engine) == "0001"


# --- PostGIS ----------------------------------------------------------------------------------


def test_postgis_column_is_typed_and_rejects_another_srid(store: Store) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("PostGIS only: SQLite stores WKB, checked by the store itself")
    users = make_users(store)
    (pid,) = _propose(store, users["corp_a"])
    with store.engine.connect() as conn:
        kind = conn.execute(
            text("SELECT GeometryType(geom), ST_SRID(geom) FROM proposals WHERE id = :i"),
            {"i": pid},
        ).one()
        assert tuple(kind) == ("MULTIPOLYGON", 28992)
        with pytest.raises(Exception, match="SRID"):
            conn.execute(
                text(
                    "UPDATE proposals SET geom = ST_GeomFromText("
                    "'MULTIPOLYGON(((5 52,5.1 52,5.1 52.1,5 52)))', 4326) WHERE id = :i"
                ),
                {"i": pid},
            )
