"""A greedy allocation that keeps every rule: a peer for the benchmark and a warm start.

Plots are visited best first (highest suitability, or lowest cost per home with the fixed cost
spread over the capacity). Every step keeps the partial allocation valid, so the heuristic never
has to repair a broken rule at the end:

1. agreed projects (``fixed_homes``) are placed first, exactly;
2. region demand goes to the cheapest listed plot with room, opening plots as needed;
3. each region's minimum is filled with its best plots;
4. global passes grow plots best first until the target is reached or nothing grows;
5. a remainder below every unused plot's minimum is made room for by shrinking worse plots.

Support homes go on each plot up to ``floor(max_share_per_plot x homes)`` as far as the services
of every required type in reach have room (nearest first). A step may not push the support share
below ``min_share`` (or deeper below it, after a forced step), which is what keeps it valid.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.arrays import flagged_before, run_starts
from planner.instance import Instance
from planner.model import evaluate_objective
from planner.result import Result

EPS = 1e-9
REPAIR_TRIES = 100


def _ids(values: object) -> list[str | None]:
    """Ids as strings, None for missing ones (None, NaN or '')."""
    return [v if isinstance(v, str) and v else None for v in values]  # type: ignore[attr-defined]


def _index(values: object, known: list[str]) -> np.ndarray:
    """Position of each id in ``known``; -1 when missing or unknown. Looked up at once where
    ``known`` has no duplicates (ids of a table; one per plot was 4 ms at 5,000 plots)."""
    lookup = pd.Index(known, dtype=object)
    if lookup.is_unique:
        cells = pd.Series(values).to_numpy(dtype=object)
        found = lookup.get_indexer(cells).astype(int)  # missing and other types: -1
        found[cells == ""] = -1
        return found
    where = {k: i for i, k in enumerate(known)}  # the last of equal ids, as before
    return np.array([where.get(v, -1) if v else -1 for v in _ids(values)], dtype=int)


@dataclass
class _State:
    """Everything a step changes, in one place so a tentative repair can be rolled back."""

    homes: np.ndarray
    support: np.ndarray
    buurt_load: np.ndarray
    region_load: np.ndarray
    group_used: np.ndarray
    residual: np.ndarray
    into: np.ndarray
    assign: dict[tuple[int, int, str], int] = field(default_factory=dict)
    flow: dict[tuple[str, int], int] = field(default_factory=dict)
    total: int = 0
    total_support: int = 0
    cost: float = 0.0


def _sorted(keys: tuple[np.ndarray, ...]) -> bool:
    """Whether rows are in np.lexsort order of ``keys`` (last key primary)."""
    if len(keys[0]) < 2:
        return True
    ahead = np.zeros(len(keys[0]) - 1, dtype=bool)  # decided: strictly increasing on a key
    for key in reversed(keys):
        if np.any(~ahead & (key[1:] < key[:-1])):
            return False
        ahead |= key[1:] > key[:-1]
    return True


class _Reach:
    """Per plot, its required types' services in reach as {type: [(service, distance), ...]},
    nearest first; each plot's lists made when first asked for. A re-run's repair and most
    fills look at a few hundred of the plots, and making the lists of all 5,000 up front was
    half the greedy's time (0.03 s)."""

    def __init__(
        self,
        n_plots: int,
        kinds: list[str],
        plot: np.ndarray,
        service: np.ndarray,
        distance: np.ndarray,
        codes: np.ndarray,
    ) -> None:
        self.kinds = kinds
        self.service, self.distance, self.codes = service, distance, codes
        start = np.ones(len(plot), dtype=bool)  # runs of one (plot, type), sorted by plot
        start[1:] = (plot[1:] != plot[:-1]) | (codes[1:] != codes[:-1])
        self.run_start = np.flatnonzero(start)
        self.run_end = np.append(self.run_start[1:], len(plot))[: len(self.run_start)]
        self.run_plot = plot[self.run_start]
        self.first_run = np.searchsorted(self.run_plot, np.arange(n_plots + 1))
        self.made: dict[int, dict[str, list[tuple[int, float]]]] = {}

    def __getitem__(self, p: int) -> dict[str, list[tuple[int, float]]]:
        lists = self.made.get(p)
        if lists is None:
            lists = {}
            for r in range(int(self.first_run[p]), int(self.first_run[p + 1])):
                a, b = int(self.run_start[r]), int(self.run_end[r])
                lists[self.kinds[int(self.codes[a])]] = list(
                    zip(self.service[a:b].tolist(), self.distance[a:b].tolist(), strict=True)
                )
            self.made[p] = lists
        return lists

    def has_every(self, types: tuple[str, ...] | list[str]) -> np.ndarray:
        """Per plot, whether every one of ``types`` has a service in reach."""
        wanted = {self.kinds.index(t) for t in set(types) if t in self.kinds}
        if len(wanted) < len(set(types)):
            return np.zeros(len(self.first_run) - 1, dtype=bool)
        hit = np.isin(self.codes[self.run_start], list(wanted))
        counts = np.bincount(self.run_plot[hit], minlength=len(self.first_run) - 1)
        return counts == len(wanted)


