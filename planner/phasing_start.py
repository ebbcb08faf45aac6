"""A constructive phased plan: a feasible start (and fallback incumbent) for the phasing MIP.

It walks the years of the horizon once, as a planner would:

1. the homes of projects whose permit or window ended last year move (whole modules, with their
   support residents) to plots of the same zone that stand this year: existing projects with room,
   or new projects on unused plots, those that stand longest first (a project that stands until
   the horizon ends never moves again), then by suitability (or cost);
2. new homes are built within ``delivery_per_year``, as late as the next target allows (with some
   slack), on new or standing projects, again longest standing first, each batch with its share of
   support homes where care is in reach and has room in every year the project stands.

Every step keeps the rules of every year it touches: windows and permit length (one project per
plot), capacity and min_homes, buurt caps, region maxima, groups, support mix and care capacity of
the services open in each year, the targets (never above) and production. When the homes of an
ending project cannot be placed, the walk starts again with those plots allowed only projects that
stand until the horizon ends. What it cannot build stays as shortfall. The plan is only a start:
``PhasingModel`` verifies it like any other plan and keeps the model and its bound exact.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from planner.instance import Instance
from planner.phasing import (
    plot_windows,
    project_end,
    service_open,
    targets_of,
    zones,
)

# Later years are assumed to build this share of delivery_per_year: 0 builds as early as the
# targets allow (more home-years, more moves), higher shares as late as they allow.
SLACKS = (0.0, 0.8)
# ... each with and without regions below their minimum first (the better plan is kept)
STARTS = tuple((slack, regions) for slack in SLACKS for regions in (False, True))
RESTARTS = 40


class _Failed(Exception):
    def __init__(self, plots: set[int]) -> None:
        self.plots = plots


def phased_start(
    inst: Instance, slack: float = SLACKS[0], regions: bool = False
) -> dict[str, np.ndarray] | None:
    """The plan as arrays (plots x years, homes; start_year per plot), or None when none found."""
    banned: set[int] = set()
    for _ in range(RESTARTS):
        try:
            return _Walk(inst, banned, slack, regions).run()
        except _Failed as failed:
            if not failed.plots - banned:
                return None
            banned |= failed.plots
    return None


def _codes(values: Any) -> tuple[np.ndarray, list[Any]]:
    keys: dict[Any, int] = {}
    out = np.full(len(values), -1, dtype=int)
    for p, value in enumerate(values):
        if isinstance(value, str) and value:
            out[p] = keys.setdefault(value, len(keys))
    return out, list(keys)


class _Walk:
    def __init__(self, inst: Instance, banned: set[int], slack: float, regions: bool) -> None:
        self.inst, self.banned, self.slack, self.regions = inst, banned, slack, regions
        h = inst.scenario.horizon
        assert h is not None
        self.h = h
        self.years = list(h.years)
        self.m = inst.module
        plots = inst.plots
        n, Y = len(plots), len(self.years)
        self.n, self.Y = n, Y
        self.windows = plot_windows(inst, h)
        self.cap = plots["capacity"].to_numpy(dtype=int)
        self.low = plots["min_homes"].to_numpy(dtype=int)
        self.fixed = plots["fixed_homes"].to_numpy(dtype=float)
        if inst.scenario.objective == "min_cost":
            self.score = -plots["cost_per_home"].to_numpy(dtype=float)
        else:
            self.score = plots["suitability"].to_numpy(dtype=float)
        self.zone = zones(inst)
        self.share = inst.scenario.support.max_share_per_plot
        self.min_share = inst.scenario.support.min_share
        self.types = inst.support_types
        # areas: (codes per plot, limit per code); loads per code and year
        self.buurt, keys = _codes(plots["buurt_id"])
        caps = dict(zip(inst.buurten["buurt_id"], inst.buurten["cap"], strict=True))
        self.buurt_cap = np.array([float(caps.get(k, np.inf)) for k in keys] or [0.0])
        self.buurt_load = np.zeros((len(self.buurt_cap), Y))
        self.region, keys = _codes(plots["region_id"])
        maxima: dict[Any, float] = {}
        if not inst.regions.empty:
            maxima = dict(zip(inst.regions["region_id"], inst.regions["max_homes"], strict=True))
        self.region_max = np.array(
            [np.inf if np.isnan(maxima.get(k, np.nan)) else float(maxima[k]) for k in keys] or [0.0]
        )
        self.region_load = np.zeros((len(self.region_max), Y))
        minima: dict[Any, float] = {}
        if not inst.regions.empty:
            minima = dict(zip(inst.regions["region_id"], inst.regions["min_homes"], strict=True))
        # homes a region still misses against its minimum in the last year (homes stay in it)
        self.region_missing = np.array(
            [0.0 if np.isnan(minima.get(k, np.nan)) else float(minima[k]) for k in keys] or [0.0]
        )
        self.group, keys = _codes(plots["group"])
        self.group_busy = np.zeros((max(len(keys), 1), Y), dtype=bool)
        # care: residual capacity per service and year (0 when closed)
        capacity = inst.services["capacity"].to_numpy(dtype=float)
        self.room = np.zeros((len(capacity), Y))
        for y, t in enumerate(self.years):
            open_now = service_open(inst, t)
            self.room[:, y] = np.where(open_now, np.nan_to_num(capacity, nan=np.inf), 0)
        self.reach: dict[tuple[int, str], list[int]] = defaultdict(list)
        pairs = inst.pairs.sort_values("distance_m", kind="stable")
        for p, j, kind in zip(pairs["plot"], pairs["service"], pairs["type"], strict=True):
            self.reach[(int(p), str(kind))].append(int(j))
        self.capable = np.array(
            [all(self.reach.get((q, kind)) for kind in self.types) for q in range(n)], dtype=bool
        )
        # the plan
        shape = (n, Y)
        self.k = np.zeros(shape, dtype=int)  # homes standing
        self.s = np.zeros(shape, dtype=int)  # support homes standing
        self.b, self.i, self.o = (np.zeros(shape, dtype=int) for _ in range(3))
        self.sb, self.si, self.so = (np.zeros(shape, dtype=int) for _ in range(3))
        self.start = np.full(n, np.nan)
        self.end = np.full(n, -1)  # year index of the project's last year
        self.targets = targets_of(inst)
        self.claims: dict[int, int] = {}  # plot -> year index its follow-on project starts
        self.kept: dict[int, list[list[tuple[int, int, float]]]] = defaultdict(list)  # care

    # -- rules --

    def _homes_room(self, q: int, y0: int, y1: int) -> int:
        """Homes (whole modules) q can take more in years y0..y1."""
        room = self.cap[q] - int(self.k[q, y0 : y1 + 1].max())
        if not np.isnan(self.fixed[q]):
            room = int(self.fixed[q]) - int(self.k[q, y0 : y1 + 1].max())
        b, r = self.buurt[q], self.region[q]
        if b >= 0:
            room = min(room, self.buurt_cap[b] - self.buurt_load[b, y0 : y1 + 1].max())
        if r >= 0:
            room = min(room, self.region_max[r] - self.region_load[r, y0 : y1 + 1].max())
        return max(0, math.floor(room + 1e-9) // self.m * self.m)

    def _care_room(self, q: int, y0: int, y1: int) -> float:
        if not self.types:
            return np.inf
        best = np.inf
        for kind in self.types:
            js = self.reach.get((q, kind), [])
            if not js:
                return 0.0
            best = min(best, float(self.room[js, y0 : y1 + 1].sum(axis=0).min()))
        return best

    def _reserve_care(self, q: int, amount: int, y0: int, y1: int) -> list[tuple[int, int, float]]:
        """Take care capacity for ``amount`` support homes on q in years y0..y1, nearest first;
        returns what was taken (service, year index, residents)."""
        taken = []
        for kind in self.types:
            for y in range(y0, y1 + 1):
                left = amount
                for j in self.reach[(q, kind)]:
                    take = min(left, self.room[j, y])
                    if take > 0:
                        self.room[j, y] -= take
                        taken.append((j, y, take))
                        left -= take
                    if left <= 0:
                        break
                assert left <= 0
        return taken

    def _support_room(self, q: int, homes_after: int, y0: int, y1: int) -> int:
        mix = math.floor(self.share * homes_after + 1e-9) - int(self.s[q, y0 : y1 + 1].max())
        care = self._care_room(q, y0, y1)
        return max(0, mix if care >= mix else math.floor(care + 1e-9))

    def _fresh_end(
        self, q: int, y: int, *, agreed: bool = False, claimed: bool = False
    ) -> int | None:
        """Year index of the last year a new project on q started in year index y stands."""
        w = self.windows[q]
        t = self.years[y]
        if w is None or not (w[0] <= t <= w[1]) or not np.isnan(self.start[q]):
            return None
        if not agreed and not np.isnan(self.fixed[q]):
            return None  # an agreed project starts only in _fixed
        if q in self.claims and not (claimed and self.claims[q] == y):
            return None  # kept for the homes of a project that ends the year before
        e = project_end(t, w, self.h.permit_years) - self.years[0]
        if q in self.banned and e != self.Y - 1:
            return None
        g = self.group[q]
        if g >= 0 and self.group_busy[g, y : e + 1].any():
            return None
        return e

    # -- changes --

    def _open(self, q: int, y: int, e: int) -> None:
        self.start[q] = self.years[y]
        self.end[q] = e
        if self.group[q] >= 0:
            self.group_busy[self.group[q], y : e + 1] = True

    def _add(self, q: int, y: int, homes: int, support: int, *, moved: bool) -> None:
        e = int(self.end[q])
        self.k[q, y : e + 1] += homes
        self.s[q, y : e + 1] += support
        if self.buurt[q] >= 0:
            self.buurt_load[self.buurt[q], y : e + 1] += homes
        if self.region[q] >= 0:
            self.region_load[self.region[q], y : e + 1] += homes
            if not moved:
                self.region_missing[self.region[q]] -= homes
        if support:
            self._reserve_care(q, support, y, e)
        if moved:
            self.i[q, y] += homes
            self.si[q, y] += support
        else:
            self.b[q, y] += homes
            self.sb[q, y] += support

    def _candidates(self, y: int, zone: str | None) -> list[tuple[int, int, bool]]:
        """(plot, last year index, fresh) that may take homes in year index y, best first."""
        out = []
        members = range(self.n) if zone is None else self._members[zone]
        for q in members:
            if np.isnan(self.start[q]):
                e = self._fresh_end(q, y, claimed=zone is not None)
                if e is not None:
                    out.append((q, e, True))
            elif self.years.index(int(self.start[q])) <= y <= self.end[q] and np.isnan(
                self.fixed[q]
            ):
                out.append((q, int(self.end[q]), False))
        out.sort(
            key=lambda c: (
                c[0] not in self.claims,
                -c[1],
                self.regions
                and (self.region[c[0]] < 0 or self.region_missing[self.region[c[0]]] <= 0),
                not self.capable[c[0]],
                c[2],
                -self.score[c[0]],
            )
        )
        return out

    def _follow_on(self, p: int, e: int, homes: int) -> tuple[int, int] | None:
        """An unused plot of p's zone that can take ``homes`` from year index e + 1 until the
        horizon ends: (plot, homes it takes), the largest first."""
        if e >= self.Y - 1:
            return None
        best = None
        for q in self._members[self.zone[p]]:
            if q == p or self._fresh_end(q, e + 1) != self.Y - 1:
                continue
            take = min(homes, self._homes_room(q, e + 1, self.Y - 1))
            if take < max(int(self.low[q]), self.m):
                continue
            if best is None or take > best[1] or (take == best[1] and q < best[0]):
                best = (q, take)
        return best

    # -- the walk --

    def run(self) -> dict[str, np.ndarray]:
        self._members: dict[str, list[int]] = defaultdict(list)
        for q in range(self.n):
            if self.windows[q] is not None:
                self._members[self.zone[q]].append(q)
        D = self.h.delivery_per_year
        for y, t in enumerate(self.years):
            standing = int(self.k[:, y - 1].sum()) if y else 0  # homes never leave
            later = [(year, n) for year, n in sorted(self.targets.items()) if year >= t]
            ceiling = min([self.inst.scenario.target_homes, *[n for _, n in later[:1]]])
            can = max(0, min(D, ceiling - standing)) // self.m * self.m
            can -= self._fixed(y, can)
            if y:
                can -= self._relocate(y, can)
            if later:
                year, n = later[0]
                goal = n - int(self.k[:, y].sum()) - int(self.slack * D) * (year - t)
                goal = max(0, min(can, goal)) // self.m * self.m
                self._build(y, goal)
            self._mix(y)
        a = {
            "homes": self.k,
            "support": self.s,
            "built": self.b,
            "moved_in": self.i,
            "moved_out": self.o,
            "support_built": self.sb,
            "support_in": self.si,
            "support_out": self.so,
            "start_year": self.start,
        }
        return a

    def _fixed(self, y: int, can: int) -> int:
        """Agreed projects start in the first year of their window."""
        used = 0
        for q in np.flatnonzero(~np.isnan(self.fixed)):
            w = self.windows[q]
            if w is None or w[0] != self.years[y] or not np.isnan(self.start[q]):
                continue
            e = self._fresh_end(q, y, agreed=True)
            homes = int(self.fixed[q])
            if e is None or homes > can - used or self._homes_room(q, y, e) < homes:
                raise _Failed(set())
            self._open(int(q), y, e)
            sup = min(self._support_room(q, homes, y, e), math.ceil(self.min_share * homes))
            self._add(int(q), y, homes, sup, moved=False)
            used += homes
        return used

    def _relocate(self, y: int, can: int) -> int:
        """Move the homes of projects that ended last year; returns homes built as top-up."""
        for taken in self.kept.pop(y, []):  # care kept for the support homes that move now
            for j, yy, amount in taken:
                self.room[j, yy] += amount
        pools: dict[str, list[int]] = defaultdict(list)
        for p in np.flatnonzero(self.end == y - 1):
            if self.k[p, y - 1]:
                self.o[p, y] = self.k[p, y - 1]
                self.so[p, y] = self.s[p, y - 1]
                pools[self.zone[p]].append(int(p))
        built = 0
        for z, origins in pools.items():
            homes = int(sum(self.o[p, y] for p in origins))
            support = int(sum(self.so[p, y] for p in origins))
            for q, e, fresh in self._candidates(y, z):
                if not homes:
                    break
                room = self._homes_room(q, y, e)
                take = min(room, homes)
                topup = 0
                if fresh:
                    low = -(-max(int(self.low[q]), self.m) // self.m) * self.m
                    if take < low:
                        topup = low - take
                        if topup > can - built or room < low:
                            continue
                if take + topup <= 0:
                    continue
                if e < self.Y - 1:
                    # these homes move again: only to a new project with its own follow-on
                    follow = self._follow_on(q, e, take + topup) if fresh else None
                    if follow is None or follow[1] < take + topup:
                        continue
                    self.claims[follow[0]] = e + 1
                # support first, as much as fits, but never more than the homes it moves with
                after = int(self.k[q, y : e + 1].max()) + take + topup
                sup = min(support, take, self._support_room(q, after, y, e))
                # what is left must still fit: each remaining home takes at most share support
                if fresh:
                    self._open(q, y, e)
                self._add(q, y, take, sup, moved=True)
                if topup:
                    self._add(q, y, topup, 0, moved=False)
                    built += topup
                homes -= take
                support -= sup
            if homes or support:
                raise _Failed(set(origins))
        return built

    def _build(self, y: int, goal: int) -> None:
        left = goal
        for q, e, fresh in self._candidates(y, None):
            if left <= 0:
                break
            room = self._homes_room(q, y, e)
            take = min(room, left)
            if fresh:
                low = -(-max(int(self.low[q]), self.m) // self.m) * self.m
                if take < low:
                    continue
            elif e < self.Y - 1:
                continue  # its homes move: only new projects, each with a follow-on plot
            if take <= 0:
                continue
            if e < self.Y - 1:
                follow = self._follow_on(q, e, take)
                if follow is None:
                    continue
                take = follow[1] // self.m * self.m
                if take < low:
                    continue
            after = int(self.k[q, y : e + 1].max()) + take
            total = int(self.k[:, y].sum()) + take
            need = math.ceil(self.min_share * total - 1e-9) - int(self.s[:, y].sum())
            sup = min(take, max(0, need), self._support_room(q, after, y, e))
            if e < self.Y - 1:  # the support homes move with their residents
                sup = min(sup, self._support_room(follow[0], take, e + 1, self.Y - 1))
            if sup < need:
                # no more support here: only as many homes as the year's mix allows
                fit = int(self.s[:, y].sum()) + sup
                if self.min_share > 0:
                    most = math.floor(fit / self.min_share + 1e-9) - int(self.k[:, y].sum())
                    take = min(take, max(0, most)) // self.m * self.m
                if take <= 0 or (fresh and take < low):
                    continue
                after = int(self.k[q, y : e + 1].max()) + take  # fewer homes: less support
                sup = min(sup, take, self._support_room(q, after, y, e))
                if e < self.Y - 1:
                    sup = min(sup, self._support_room(follow[0], take, e + 1, self.Y - 1))
            if e < self.Y - 1:
                self.claims[follow[0]] = e + 1
                if sup:
                    self.kept[e + 1].append(self._reserve_care(follow[0], sup, e + 1, self.Y - 1))
            if fresh:
                self._open(q, y, e)
            self._add(q, y, take, sup, moved=False)
            left -= take

    def _mix(self, y: int) -> None:
        """Top up support on this year's new homes until the year's minimum share is met."""
        need = math.ceil(self.min_share * int(self.k[:, y].sum()) - 1e-9) - int(self.s[:, y].sum())
        for q in np.flatnonzero(self.b[:, y]):
            if need <= 0:
                return
            e = int(self.end[q])
            extra = min(
                need,
                int(self.b[q, y]) - int(self.sb[q, y]),
                self._support_room(q, int(self.k[q, y : e + 1].max()), y, e),
            )
            if extra > 0:
                self.s[q, y : e + 1] += extra
                self.sb[q, y] += extra
                self._reserve_care(q, extra, y, e)
                need -= extra
        if need > 0:
            raise _Failed(set(np.flatnonzero(self.b[:, y]).tolist()))
