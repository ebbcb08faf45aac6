"""Runs started from the app: one worker process each, a job file each, cancel by terminating.

A request only writes a job file (state ``queued``) and returns. A monitor thread starts queued
jobs in their own ``spawn``-ed process (never the request thread, never a fork of a threaded
server), at most ``max_running`` at once, and notices processes that ended without saying so
(a crash) and marks them failed. The worker writes its progress into the job file; the run folder
itself is written atomically by ``planner.pipeline.run_scenario``, so a cancelled or crashed run
leaves no half result. Job files are replaced atomically (temp file + ``os.replace``), so two
runs never see each other's or a half-written state.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

STATES = ("queued", "running", "done", "failed", "cancelled")
FINAL = ("done", "failed", "cancelled")
# run_scenario's progress messages, as a rough fraction of the work done.
_STAGES = {
    "loading": 0.1,
    "building": 0.25,
    "solving": 0.4,
    "explaining": 0.8,
    "writing": 0.9,
}


def new_job_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def write_job(path: Path, record: dict[str, Any]) -> None:
    """Replace a job file atomically, so a reader sees the old or the new state, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(record, handle, ensure_ascii=False)
    os.replace(tmp, path)


def read_job(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _update(path: Path, **changes: Any) -> dict[str, Any]:
    record = read_job(path) or {}
    record.update(changes)
    write_job(path, record)
    return record


# --- the worker process ------------------------------------------------------------------------


def _on_sigterm(_signum: int, _frame: Any) -> None:
    raise SystemExit(143)  # unwinds through write_run, which removes its temporary folder


def work(
    job_file: str,
    scenario_file: str,
    overrides: dict[str, Any],
    out_dir: str,
    env: dict[str, str] | None = None,
) -> None:
    """Entry point of a worker process: run the scenario and record the outcome in the job file.

    ``env`` (``FLEXPLAN_DATA``, ``FLEXPLAN_DATABASE_URL``) points ``db:`` layers at the app's
    database, not at whatever the server's environment or working folder happens to name.
    """
    signal.signal(signal.SIGTERM, _on_sigterm)
    os.environ.update(env or {})
    path = Path(job_file)
    _update(path, state="running", progress=0.02, message="starting", started=_now())
    try:
        from planner.errors import FlexplanError
        from planner.pipeline import apply_overrides, run_scenario
        from planner.scenario import load_scenario

        def progress(message: str) -> None:
            fraction = next((v for k, v in _STAGES.items() if message.startswith(k)), None)
            changes: dict[str, Any] = {"message": message}
            if fraction is not None:
                changes["progress"] = fraction
            _update(path, **changes)

        scenario = load_scenario(scenario_file)
        if overrides:
            scenario = apply_overrides(scenario, overrides)
        outcome = run_scenario(scenario, out_dir, progress=progress)
    except FlexplanError as exc:
        _fail(path, " ".join(str(exc).split()))
        return
    except Exception as exc:  # the job file must say what happened; the log keeps the traceback
        log.exception("web: run %s crashed", path.stem)
        _fail(path, f"internal error: {type(exc).__name__}: {' '.join(str(exc).split())}")
        return
    _update(
        path,
        state="done",
        progress=1.0,
        message="done",
        finished=_now(),
        status=outcome.kpis.get("status"),
    )


def _fail(path: Path, error: str) -> None:
    _update(path, state="failed", error=error, message="failed", finished=_now())


# --- the manager (in the server process) -------------------------------------------------------


@dataclass
class _Active:
    process: Any  # multiprocessing.Process (spawn context)
    job_file: Path
    out_dir: Path


class RunManager:
    """Queue, start, watch and cancel worker processes; job files are the shared truth."""

    def __init__(
        self,
        jobs_dir: Path,
        *,
        max_running: int = 2,
        poll_s: float = 0.2,
        env: dict[str, str] | None = None,
    ) -> None:
        self.jobs_dir = Path(jobs_dir)
        self.env = dict(env or {})  # set in each worker (see ``work``)
        self.max_running = max_running
        self.poll_s = poll_s
        self._ctx = multiprocessing.get_context("spawn")
        self._lock = threading.RLock()
        self._queue: list[tuple[str, str, dict[str, Any], Path]] = []
        self._active: dict[str, _Active] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def job_file(self, job_id: str) -> Path:
        return self.jobs_dir / f"{job_id}.json"

    def submit(
        self, *, scenario: str, scenario_file: Path, overrides: dict[str, Any], out_dir: Path
    ) -> str:
        """Record a queued job and hand it to the monitor; returns the job id at once."""
        job_id = out_dir.name
        record = {
            "id": job_id,
            "scenario": scenario,
            "overrides": overrides,
            "state": "queued",
            "progress": 0.0,
            "message": "queued",
            "error": None,
            "created": _now(),
        }
        write_job(self.job_file(job_id), record)
        with self._lock:
            self._queue.append((job_id, str(scenario_file), overrides, out_dir))
        self._ensure_monitor()
        return job_id

    def get(self, job_id: str) -> dict[str, Any] | None:
        """The job's record; a job left running by a stopped server reads as failed."""
        record = read_job(self.job_file(job_id))
        if record is None:
            return None
        with self._lock:
            known = job_id in self._active or any(q[0] == job_id for q in self._queue)
        if record.get("state") not in FINAL and not known:
            record = {
                **record,
                "state": "failed",
                "error": "the server stopped while this run was queued or running; start it again",
            }
        return record

    def records(self) -> list[dict[str, Any]]:
        if not self.jobs_dir.is_dir():
            return []
        ids = [p.stem for p in self.jobs_dir.glob("*.json") if not p.name.startswith(".")]
        records = [r for r in (self.get(i) for i in ids) if r is not None]
        return sorted(records, key=lambda r: r.get("created", ""), reverse=True)

    def cancel(self, job_id: str) -> dict[str, Any] | None:
        """Stop a queued or running job; a finished job is left as it is."""
        with self._lock:
            queued = [q for q in self._queue if q[0] == job_id]
            for item in queued:
                self._queue.remove(item)
            active = self._active.pop(job_id, None)
        if active is not None:
            _terminate(active.process)
            _remove_partial(active.out_dir)
        record = read_job(self.job_file(job_id))
        if record is None:
            return None
        if queued or active is not None:
            if active is not None and record.get("state") == "done":
                return record  # it finished before the signal arrived
            record = _update(
                self.job_file(job_id),
                state="cancelled",
                message="cancelled",
                finished=_now(),
            )
        return self.get(job_id)

    def shutdown(self) -> None:
        """Stop the monitor and every worker (tests, server exit)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            ids = [*self._active, *(q[0] for q in self._queue)]
        for job_id in ids:
            self.cancel(job_id)

    # --- monitor ----------------------------------------------------------------------------

    def _ensure_monitor(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(
                    target=self._monitor, name="flexplan-runs", daemon=True
                )
                self._thread.start()

    def _monitor(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # the monitor must outlive one bad job
                log.exception("web: run monitor")
            self._stop.wait(self.poll_s)

    def _tick(self) -> None:
        with self._lock:
            for job_id, active in list(self._active.items()):
                if active.process.is_alive():
                    continue
                active.process.join()
                code = active.process.exitcode
                active.process.close()
                del self._active[job_id]
                self._reap(job_id, code, active)
            while self._queue and len(self._active) < self.max_running:
                job_id, scenario_file, overrides, out_dir = self._queue.pop(0)
                process = self._ctx.Process(
                    target=work,
                    args=(
                        str(self.job_file(job_id)),
                        scenario_file,
                        overrides,
                        str(out_dir),
                        self.env,
                    ),
                    name=f"flexplan-run-{job_id}",
                    daemon=True,
                )
                process.start()
                self._active[job_id] = _Active(process, self.job_file(job_id), out_dir)

    def _reap(self, job_id: str, code: int | None, active: _Active) -> None:
        """A process that ended without recording done/failed crashed: say so."""
        record = read_job(active.job_file) or {}
        if record.get("state") in FINAL:
            return
        _remove_partial(active.out_dir)
        _update(
            active.job_file,
            state="failed",
            message="failed",
            error=f"the worker process ended unexpectedly (exit code {code}); see the server log",
            finished=_now(),
        )
        log.error("web: run %s: worker ended with exit code %s", job_id, code)


def _terminate(process: Any) -> None:
    if process.is_alive():
        process.terminate()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()
    else:
        process.join()
    process.close()


def _remove_partial(out_dir: Path) -> None:
    """Remove what write_run left in its temporary sibling if the process was killed hard."""
    parent = out_dir.parent
    if parent.is_dir():
        for tmp in parent.glob(f".{out_dir.name}.*.tmp"):
            shutil.rmtree(tmp, ignore_errors=True)
