"""Plain-language reasons: why a plot was not used, and why the target was not met.

A planner must be able to defend the result. For a SHORTFALL each rule family is left out in turn
and the most homes possible is solved again: the families whose relaxation adds homes are the ones
that bind, and the report names where (buurten at their cap, services at capacity, regions at
their bounds).
"""

from __future__ import annotations

import itertools
import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner.instance import Instance, sum_by
from planner.model import FEASIBLE, Built, SolveOptions, build, solve_built
from planner.model.constraints import FAMILIES
from planner.result import Result

if TYPE_CHECKING:
    from planner.why_unused import Pricing

log = logging.getLogger(__name__)

FAMILY_TEXT = {
    "min_homes": "the minimum project size per plot",
    "care_reach": "care reach (every support home needs each required service type in reach)",
    "service_capacity": "the capacity of care services",
    "support_share": "the minimum share of support homes",
    "plot_mix": "the maximum share of support homes per project",
    "neighbourhood": "the cap on flex homes per buurt",
    "region_bounds": "the regional minimum/maximum homes",
    "demand": "region demand served over listed travel pairs",
    "groups": "exclusive groups of alternative plots",
    "budget": "the budget",
}


def _buurt_load(inst: Instance, homes: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"buurt_id": inst.plots["buurt_id"], "homes": homes})
    load = frame.dropna(subset=["buurt_id"]).groupby("buurt_id")["homes"].sum()
    table = inst.buurten.set_index("buurt_id")[["cap"]].copy()
    table["homes"] = load.reindex(table.index).fillna(0).astype(int)
    return table


