"""The plots API served for real: a kill -9 mid-burst, two corporations at once, and a run.

Each test starts `flexplan serve` as a subprocess on 127.0.0.1 and a free port, with its own
data folder, so the database is SQLite ``DATA/flexplan.db`` (``FLEXPLAN_*`` variables are
removed from the environment). Users and tokens come from `flexplan users add` and `users token`.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
import yaml

from tests.checker import assert_valid_run
from tests.world import write_world

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"
USERS = {
    "anna": ("corporation", "Woonstichting A"),
    "bert": ("corporation", "Corporatie B"),
    "piet": ("planner", None),
}
START_TIMEOUT_S = 30.0
HTTP_TIMEOUT_S = 30.0


def _env(**extra: str) -> dict[str, str]:
    """The environment without any FLEXPLAN_* setting (so DATA/flexplan.db is used)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEXPLAN_")}
    return {**env, **extra}


def _flexplan(*args: str | Path, stdin: str | None = None, **env: str) -> str:
    """Run `python -m planner ARGS`; its stdout, or a failure with its stderr."""
    proc = subprocess.run(
        [sys.executable, "-m", "planner", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(**env),
        timeout=300,
    )
    assert proc.returncode == 0, f"flexplan {args}: {proc.stderr}"
    return proc.stdout


def _add_users(data: Path) -> dict[str, str]:
    """The USERS in DATA/flexplan.db, through the CLI; returns their API tokens."""
    tokens = {}
    for name, (role, org) in USERS.items():
        extra = ["--org", org] if org else []
        args = ("users", "add", name, "--role", role, *extra, "--password-stdin", "--data", data)
        _flexplan(*args, stdin=PASSWORD + "\n")
        tokens[name] = _flexplan("users", "token", name, "--data", data).strip()
    return tokens


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(base: str, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One HTTP request with the Bearer token: (status, JSON body or None)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
        exc.close()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


class Server:
    """`flexplan serve --data DATA` on 127.0.0.1 (a free port), until `kill` or `stop`."""

    def __init__(self, data: Path, log: Path) -> None:
        scenarios = data.parent / "scenarios"
        scenarios.mkdir(exist_ok=True)
        for _attempt in range(3):  # another process may take the free port before we bind it
            port = _free_port()
            self.base = f"http://127.0.0.1:{port}"
            args = [
                "serve",
                "--port",
                str(port),
                "--data",
                str(data),
                "--scenarios",
                str(scenarios),
            ]
            with log.open("ab") as out:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "planner", *args],
                    cwd=ROOT,
                    env=_env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            if self._ready():
                return
            self.kill()
        raise AssertionError(f"the server did not start:\n{log.read_text(errors='replace')}")

    def _ready(self) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with urllib.request.urlopen(self.base + "/api/plots", timeout=2):
                    return True  # not expected: anonymous is 401
            except urllib.error.HTTPError as exc:
                exc.close()
                return exc.code == 401
            except OSError:
                time.sleep(0.1)
        return False

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A data folder whose flexplan.db holds USERS (made once), and their tokens."""
    data = tmp_path_factory.mktemp("users") / "data"
    return data, _add_users(data)


@pytest.fixture
def data(template: tuple[Path, dict[str, str]], tmp_path: Path) -> Path:
    """A fresh copy of the template's data folder (the CLI closed it: no WAL left to copy)."""
    folder = tmp_path / "data"
    folder.mkdir()
    for path in template[0].iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    return folder


@pytest.fixture
def tokens(template: tuple[Path, dict[str, str]]) -> dict[str, str]:
    return template[1]


@pytest.fixture
def serve(data: Path, tmp_path: Path) -> Iterator[Any]:
    """``serve()`` starts a server on ``data``; every one started is stopped at the end."""
    started: list[Server] = []

    def start() -> Server:
        started.append(Server(data, tmp_path / "server.log"))
        return started[-1]

    yield start
    for server in started:
        server.stop()


def square(k: int, size: float = 0.0008) -> dict[str, Any]:
    """The k-th of a grid of small, disjoint WGS84 squares near Utrecht."""
    x, y = 5.0 + 0.002 * (k % 100), 52.0 + 0.002 * (k // 100)
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def collection(names: list[str], first: int) -> dict[str, Any]:
    features = [
        {
            "type": "Feature",
            "geometry": square(first + i),
            "properties": {"name": n, "capacity": 30},
        }
        for i, n in enumerate(names)
    ]
    return {"type": "FeatureCollection", "features": features}


def listed(server: Server, token: str) -> dict[int, dict[str, Any]]:
    """GET /api/plots: id -> properties."""
    status, body = call(server.base, token, "GET", "/api/plots")
    assert status == 200, body
    return {f["id"]: f["properties"] for f in body["features"]}


# --- 1. nothing acknowledged is lost by kill -9 ------------------------------------------------

PER_REQUEST = 3
ACKED_BEFORE_KILL = 15
POSTERS = 3


def test_acknowledged_plots_survive_kill_9_mid_burst(
    serve: Any, data: Path, tokens: dict[str, str]
) -> None:
    server = serve()
    sent: dict[str, list[str]] = {}  # request key -> the feature names it carried
    acked: dict[str, list[int]] = {}  # request key -> the ids of its 201
    refused: list[tuple[int, Any]] = []
    lock = threading.Lock()
    kill_now = threading.Event()

    def post(worker: int) -> None:
        for n in range(200):
            key = f"w{worker}-r{n}"
            names = [f"{key}-f{j}" for j in range(PER_REQUEST)]
            with lock:
                sent[key] = names
                first = PER_REQUEST * (len(sent) - 1)
            try:
                body = collection(names, first)
                status, body = call(server.base, tokens["anna"], "POST", "/api/plots", body)
            except (OSError, http.client.HTTPException):
                return  # the server died under this request: not acknowledged
            if status == 201 and not isinstance(body, dict):
                return  # died while answering: the ids never reached us, so not acknowledged
            with lock:
                if status != 201:
                    refused.append((status, body))
                    return
                acked[key] = body["ids"]
                if len(acked) >= ACKED_BEFORE_KILL:
                    kill_now.set()

    threads = [threading.Thread(target=post, args=(w,), daemon=True) for w in range(POSTERS)]
    for thread in threads:
        thread.start()
    assert kill_now.wait(timeout=60), f"only {len(acked)} acknowledged; refused: {refused}"
    server.kill()  # while the other posters' requests are in flight
    for thread in threads:
        thread.join(timeout=HTTP_TIMEOUT_S + 5)
        assert not thread.is_alive()
    assert not refused, refused
    assert len(acked) >= ACKED_BEFORE_KILL

    server = serve()  # the same data folder, a new process
    seen = listed(server, tokens["piet"])
    assert listed(server, tokens["anna"]) == seen  # all anna's, nothing of another org
    by_name = {props["name"]: pid for pid, props in seen.items()}
    assert len(by_name) == len(seen)  # no request stored twice
    for key, ids in acked.items():  # acknowledged: every id there, with the names it was sent
        assert [by_name.get(name) for name in sent[key]] == ids, key
    for key in set(sent) - set(acked):  # in flight at the kill: all or nothing
        present = [name in by_name for name in sent[key]]
        assert all(present) or not any(present), (key, present)
    all_names = {name for names in sent.values() for name in names}
    assert set(by_name) <= all_names

    server.stop()
    with sqlite3.connect(data / "flexplan.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        audited = db.execute(
            "SELECT entity_id, count(*) FROM audit_log WHERE action = 'proposal.create' "
            "GROUP BY entity_id"
        ).fetchall()
    db.close()
    assert dict(audited) == dict.fromkeys(seen, 1)  # each stored plot has its one audit row


# --- 2. two corporations at once -------------------------------------------------------------

ROUNDS = 12


def test_two_corporations_posting_at_once_lose_nothing(serve: Any, tokens: dict[str, str]) -> None:
    server = serve()
    barrier = threading.Barrier(2, timeout=30)
    ids: dict[str, list[int]] = {"anna": [], "bert": []}
    problems: list[str] = []

    def post(user: str, offset: int) -> None:
        barrier.wait()
        for n in range(ROUNDS):
            names = [f"{user}-{n}-{j}" for j in range(2)]
            body = collection(names, offset + 2 * n)
            status, body = call(server.base, tokens[user], "POST", "/api/plots", body)
            if status != 201:
                problems.append(f"{user} POST {n}: {status} {body}")
                return
            ids[user] += body["ids"]
            status, body = call(server.base, tokens[user], "GET", "/api/plots")
            orgs = {f["properties"]["org"] for f in body["features"]} if status == 200 else None
            if orgs != {USERS[user][1]}:
                problems.append(f"{user} GET {n}: {status} sees {orgs}")

    threads = [
        threading.Thread(target=post, args=(user, offset), daemon=True)
        for user, offset in (("anna", 0), ("bert", 100))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive()
    assert not problems, problems

    for user in ("anna", "bert"):
        mine = listed(server, tokens[user])
        assert sorted(mine) == sorted(ids[user]) and len(mine) == 2 * ROUNDS
        assert {p["org"] for p in mine.values()} == {USERS[user][1]}
        assert {p["name"] for p in mine.values()} == {
            f"{user}-{n}-{j}" for n in range(ROUNDS) for j in range(2)
        }
    assert not set(ids["anna"]) & set(ids["bert"])
    assert sorted(listed(server, tokens["piet"])) == sorted(ids["anna"] + ids["bert"])
    status, _ = call(server.base, tokens["anna"], "GET", f"/api/plots/{ids['bert'][0]}")
    assert status == 404


# --- 3. from a proposal in the app to a run ------------------------------------------------------


def test_an_accepted_plot_from_the_api_is_used_by_a_run(
    serve: Any, data: Path, tokens: dict[str, str], tmp_path: Path
) -> None:
    scenario = write_world(tmp_path / "world", target_homes=20)
    spec = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    spec["layers"]["plots"] = "db:accepted"
    scenario.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    world = gpd.read_file(tmp_path / "world" / "plots.gpkg", layer="plots").to_crs("EPSG:4326")

    def offer(row: int, name: str) -> dict[str, Any]:
        plot = world.iloc[row]
        props = {field: plot[field] for field in ("fixed_cost", "cost_per_home")}
        props.update(name=name, capacity=int(plot["capacity"]))
        geometry = plot.geometry.__geo_interface__
        return {"type": "Feature", "geometry": geometry, "properties": props}

    server = serve()
    status, body = call(server.base, tokens["anna"], "POST", "/api/plots", offer(0, "Veld A"))
    assert status == 201, body
    (accepted,) = body["ids"]
    status, body = call(server.base, tokens["bert"], "POST", "/api/plots", offer(1, "Veld B"))
    assert status == 201, body
    (still_proposed,) = body["ids"]  # never reviewed: not in db:accepted
    review = {"status": "accepted", "reason": "past in het plan"}
    status, _ = call(server.base, tokens["anna"], "PATCH", f"/api/plots/{accepted}", review)
    assert status == 403  # a corporation cannot accept its own plot
    status, body = call(server.base, tokens["piet"], "PATCH", f"/api/plots/{accepted}", review)
    assert status == 200 and body["properties"]["status"] == "accepted", body

    out = tmp_path / "run"
    _flexplan("run", scenario, "--out", out, FLEXPLAN_DATA=str(data))  # the server's database
    kpis = assert_valid_run(out)
    assert kpis["status"] == "OPTIMAL" and kpis["homes"] == 20
    allocation = pyogrio.read_dataframe(out / "allocation.gpkg", layer="plots")
    used = allocation.set_index("plot_id")
    assert list(used.index) == [f"PROP-{accepted}"]
    assert f"PROP-{still_proposed}" not in used.index
    assert used.loc[f"PROP-{accepted}", "homes"] > 0
    assert used.loc[f"PROP-{accepted}", "proposer"] == USERS["anna"][1]
    assert kpis["per_proposer"] == [
        {"proposer": USERS["anna"][1], "plots": 1, "plots_used": 1, "homes": 20}
    ]