class _Greedy:
    """The greedy's tables (read-only) and state; see the module docstring for the phases."""

    def __init__(self, inst: Instance) -> None:
        self.inst = inst
        plots = inst.plots
        sc = inst.scenario
        self.m = inst.module
        fixed = plots["fixed_homes"].to_numpy(dtype=float)
        self.fixed = ~np.isnan(fixed)
        self.cap = np.where(self.fixed, np.nan_to_num(fixed), plots["capacity"]).astype(int)
        low = np.maximum(plots["min_homes"].to_numpy(dtype=int), self.m)
        low = -(-low // self.m) * self.m
        self.low = np.where(self.fixed, self.cap, low).astype(int)
        self.eligible = plots["eligible"].to_numpy(dtype=bool)
        self.fixed_cost = plots["fixed_cost"].to_numpy(dtype=float)
        self.cph = plots["cost_per_home"].to_numpy(dtype=float)
        self.budget = math.inf if sc.budget_eur is None else float(sc.budget_eur)
        self.target = int(sc.target_homes)
        self.limit = self.target
        self.min_share = float(sc.support.min_share)
        self.max_share = float(sc.support.max_share_per_plot)
        self.types = inst.support_types
        self.buurt = _index(plots["buurt_id"], inst.buurten["buurt_id"].astype(str).tolist())
        self.buurt_cap = inst.buurten["cap"].to_numpy(dtype=float)
        regions = inst.regions
        self.region = _index(plots["region_id"], regions["region_id"].astype(str).tolist())
        self.region_min = np.nan_to_num(regions["min_homes"].to_numpy(dtype=float), nan=0.0)
        self.region_max = np.nan_to_num(regions["max_homes"].to_numpy(dtype=float), nan=math.inf)
        groups = sorted({g for g in _ids(plots["group"]) if g})
        self.group = _index(plots["group"], groups)
        self.reach = self._reach_lists()
        self.support_ok = self.eligible & self.reach.has_every(self.types)
        self.per_home = self._per_home_cost()
        self.order = self._priority()
        self.demand_met = True
        capacity = inst.services["capacity"].to_numpy(dtype=float)
        self.s = _State(
            homes=np.zeros(len(plots), dtype=int),
            support=np.zeros(len(plots), dtype=int),
            buurt_load=np.zeros(len(inst.buurten)),
            region_load=np.zeros(len(regions)),
            group_used=np.zeros(len(groups), dtype=int),
            residual=np.where(np.isnan(capacity), math.inf, capacity),
            into=np.zeros(len(plots), dtype=int),
        )

    # ------------------------------------------------------------------ tables

    def _reach_lists(self) -> _Reach:
        """Per plot and required type: the services in reach, nearest first."""
        pairs = self.inst.pairs
        codes, found = pd.factorize(pairs["type"], sort=True)  # Arrow's, without Python strs
        kinds = [str(k) for k in found]
        wanted = np.isin(codes, [i for i, k in enumerate(kinds) if k in set(self.types)])
        codes = codes[wanted]
        plot = pairs["plot"].to_numpy(dtype=np.int64)[wanted]
        service = pairs["service"].to_numpy(dtype=np.int64)[wanted]
        distance = pairs["distance_m"].to_numpy(dtype=float)[wanted]
        keys = (service, distance, codes, plot)
        if not _sorted(keys):  # the reach stage sorts them so already; this is a safeguard
            order = np.lexsort(keys)
            plot, service, distance, codes = (
                plot[order],
                service[order],
                distance[order],
                codes[order],
            )
        # One run per (plot, type), nearest first. Services beyond the nearest one without a
        # capacity limit are never needed (it takes everyone), so each run stops there.
        unlimited = np.isnan(self.inst.services["capacity"].to_numpy(dtype=float))[service]
        keep = flagged_before(run_starts(plot, codes), unlimited) == 0
        plot, service, distance, codes = plot[keep], service[keep], distance[keep], codes[keep]
        return _Reach(len(self.cap), kinds, plot, service, distance, codes)

    def _per_home_cost(self) -> np.ndarray:
        """Cost per home on a full plot: the fixed cost spread over the capacity."""
        cap = np.maximum(self.cap, 1)
        return self.fixed_cost / cap + self.cph

    def _priority(self) -> list[int]:
        """Eligible plots, best first (ties by position, so the result is deterministic)."""
        if self.inst.scenario.objective == "min_cost":
            key = self._per_home_cost()
        else:
            key = -self.inst.plots["suitability"].to_numpy(dtype=float)
        ranked = np.lexsort((np.arange(len(key)), key))
        return [int(p) for p in ranked if self.eligible[p]]

    # ------------------------------------------------------------- primitives

    def _ceil_m(self, value: float) -> int:
        return math.ceil(value / self.m - EPS) * self.m

    def _slack(self) -> float:
        return self.s.total_support - self.min_share * self.s.total + EPS

    def _avail(self, p: int) -> float:
        """Support residents plot p could still take: the tightest required type."""
        if not self.types:
            return math.inf
        if not self.support_ok[p]:
            return 0.0
        res = self.s.residual
        return min(sum(res[j] for j, _ in self.reach[p][t]) for t in self.types)

    def _support_room(self, p: int, homes: int) -> int:
        """Extra support homes plot p would get at ``homes`` homes."""
        if self.min_share <= 0:
            return 0
        want = math.floor(self.max_share * homes + EPS) - int(self.s.support[p])
        return int(max(0, min(want, self._avail(p))))

    def _ceiling(self, p: int) -> int:
        """Most homes plot p may hold now, ignoring the support share (0 if it may not open)."""
        s = self.s
        h0 = int(s.homes[p])
        hi = float(self.cap[p])
        if self.buurt[p] >= 0:
            hi = min(hi, h0 + self.buurt_cap[self.buurt[p]] - s.buurt_load[self.buurt[p]])
        if self.region[p] >= 0:
            hi = min(hi, h0 + self.region_max[self.region[p]] - s.region_load[self.region[p]])
        hi = min(hi, h0 + self.limit - s.total)
        money = self.budget - s.cost - (self.fixed_cost[p] if h0 == 0 else 0.0)
        if money < -EPS * max(1.0, self.budget):
            return h0
        if self.cph[p] > 0 and math.isfinite(money):
            hi = min(hi, h0 + math.floor(money / self.cph[p] + EPS))
        top = math.floor(hi + EPS) // self.m * self.m
        if h0 == 0 and (top < self.low[p] or self._group_taken(p)):
            return 0
        return max(top, h0)

    def _group_taken(self, p: int) -> bool:
        return self.group[p] >= 0 and self.s.group_used[self.group[p]] > 0

    def _share_ok(self, p: int, homes: int, floor: float) -> bool:
        grow = homes - int(self.s.homes[p])
        after = self._slack() + self._support_room(p, homes) - self.min_share * grow
        return after >= floor - EPS

    def _best(self, p: int, upto: float = math.inf) -> int:
        """Most homes (<= upto) plot p can hold without a rule or the share getting worse."""
        h0 = int(self.s.homes[p])
        if self.fixed[p] or not self.eligible[p]:
            return h0
        top = min(self._ceiling(p), int(min(upto, self.cap[p])))
        lowest = h0 + self.m if h0 else int(self.low[p])
        floor = min(0.0, self._slack())
        for h in range(top // self.m * self.m, lowest - 1, -self.m):
            if self._share_ok(p, h, floor):
                return h
        return h0

    def _set_homes(self, p: int, homes: int) -> None:
        """Change the homes of plot p with every load and cost; support follows."""
        s = self.s
        h0 = int(s.homes[p])
        delta = homes - h0
        if h0 == 0 and homes > 0:
            s.cost += self.fixed_cost[p]
            if self.group[p] >= 0:
                s.group_used[self.group[p]] += 1
        if h0 > 0 and homes == 0:
            s.cost -= self.fixed_cost[p]
            if self.group[p] >= 0:
                s.group_used[self.group[p]] -= 1
        s.cost += self.cph[p] * delta
        if self.buurt[p] >= 0:
            s.buurt_load[self.buurt[p]] += delta
        if self.region[p] >= 0:
            s.region_load[self.region[p]] += delta
        s.total += delta
        s.homes[p] = homes
        excess = int(s.support[p]) - math.floor(self.max_share * homes + EPS)
        if excess > 0:
            self._release_support(p, excess)
        self._add_support(p)

    def _add_support(self, p: int) -> None:
        """Support homes on plot p up to its share, each type to the nearest services with room."""
        k = self._support_room(p, int(self.s.homes[p]))
        if k <= 0:
            return
        for kind in self.types:
            left = k
            for j, _ in self.reach[p][kind]:
                take = int(min(left, self.s.residual[j]))
                if take > 0:
                    self.s.residual[j] -= take
                    key = (p, j, kind)
                    self.s.assign[key] = self.s.assign.get(key, 0) + take
                    left -= take
                if left == 0:
                    break
        self.s.support[p] += k
        self.s.total_support += k

    def _release_support(self, p: int, k: int) -> None:
        """Drop k support homes of plot p, freeing the farthest assignments first."""
        for kind in self.types:
            left = k
            for j, _ in reversed(self.reach[p][kind]):
                got = self.s.assign.get((p, j, kind), 0)
                take = min(left, got)
                if take > 0:
                    self.s.residual[j] += take
                    self.s.assign[(p, j, kind)] = got - take
                    left -= take
                if left == 0:
                    break
        self.s.support[p] -= k
        self.s.total_support -= k

    def _floor(self, p: int) -> int:
        """Fewest homes plot p may shrink to: its minimum, its flows and its region's minimum."""
        h0 = int(self.s.homes[p])
        if self.fixed[p] or h0 == 0:
            return h0
        low = max(int(self.low[p]), self._ceil_m(self.s.into[p]))
        r = self.region[p]
        if r >= 0:
            spare = self.s.region_load[r] - self.region_min[r]
            low = max(low, self._ceil_m(h0 - spare))
        return min(h0, low)

    # ----------------------------------------------------------------- phases

    def place_fixed(self) -> bool:
        """Agreed projects, exactly; False when they already break a rule."""
        for p in np.flatnonzero(self.fixed & (self.cap > 0)).tolist():
            if not self.eligible[p] or self._ceiling(p) < self.cap[p]:
                return False
            self._set_homes(p, int(self.cap[p]))
        return True

    def serve_demand(self) -> bool:
        """Each region's demand on the cheapest listed plots; False when some is left unserved."""
        regions = self.inst.regions
        demand = dict(zip(regions["region_id"].astype(str), regions["demand"], strict=True))
        travel = self.inst.travel
        options: dict[str, list[tuple[int, float]]] = {}
        for r, p, c in travel[["region_id", "plot", "cost_per_home"]].itertuples(
            index=False, name=None
        ):
            if self.eligible[int(p)]:
                options.setdefault(str(r), []).append((int(p), float(c)))
        served = True
        needy = [r for r, d in demand.items() if not np.isnan(d) and d > 0]
        for r in sorted(needy, key=lambda r: (len(options.get(r, [])), -demand[r], r)):
            served &= self._serve_region(r, round(demand[r]), options.get(r, []))
        self.demand_met = served
        return served

    def _serve_region(self, region_id: str, amount: int, options: list[tuple[int, float]]) -> bool:
        left = amount
        tried: set[int] = set()
        while left > 0:
            ranked = sorted(
                (o for o in options if o[0] not in tried), key=lambda o: self._flow_key(*o)
            )
            if not ranked:
                return False
            p, c = ranked[0]
            tried.add(p)
            left -= self._send(region_id, p, c, left)
        return True

    def _flow_key(self, p: int, travel_cost: float) -> tuple[float, ...]:
        """Cheapest per home first for min_cost; most suitable (then cheapest) otherwise."""
        free = self.s.homes[p] - self.s.into[p]
        plot_cost = 0.0 if free > 0 else float(self.per_home[p])
        if self.inst.scenario.objective == "min_cost":
            return (travel_cost + plot_cost, p)
        return (-float(self.inst.plots["suitability"].iat[p]), travel_cost, p)

    def _send(self, region_id: str, p: int, travel_cost: float, amount: int) -> int:
        """Route up to ``amount`` of demand to plot p, growing it as needed; how much went."""
        s = self.s
        h0 = int(s.homes[p])
        top = h0 if self.fixed[p] else self._ceiling(p)
        floor = min(0.0, self._slack())
        for a in range(min(amount, top - int(s.into[p])), 0, -1):
            need = max(h0, self._ceil_m(s.into[p] + a))
            if need > h0:
                need = max(need, int(self.low[p]))
                if need > top or not self._share_ok(p, need, floor):
                    continue
            extra = self.cph[p] * (need - h0) + travel_cost * a
            if h0 == 0:
                extra += self.fixed_cost[p]
            if s.cost + extra <= self.budget * (1 + 1e-9):
                if need > h0:
                    self._set_homes(p, need)
                s.cost += travel_cost * a
                s.into[p] += a
                key = (region_id, p)
                s.flow[key] = s.flow.get(key, 0) + a
                return a
        return 0

    def place_seed(self, seed: dict[int, int]) -> None:
        """An earlier allocation's homes (plot index -> homes), best plots first, each as far as
        the rules allow here: what a re-run after a small change starts from."""
        for p in self.order:
            want = int(seed.get(p, 0))
            if want > 0 and not self.fixed[p]:
                h = self._best(p, upto=want)
                if h > self.s.homes[p]:
                    self._set_homes(p, h)

    def fill_region_minimums(self) -> None:
        """Each region up to its minimum with its best plots (not beyond what it needs)."""
        members: dict[int, list[int]] = {}  # per region its plots, best first (one pass)
        for p, r in zip(self.order, self.region[self.order].tolist(), strict=True):
            members.setdefault(r, []).append(p)
        for r in np.flatnonzero(self.region_min > 0).tolist():
            self._passes(members.get(r, []), lambda r=r: self.region_min[r] - self.s.region_load[r])

    def fill_target(self) -> None:
        """Best plots first until the target is reached or no plot can grow."""
        self._passes(self.order, lambda: self.limit - self.s.total)

    def _passes(self, plots: list[int], need: Callable[[], float]) -> None:
        """Grow plots in order, pass after pass, while ``need()`` is positive and one grows."""
        progress = True
        while progress and need() > 0:
            progress = False
            for p in plots:
                short = need()
                if short <= 0:
                    return
                h0 = int(self.s.homes[p])
                h = self._best(p, upto=max(h0 + self._ceil_m(short), self.low[p]))
                if h > h0:
                    self._set_homes(p, h)
                    progress = True

    def repair_remainder(self) -> None:
        """A remainder below every unused plot's minimum: shrink worse plots to open one."""
        tries = 0
        for q in self.order:
            short = self.limit - self.s.total
            if short <= 0 or tries >= REPAIR_TRIES:
                return
            a = int(self.low[q])
            if self.s.homes[q] or self.fixed[q] or a <= short or a > self.cap[q]:
                continue
            if self._group_taken(q) or (a - short) % self.m:
                continue
            tries += 1
            before = copy.deepcopy(self.s)
            if self._shrink_others(a - short, q) and self._best(q, upto=a) == a:
                self._set_homes(q, a)
                if self._slack() >= min(0.0, before.total_support - self.min_share * before.total):
                    continue
            self.s = before

    def _shrink_others(self, amount: int, keep: int) -> bool:
        """Take ``amount`` homes off the worst used plots (other than ``keep``)."""
        left = amount
        for p in reversed(self.order):
            if left <= 0:
                break
            if p == keep or self.s.homes[p] == 0:
                continue
            h0 = int(self.s.homes[p])
            cut = min(left, h0 - self._floor(p)) // self.m * self.m
            if cut > 0:
                self._set_homes(p, h0 - cut)
                left -= cut
        return left <= 0

    def restore_share(self) -> None:
        """After forced steps left the share short: top up support, then shrink worst plots."""
        for p in self.order:
            if self.s.homes[p]:
                self._add_support(p)
        for p in reversed(self.order):
            while self._slack() < 0 and self.s.homes[p] > self._floor(p):
                self._set_homes(p, max(int(self.s.homes[p]) - self.m, self._floor(p)))

    # ----------------------------------------------------------------- result

    def valid_so_far(self) -> bool:
        """The rules a greedy step may fail to reach: region minimums, demand and the share."""
        short_region = bool((self.s.region_load < self.region_min - EPS).any())
        unserved = not self.demand_met and self.s.total >= self.target
        return not short_region and not unserved and self._slack() >= 0

    def assignments(self) -> pd.DataFrame:
        rows = [
            {"plot": p, "service": j, "type": kind, "residents": n, "distance_m": self._dist(p, j)}
            for (p, j, kind), n in sorted(self.s.assign.items())
            if n > 0
        ]
        return pd.DataFrame(rows, columns=["plot", "service", "type", "residents", "distance_m"])

    def _dist(self, p: int, j: int) -> float:
        return min(d for kind in self.types for jj, d in self.reach[p][kind] if jj == j)

    def flows(self) -> pd.DataFrame:
        cost = {
            (str(r), int(p)): float(c)
            for r, p, c in self.inst.travel[["region_id", "plot", "cost_per_home"]].itertuples(
                index=False, name=None
            )
        }
        rows = [
            {"region_id": r, "plot": p, "homes": n, "cost_per_home": cost[(r, p)]}
            for (r, p), n in sorted(self.s.flow.items())
            if n > 0
        ]
        return pd.DataFrame(rows, columns=["region_id", "plot", "homes", "cost_per_home"])


def _run(g: _Greedy, seed: dict[int, int] | None = None) -> bool:
    """All phases in order; False when the greedy found no allocation that keeps every rule."""
    if not g.place_fixed():
        return False
    if not g.serve_demand():
        g.limit = g.target - 1  # unserved demand is only allowed in a SHORTFALL
    if seed:
        g.place_seed(seed)
    g.fill_region_minimums()
    g.fill_target()
    g.repair_remainder()
    if g._slack() < 0:
        g.restore_share()
    return g.valid_so_far()


def greedy_allocation(inst: Instance, seed: dict[int, int] | None = None) -> Result:
    """Best suitability (or lowest cost per home) first, every rule kept at every step.

    ``seed`` (plot index -> homes) is an earlier allocation to place first, as far as the rules
    allow, before the usual passes complete it (a re-run's repaired warm start).
    Returns status FEASIBLE at the target, SHORTFALL with as many homes as the greedy placed,
    or INFEASIBLE (nothing placed) when it cannot even keep the fixed projects, region minimums
    and support share. No bound: ``best_bound`` and ``gap`` are None.
    """
    started = time.perf_counter()
    g = _Greedy(inst)
    ok = _run(g, seed)
    target = g.target
    explanation: list[str] = []
    if not ok:
        g = _Greedy(inst)
        status = "INFEASIBLE"
        explanation = ["greedy heuristic found no allocation that keeps every rule"]
    elif g.s.total == target:
        status = "FEASIBLE"
    else:
        status = "SHORTFALL"
        explanation = [f"greedy heuristic placed {g.s.total} of {target} homes"]
    flows = g.flows()
    homes = g.s.homes.copy()
    return Result(
        status=status,
        homes=homes,
        support=g.s.support.copy(),
        assignments=g.assignments(),
        flows=flows,
        objective=None if status == "INFEASIBLE" else evaluate_objective(inst, homes, flows),
        best_bound=None,
        gap=None,
        solve_seconds=time.perf_counter() - started,
        solver="greedy",
        explanation=explanation,
    )