def _region_load(inst: Instance, homes: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({"region_id": inst.plots["region_id"], "homes": homes})
    load = frame.dropna(subset=["region_id"]).groupby("region_id")["homes"].sum()
    table = inst.regions.set_index("region_id")[["min_homes", "max_homes"]].copy()
    table["homes"] = load.reindex(table.index).fillna(0).astype(int)
    return table


def _service_load(inst: Instance, result: Result) -> pd.Series:
    load = result.assignments.groupby("service")["residents"].sum()
    return load.reindex(range(len(inst.services))).fillna(0).astype(int)


def plot_reasons(inst: Instance, result: Result) -> list[str | None]:
    """The main reason each unused plot was not used (None for used plots).

    Read from the model's LP prices (planner.why_unused); when that LP cannot be solved (or
    there is no allocation to price), rule checks against the allocation stand in, logged.
    """
    return priced_plot_reasons(inst, result)[0]


def priced_plot_reasons(
    inst: Instance,
    result: Result,
    main: Built | None = None,
    earlier: Pricing | None = None,
) -> tuple[list[str | None], Pricing | None]:
    """``plot_reasons`` and the final pricing LP (None when rule checks stood in); ``main`` and
    ``earlier`` as in planner.why_unused.why_unused_priced."""
    from planner.why_unused import why_unused_priced

    if result.status in ("OPTIMAL", "FEASIBLE", "SHORTFALL"):
        try:
            whys, pricing = why_unused_priced(inst, result, main, earlier)
            return [why.text if why is not None else None for why in whys], pricing
        except Exception as exc:
            log.warning("plot reasons: the pricing LP failed (%s); using rule checks", exc)
    else:
        log.info("plot reasons: no allocation to price (%s); using rule checks", result.status)
    return rule_reasons(inst, result), None


def rule_reasons(inst: Instance, result: Result) -> list[str | None]:
    """Reasons from rule checks against the allocation (the fallback of plot_reasons)."""
    plots = inst.plots
    homes = result.homes
    buurt = _buurt_load(inst, homes) if not inst.buurten.empty else None
    region = _region_load(inst, homes) if not inst.regions.empty else None
    used_groups = {
        g: pid
        for g, pid, h in zip(plots["group"], plots["plot_id"], homes, strict=True)
        if isinstance(g, str) and g and h > 0
    }
    used_scores = plots["suitability"].to_numpy()[homes > 0]
    worst_used = float(used_scores.min()) if len(used_scores) else None
    reasons: list[str | None] = []
    for p, row in enumerate(plots.itertuples(index=False)):
        if homes[p] > 0:
            reasons.append(None)
        elif not row.eligible:
            reasons.append(f"not eligible: {row.reason}")
        elif isinstance(row.group, str) and row.group in used_groups:
            reasons.append(
                f"alternative to plot {used_groups[row.group]} (group {row.group}), which is used"
            )
        elif (
            buurt is not None
            and row.buurt_id in buurt.index
            and (buurt.at[row.buurt_id, "homes"] + row.min_homes > buurt.at[row.buurt_id, "cap"])
        ):
            b = buurt.loc[row.buurt_id]
            reasons.append(
                f"buurt {row.buurt_id} has no room for a project of {row.min_homes}: "
                f"{int(b['homes'])} of {int(b['cap'])} flex homes allowed are used"
            )
        elif (
            region is not None
            and row.region_id in region.index
            and (
                region.at[row.region_id, "homes"]
                >= (region.at[row.region_id, "max_homes"] or np.inf)
            )
        ):
            reasons.append(f"region {row.region_id} is at its maximum of homes")
        elif inst.scenario.objective == "min_cost":
            reasons.append("costlier than the plots used")
        elif worst_used is not None and row.suitability < worst_used:
            reasons.append(
                f"lower suitability ({row.suitability:.2f}) than every plot used "
                f"(lowest used {worst_used:.2f})"
            )
        else:
            reasons.append("not needed: the target is met with more suitable combinations")
    return reasons


def _listed(label: str, items: list[str]) -> str:
    if not items:
        return ""
    more = f" and {len(items) - 10} more" if len(items) > 10 else ""
    return f"{label}: {', '.join(items[:10])}{more}"


def _region_room(inst: Instance) -> pd.Series:
    """Most homes each region could hold: eligible plots whose buurt cap admits a project,
    with each buurt's total capped."""
    plots = inst.plots
    cap = dict(zip(inst.buurten["buurt_id"], inst.buurten["cap"], strict=True))
    buurt_cap = plots["buurt_id"].map(
        lambda b: cap.get(b, np.inf) if isinstance(b, str) else np.inf
    )
    usable = plots["eligible"] & (buurt_cap >= plots["min_homes"])
    frame = pd.DataFrame(
        {
            "region_id": plots["region_id"],
            "buurt": plots["buurt_id"].where(
                plots["buurt_id"].map(lambda b: isinstance(b, str)), plots["plot_id"]
            ),
            "homes": plots["capacity"].where(usable, 0),
            "cap": buurt_cap,
        }
    )
    frame = frame[frame["region_id"].map(lambda r: isinstance(r, str))]
    per_buurt = frame.groupby(["region_id", "buurt"]).agg(
        homes=("homes", "sum"), cap=("cap", "first")
    )
    per_buurt["room"] = np.minimum(per_buurt["homes"], per_buurt["cap"])
    return per_buurt.groupby(level="region_id")["room"].sum()


def _smallest_project(inst: Instance, region_id: str) -> float:
    plots = inst.plots
    mask = (plots["region_id"] == region_id) & plots["eligible"]
    return float(plots.loc[mask, "min_homes"].min()) if mask.any() else np.inf


def _fixed_conflicts(inst: Instance) -> list[str]:
    """Agreed projects (fixed_homes) that alone break a buurt cap, region maximum or group."""
    plots = inst.plots
    fixed = plots["fixed_homes"].fillna(0).to_numpy()
    lines = []
    if not inst.buurten.empty:
        load = sum_by(plots["buurt_id"], fixed)
        cap = inst.buurten.set_index("buurt_id")["cap"]
        for buurt, homes in load.items():
            if homes > cap.get(buurt, np.inf):
                lines.append(
                    f"The agreed projects in buurt {buurt} hold {int(homes)} homes, more than its "
                    f"cap of {int(cap[buurt])}: lower fixed_homes or raise "
                    "neighbourhood.max_share_of_dwellings."
                )
    if not inst.regions.empty:
        load = sum_by(plots["region_id"], fixed)
        for row in inst.regions.itertuples(index=False):
            if load.get(row.region_id, 0) > (
                row.max_homes if row.max_homes == row.max_homes else np.inf
            ):
                lines.append(
                    f"The agreed projects in region {row.region_id} hold "
                    f"{int(load[row.region_id])} homes, more than its maximum of "
                    f"{int(row.max_homes)}."
                )
        room = _region_room(inst)
        for row in inst.regions.itertuples(index=False):
            smallest = _smallest_project(inst, row.region_id)
            if row.min_homes > 0 and smallest > (row.max_homes if row.max_homes >= 0 else np.inf):
                lines.append(
                    f"Region {row.region_id} must get at least {int(row.min_homes)} homes but "
                    f"at most {int(row.max_homes)}, and its smallest possible project has "
                    f"{int(smallest)}."
                )
            elif row.min_homes == row.min_homes and row.min_homes > room.get(row.region_id, 0):
                lines.append(
                    f"Region {row.region_id} must get at least {int(row.min_homes)} homes, but "
                    f"its eligible plots hold at most {int(room.get(row.region_id, 0))} within "
                    "the buurt caps and project sizes."
                )
    groups = sum_by(plots["group"], fixed > 0)
    lines += [
        f"Group {g} has {int(n)} agreed projects, but only one plot of a group may be used."
        for g, n in groups.items()
        if n > 1
    ]
    return lines


def _where(inst: Instance, result: Result, family: str) -> str:
    """Where a family binds in the shortfall allocation."""
    homes = result.homes
    if family == "neighbourhood" and not inst.buurten.empty:
        load = _buurt_load(inst, homes)
        full = load[(load["homes"] > 0) & (load["homes"] >= load["cap"])].index.tolist()
        return _listed("buurten at their cap", full)
    if family == "service_capacity":
        load = _service_load(inst, result)
        cap = inst.services["capacity"].to_numpy(dtype=float)
        full = [
            f"{inst.services.at[j, 'service_id']} ({inst.services.at[j, 'type']})"
            for j in range(len(cap))
            if not np.isnan(cap[j]) and load[j] >= cap[j] > 0
        ]
        return _listed("services at capacity", full)
    if family == "region_bounds" and not inst.regions.empty:
        load = _region_load(inst, homes)
        full = load[load["homes"] >= load["max_homes"].fillna(np.inf)].index.tolist()
        return _listed("regions at their maximum", full)
    if family == "care_reach":
        types_in_reach = inst.pairs.groupby("plot")["type"].nunique()
        ok = int((types_in_reach == len(inst.support_types)).sum())
        return (
            f"{ok} of {int(inst.plots['eligible'].sum())} eligible plots have every required "
            f"service type ({', '.join(inst.support_types)}) in reach"
        )
    return ""


def explain_shortfall(
    inst: Instance, result: Result, options: SolveOptions
) -> tuple[list[str], list[dict[str, Any]]]:
    """Sentences for the report and a table of families with the homes their relaxation adds."""
    target = inst.scenario.target_homes
    placed = result.total_homes
    lines = [f"Only {placed} of the {target} homes can be placed (short by {target - placed})."]
    plots = inst.plots
    eligible = plots["eligible"].to_numpy()
    eligible_cap = int(plots["capacity"].to_numpy()[eligible].sum())
    if eligible_cap < target:
        lines.append(
            f"All eligible plots together hold only {eligible_cap} homes "
            f"({int((~eligible).sum())} of {len(plots)} plots are not eligible): "
            "add candidate plots or raise capacities."
        )
    if result.status == "INFEASIBLE":
        conflicts = _fixed_conflicts(inst)
        lines += conflicts or [
            "No allocation satisfies the fixed rules: the agreed projects (fixed_homes) and the "
            "regional minimums cannot all hold together."
        ]
    present = [f for f in FAMILIES if _family_present(inst, f)]
    most = _Relaxer(inst, options)
    binding: list[dict[str, Any]] = []
    for family in present:
        gained = most.homes({family}) - placed
        if gained > 0:
            where = _where(inst, result, family)
            bound = most.most({family})
            at_most = None if bound is None else max(bound - placed, gained)
            binding.append(
                {
                    "family": family,
                    "homes_added": gained,
                    "homes_added_at_most": at_most,
                    "where": where,
                }
            )
            lines.append(
                f"Relaxing {FAMILY_TEXT[family]} would allow {_gain(gained, at_most)} more homes"
                + (f"; {where}." if where else ".")
            )
    smallest = _smallest_restoring_set(most, present, binding, target)
    if smallest is None:
        lines.append(
            f"No combination of up to {MAX_SET} rule families restores the target: more "
            "candidate plots or capacity are needed."
        )
    else:
        names = " and ".join(FAMILY_TEXT[f] for f in smallest)
        lines.append(f"The smallest change that restores all {target} homes: relax {names}.")
        for row in binding:
            row["in_smallest_set"] = row["family"] in smallest
    return lines, binding


def _gain(found: int, at_most: int | None) -> str:
    """The homes a relaxation adds: exact when the solver proved it, else the range it proved
    (its solves stop within the scenario's gap)."""
    if at_most == found:
        return str(found)
    return f"at least {found}" + ("" if at_most is None else f" (at most {at_most})")


MAX_SET = 3


class _Relaxer:
    """Most homes possible with some rule families left out (memoised, time-boxed solves)."""

    def __init__(self, inst: Instance, options: SolveOptions) -> None:
        self.inst = inst
        self.options = options
        self.seconds = max(5.0, min(30.0, options.time_limit_s / 4))
        self._cache: dict[frozenset[str], tuple[int, int | None]] = {}

    def homes(self, families: set[str] | frozenset[str]) -> int:
        """The most homes found (solved within the scenario's gap, so a lower bound)."""
        return self._solved(frozenset(families))[0]

    def most(self, families: set[str] | frozenset[str]) -> int | None:
        """The solver's proof of the most homes possible (None when it proved none)."""
        return self._solved(frozenset(families))[1]

    def _solved(self, key: frozenset[str]) -> tuple[int, int | None]:
        if key not in self._cache:
            relaxed = build(
                self.inst,
                mode="max_homes",
                relax=key,
                integer_flows=self.options.backend == "cpsat",
            )
            res = solve_built(relaxed, self.options, time_limit_s=self.seconds)
            if res.termination.reason in FEASIBLE:
                bound = res.termination.objective_bounds.dual_bound
                most = math.floor(bound + 1e-6) if math.isfinite(bound) else None
                self._cache[key] = (round(res.objective_value()), most)
            else:
                self._cache[key] = (0, None)
        return self._cache[key]


def _smallest_restoring_set(
    most: _Relaxer, present: list[str], binding: list[dict[str, Any]], target: int
) -> tuple[str, ...] | None:
    """The fewest families whose joint relaxation places the whole target.

    Single families first (the one adding most homes wins a tie), then pairs and triples of the
    families present, in the fixed order of FAMILIES so the answer is deterministic.
    """
    if most.homes(frozenset(present)) < target:
        return None
    singles = sorted(binding, key=lambda b: -b["homes_added"])
    for row in singles:
        if most.homes({row["family"]}) >= target:
            return (row["family"],)
    for size in range(2, MAX_SET + 1):
        for combo in itertools.combinations(present, size):
            if most.homes(set(combo)) >= target:
                return combo
    return None


def _family_present(inst: Instance, family: str) -> bool:
    s = inst.scenario
    if family in ("care_reach", "service_capacity"):
        return bool(s.support.reach_m)
    if family == "support_share":
        return s.support.min_share > 0
    if family == "neighbourhood":
        return not inst.buurten.empty
    if family == "region_bounds":
        return bool(inst.regions[["min_homes", "max_homes"]].notna().any().any())
    if family == "demand":
        return bool(inst.regions["demand"].fillna(0).gt(0).any())
    if family == "groups":
        return bool(inst.plots["group"].map(lambda g: isinstance(g, str) and bool(g)).any())
    if family == "budget":
        return s.budget_eur is not None
    return True
