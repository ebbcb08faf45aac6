"""The scenario file: what to allocate, from which layers, under which rules.

A scenario is YAML validated by pydantic with ``extra="forbid"``, so a typo fails loudly with a
did-you-mean instead of silently using a default. Layer paths are relative to the scenario file.
The resolved scenario (every default filled in, absolute paths) is written beside each run so the
run can be reproduced.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from geodata.kinds import LAYER_KINDS
from planner.errors import ScenarioError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LayerRef(_Strict):
    """A layer on disk: a file and, for multi-layer files such as GeoPackage, a layer name."""

    path: Path = Field(description="File path, relative to the scenario file.")
    layer: str | None = Field(
        default=None, description="Layer inside a multi-layer file (GeoPackage); default: first."
    )
    crs: str | None = Field(
        default=None,
        description=(
            "CRS of a file that does not declare one (CSV with WKT, Shapefile without .prj), "
            "e.g. 'EPSG:28992'. CSV lon/lat is WGS84 unless set."
        ),
    )


def _as_ref(value: Any) -> Any:
    """Accept a plain path string as shorthand for ``{path: ...}``."""
    if isinstance(value, str | Path):
        return {"path": value}
    return value


class Layers(_Strict):
    """The input layers (see the data contract in docs/data-contract.md)."""

    plots: LayerRef = Field(description="Candidate plots (polygons). Required.")
    services: LayerRef = Field(description="Care and support services (points). Required.")
    service_areas: LayerRef | None = Field(
        default=None, description="Catchments of services that work by area (wijkteams, FACT)."
    )
    exclusions: LayerRef | None = Field(
        default=None, description="Polygons where no home may go, with a `reason`."
    )
    neighbourhoods: LayerRef | None = Field(
        default=None, description="CBS buurten with existing `dwellings`."
    )
    regions: LayerRef | None = Field(
        default=None, description="Regions (gemeenten, centrumgemeente regions) with bounds."
    )
    amenities: LayerRef | None = Field(
        default=None, description="Amenities (points) that raise suitability."
    )
    travel_costs: LayerRef | None = Field(
        default=None, description="Table region_id, plot_id, cost_per_home (CSV or Parquet)."
    )
    network: LayerRef | None = Field(
        default=None,
        description=(
            "Street network for support.reach_mode network: an OSM file (.osm.pbf, .osm) or a "
            "line layer (optional `highway` column)."
        ),
    )

    _coerce = field_validator(*LAYER_KINDS, "network", mode="before")(_as_ref)


class Defaults(_Strict):
    """Values used where a plot row leaves a field empty."""

    homes_per_ha: float = Field(
        default=30.0,
        gt=0,
        description=(
            "Capacity of a plot without `capacity`: area (ha) x this, rounded down. Source: about "
            "30 homes/ha for ground-level flex homes (Groote Wielen, 's-Hertogenbosch)."
        ),
    )
    min_homes: int = Field(
        default=15,
        ge=1,
        description=(
            "Smallest viable project on a plot without `min_homes`. Source: clusters of 15 homes "
            "are the moving unit at Groote Wielen."
        ),
    )
    module_homes: int = Field(
        default=1,
        ge=1,
        description="Homes come in multiples of this (1 = any number). Assumption: 1.",
    )
    fixed_cost_eur: float = Field(
        default=0.0, ge=0, description="Site preparation cost of a plot without `fixed_cost`."
    )
    cost_per_home_eur: float = Field(
        default=0.0, ge=0, description="Cost per home on a plot without `cost_per_home`."
    )


class Support(_Strict):
    """Residents who need care and support, e.g. people leaving shelter care."""

    min_share: float = Field(
        default=0.2,
        ge=0,
        le=1,
        description="At least this share of all placed homes go to residents who need support.",
    )
    max_share_per_plot: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description=(
            "Resident mix inside one project: at most this share of its homes are support homes. "
            "Source: about a quarter vulnerable residents at Place2BU Utrecht "
            "(Platform31 'magic mix')."
        ),
    )
    reach_m: dict[str, float] = Field(
        default_factory=lambda: {"huisarts": 1500.0, "wijkteam": 2500.0, "ggz": 5000.0},
        description=(
            "Every support home needs one service of each listed type within this straight-line "
            "distance (m) of the plot polygon, or inside the service's catchment when it has one "
            "in service_areas, within the service's capacity. Defaults rest on CBS 2022 "
            "(GP average road distance 1.1 km); the wijkteam and GGZ radii are assumptions."
        ),
    )

    reach_mode: Literal["straight", "network"] = Field(
        default="straight",
        description=(
            "How reach is measured: straight-line distance from the plot polygon, or the route "
            "along the street network of layers.network (walking or cycling)."
        ),
    )
    network_profile: Literal["walk", "bike"] = Field(
        default="walk",
        description="Which streets a route may use: walk (no motorways) or bike (no footways).",
    )

    @field_validator("reach_m")
    @classmethod
    def _positive_reach(cls, value: dict[str, float]) -> dict[str, float]:
        for kind, metres in value.items():
            if not metres > 0:
                raise ValueError(f"reach for '{kind}' must be a positive number of metres")
        return value


class Neighbourhood(_Strict):
    """Avoid concentrating flex homes in one buurt."""

    max_share_of_dwellings: float = Field(
        default=0.05,
        ge=0,
        description=(
            "Flex homes in a buurt at most this share of its existing dwellings (rounded down). "
            "Assumption: 5%; the buurt share is the usual lever against concentration (DOMAIN.md)."
        ),
    )


class Suitability(_Strict):
    """How attractive a plot is: distance decay to each service and amenity type."""

    decay_m: float = Field(
        default=1000.0,
        gt=0,
        description=(
            "Distance (m) at which a type's contribution falls to 1/e (37%). Assumption, based on "
            "CROW walking norms (75% of people within 1,000 m of daily facilities)."
        ),
    )
    decay_m_per_type: dict[str, float] = Field(
        default_factory=dict, description="Override `decay_m` for some types."
    )


class Horizon(_Strict):
    """Phasing over the years: when set, the homes are planned per year (planner/phasing.py)."""

    start: int = Field(ge=1900, le=2200, description="First year of the plan.")
    end: int = Field(ge=1900, le=2200, description="Last year of the plan (inclusive).")
    delivery_per_year: int = Field(
        ge=0,
        description=(
            "New homes that can be placed per year (factories, corporations); relocated homes do "
            "not count. Aedes' ambition was about 10,000 temporary homes a year nationally."
        ),
    )
    targets: dict[int, int] = Field(
        default_factory=dict,
        description=(
            "Homes that must stand in a year ({year: homes}); in a year with a target exactly that "
            "many stand unless the plan falls short. Years without a target have none. Empty: "
            "target_homes in the last year. Targets may not fall over the years (homes stay) "
            "nor exceed target_homes, which caps the homes standing in every year."
        ),
    )
    permit_years: int = Field(
        default=15,
        ge=1,
        description=(
            "A project stands at most this many years on its plot (temporary permit). Source: up "
            "to 15 years since 2020, 10 under the old rules (DOMAIN.md)."
        ),
    )
    relocation_cost_per_home: float = Field(
        default=5000.0,
        ge=0,
        description=(
            "EUR to move one home to a follow-on location; in the cost KPIs and the min_cost "
            "objective. Assumption: 5,000 EUR."
        ),
    )
    relocation_weight: float = Field(
        default=0.5,
        ge=0,
        description=(
            "Objective units lost per relocated home under max_suitability (where EUR do not "
            "count). Assumption: half a year of a home on a perfectly suitable plot."
        ),
    )
    shortfall_penalty_per_home_year: float | None = Field(
        default=None,
        ge=0,
        description=(
            "Objective units per home missing against a year's target. Default: more than one "
            "home can add to the objective over the horizon, so targets come first."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> Horizon:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        outside = [y for y in self.targets if not self.start <= y <= self.end]
        if outside:
            raise ValueError(
                f"targets for years outside {self.start}..{self.end}: "
                + ", ".join(str(y) for y in sorted(outside))
            )
        previous = 0
        for year in sorted(self.targets):
            if self.targets[year] < 0:
                raise ValueError(f"target for {year} is negative")
            if self.targets[year] < previous:
                raise ValueError(
                    f"target for {year} ({self.targets[year]}) is below an earlier target "
                    f"({previous}); homes are not removed, so targets may not fall"
                )
            previous = self.targets[year]
        return self

    @property
    def years(self) -> list[int]:
        return list(range(self.start, self.end + 1))


DEFAULT_WEIGHTS: dict[str, float] = {
    "huisarts": 1.0,
    "wijkteam": 0.5,
    "ggz": 0.5,
    "supermarket": 1.0,
    "transit_stop": 1.0,
    "park": 0.5,
}


class SolverOptions(_Strict):
    """Solver settings; the same model runs on each backend (OR-Tools MathOpt)."""

    backend: Literal["highs", "cpsat", "scip"] = Field(
        default="highs",
        description="MathOpt solver: HiGHS (default, fastest measured here), CP-SAT or SCIP.",
    )
    time_limit_s: float = Field(default=120.0, gt=0, description="Wall-clock limit per solve.")
    relative_gap: float = Field(
        default=0.0, ge=0, description="Stop when the proven relative gap is at most this."
    )
    workers: int = Field(
        default=2,
        ge=1,
        description=(
            "Solver threads: CP-SAT's workers; with HiGHS, 2 or more lets the polish run beside "
            "the root check, 1 runs it afterwards."
        ),
    )
    seed: int = Field(default=1, ge=0, description="Random seed; same seed, same allocation.")
    warm_start: Literal["greedy", "none"] = Field(
        default="greedy",
        description=(
            "Start the solver from the greedy heuristic's allocation (best plots first, every "
            "rule respected): it is usually within a fraction of a percent of the optimum, so "
            "the solver proves the gap sooner. Measured 2.7x faster on a 5,000-plot instance."
        ),
    )
    polish: bool = Field(
        default=True,
        description=(
            "With relative_gap above 0 and HiGHS: while the root check proves the gap, look "
            "on the second core for a better allocation than the start (an LP points at the "
            "plots that matter, then the MIP on those alone). The better of the two is kept."
        ),
    )


class Scenario(_Strict):
    """A Flexplan scenario: layers, target and rules. Unknown keys are errors."""

    name: str = Field(description="Scenario name shown in reports.")
    description: str = Field(default="", description="Free text for the report.")
    target_homes: int = Field(ge=0, description="Homes to place, exactly.")
    plan_year: int | None = Field(
        default=None,
        description=(
            "When set, only plots with available_from <= plan_year <= available_until are used."
        ),
    )
    layers: Layers
    defaults: Defaults = Field(default_factory=Defaults)
    support: Support = Field(default_factory=Support)
    neighbourhood: Neighbourhood = Field(default_factory=Neighbourhood)
    objective: Literal["max_suitability", "min_cost"] = Field(
        default="max_suitability",
        description=(
            "max_suitability: sum of homes x plot suitability; min_cost: fixed costs of used plots "
            "+ per-home costs + travel costs."
        ),
    )
    weights: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_WEIGHTS),
        description=(
            "Suitability weight per service or amenity type (types absent from the data are "
            "ignored). Assumption: care and daily amenities count equally, secondary ones half."
        ),
    )
    suitability: Suitability = Field(default_factory=Suitability)
    budget_eur: float | None = Field(
        default=None, ge=0, description="Upper bound on total cost (fixed + per home + travel)."
    )
    solver: SolverOptions = Field(default_factory=SolverOptions)
    horizon: Horizon | None = Field(
        default=None,
        description=(
            "Plan per year: plot windows (available_from/until), permits, production per year, "
            "targets and relocation. Absent: one allocation (the single-year model)."
        ),
    )

    # Set by load_scenario: where relative paths start. Not part of the file.
    base_dir: Path = Field(default=Path("."), exclude=True)

    @field_validator("weights")
    @classmethod
    def _non_negative_weights(cls, value: dict[str, float]) -> dict[str, float]:
        for kind, weight in value.items():
            if weight < 0 or not math.isfinite(weight):
                raise ValueError(f"weight for '{kind}' must be a finite number >= 0")
        return value

    @model_validator(mode="after")
    def _network_given(self) -> Scenario:
        if self.support.reach_mode == "network" and self.layers.network is None:
            raise ValueError(
                "support.reach_mode is 'network' but layers.network is missing; add a street "
                "network (an .osm.pbf or a line layer)"
            )
        return self

    @model_validator(mode="after")
    def _mix_is_possible(self) -> Scenario:
        if self.support.min_share > self.support.max_share_per_plot:
            raise ValueError(
                f"support.min_share ({self.support.min_share}) exceeds support.max_share_per_plot "
                f"({self.support.max_share_per_plot}): no allocation can satisfy both"
            )
        return self

    @model_validator(mode="after")
    def _horizon_fits(self) -> Scenario:
        if self.horizon is None:
            return self
        if self.plan_year is not None:
            raise ValueError(
                "plan_year and horizon exclude each other: with a horizon every plot is used "
                "within its own available_from..available_until; remove plan_year"
            )
        high = {y: t for y, t in self.horizon.targets.items() if t > self.target_homes}
        if high:
            year, target = min(high.items())
            raise ValueError(
                f"horizon.targets[{year}] = {target} exceeds target_homes {self.target_homes}; "
                "raise target_homes (the homes standing in any year) or lower the target"
            )
        return self

    def layer_path(self, kind: str) -> Path | None:
        """Absolute path of a layer, or None when the scenario leaves it out."""
        ref: LayerRef | None = getattr(self.layers, kind)
        if ref is None:
            return None
        path = ref.path if ref.path.is_absolute() else self.base_dir / ref.path
        return path.resolve()

    def resolved_dict(self) -> dict[str, Any]:
        """Every default filled in and layer paths absolute: the reproducible form."""
        data = self.model_dump(mode="json")
        for kind in (*LAYER_KINDS, "network"):
            path = self.layer_path(kind)
            if path is not None:
                data["layers"][kind]["path"] = str(path)
        return data


def _model_fields(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names valid at ``loc`` (for did-you-mean suggestions)."""
    current: Any = model
    for part in loc[:-1]:
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = current.model_fields.get(str(part))
        if field is None:
            return []
        annotation = field.annotation
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        current = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [n for n, f in current.model_fields.items() if not f.exclude]
    return []


def _format_error(err: dict[str, Any], source: str) -> str:
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        options = _model_fields(Scenario, loc)
        guess = difflib.get_close_matches(str(loc[-1]), options, n=1)
        hint = f"; did you mean '{guess[0]}'?" if guess else f"; allowed: {', '.join(options)}"
        return f"{source}: unknown key '{where}'{hint}"
    if err["type"] == "missing":
        return f"{source}: missing required key '{where}'"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{source}: {where}: {msg} (got {err.get('input')!r})"


def scenario_from_dict(data: Any, *, source: str, base_dir: Path) -> Scenario:
    """Validate a parsed scenario; every problem is listed in one ScenarioError."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping of keys at the top level")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        lines = [_format_error(e, source) for e in exc.errors()]
        raise ScenarioError("; ".join(lines)) from None
    scenario.base_dir = base_dir
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: scenario file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ScenarioError(f"{path}: not valid YAML{where}: {exc}") from None
    return scenario_from_dict(data, source=str(path), base_dir=path.resolve().parent)


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema of the scenario file, for editors and `flexplan schema`."""
    return Scenario.model_json_schema()
