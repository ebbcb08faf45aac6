"""Checks on proposed plots, before anything is stored.

Each feature gets a report: **errors** (the feature cannot be stored; `create_proposals` then
stores nothing) and **warnings** (stored, but worth a second look). Every item is a dict
``{index, field, problem}`` so the web layer can return it as a 422 body as is.

What is checked, and why:

- required fields (``name``, ``capacity``) and the types and ranges of the others, so every
  accepted proposal is a contract-valid plot (docs/data-contract.md);
- geometry: GeoJSON (or Shapely) Polygon/MultiPolygon, reprojected to EPSG:28992, Z dropped.
  An invalid polygon is an error naming GEOS's reason unless the caller consents to a repair
  (``repair=True``): then ``make_valid(method="structure")`` fixes it and the proposal carries a
  ``repaired`` flag (CONVENTIONS §4: repair only with consent);
- outside the Netherlands (RD bounding box): error, usually a wrong CRS or swapped lon/lat;
- density outside 5..200 homes per hectare: warning (the area does not fit the capacity);
- a duplicate (IoU > 0.8) of another feature in the same upload or of a live (not rejected)
  proposal of the same organisation: error; a smaller overlap with one's own proposal: warning;
- overlap with another organisation's proposal is *not* reported to the corporation (that would
  leak another organisation's plans); planners see it through `planner_flags`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from planner.proposals.models import Proposal

#: Rough RD New extent of the Netherlands (m), the same as geodata.contract.NL_BOUNDS_RD.
NL_BOUNDS_RD = (-7_000.0, 289_000.0, 300_000.0, 629_000.0)
TARGET_CRS = "EPSG:28992"
MIN_HOMES_PER_HA = 5.0
MAX_HOMES_PER_HA = 200.0
DUPLICATE_IOU = 0.8
#: Overlaps smaller than this (m²) are drawing noise along a shared edge, not an overlap.
MIN_OVERLAP_M2 = 1.0
MAX_FEATURES = 1000
MAX_VERTICES = 50_000
MAX_CAPACITY = 10_000
YEARS = (2000, 2100)
TEXT_LIMITS = {"name": 200, "note": 2000}

#: Fields a proposer may set, in the order the web form shows them.
FIELDS = (
    "name",
    "capacity",
    "available_from",
    "available_until",
    "fixed_cost",
    "cost_per_home",
    "note",
)
REQUIRED = ("name", "capacity")

Problem = dict[str, Any]


@dataclass
class FeatureReport:
    """What the checks found for one feature (``index`` is its position in the upload)."""

    index: int
    values: dict[str, Any] = field(default_factory=dict)
    geometry: shapely.MultiPolygon | None = None
    repaired: bool = False
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the feature may be stored."""
        return not self.errors

    def error(self, name: str, problem: str) -> None:
        self.errors.append({"index": self.index, "field": name, "problem": problem})

    def warn(self, name: str, problem: str) -> None:
        self.warnings.append({"index": self.index, "field": name, "problem": problem})


# --- fields ------------------------------------------------------------------------------------


def split_feature(feature: Any) -> tuple[Any, Mapping[str, Any]]:
    """(geometry, properties) of a GeoJSON Feature or a flat mapping with a ``geometry`` key."""
    if not isinstance(feature, Mapping):
        return None, {}
    props = feature.get("properties")
    if isinstance(props, Mapping):
        return feature.get("geometry"), props
    return feature.get("geometry"), {k: v for k, v in feature.items() if k != "geometry"}


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _number(report: FeatureReport, name: str, value: Any) -> float | None:
    """A finite number from a JSON number or a numeric string; errors are recorded."""
    if isinstance(value, bool):
        report.error(name, "must be a number, not true/false")
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            report.error(name, "is not a number; write digits such as 12 or 12.5")
            return None
    if not isinstance(value, int | float):
        report.error(name, "must be a number")
        return None
    if not math.isfinite(value):
        report.error(name, "must be a finite number")
        return None
    return float(value)


def _check_capacity(report: FeatureReport, value: Any) -> None:
    number = _number(report, "capacity", value)
    if number is None:
        return
    if number != int(number) or number < 1:
        report.error("capacity", "must be a whole number of homes, 1 or more")
    elif number > MAX_CAPACITY:
        report.error("capacity", f"more than {MAX_CAPACITY} homes on one plot is not plausible")
    else:
        report.values["capacity"] = int(number)


def _check_year(report: FeatureReport, name: str, value: Any) -> None:
    number = _number(report, name, value)
    if number is None:
        return
    if number != int(number) or not YEARS[0] <= number <= YEARS[1]:
        report.error(name, f"must be a year between {YEARS[0]} and {YEARS[1]}")
    else:
        report.values[name] = int(number)


def _check_cost(report: FeatureReport, name: str, value: Any) -> None:
    number = _number(report, name, value)
    if number is None:
        return
    if number < 0:
        report.error(name, "is negative; use 0 or leave it empty")
    else:
        report.values[name] = number


def _check_text(report: FeatureReport, name: str, value: Any) -> None:
    if not isinstance(value, str):
        report.error(name, "must be text")
        return
    text = value.strip()
    if len(text) > TEXT_LIMITS[name]:
        report.error(name, f"is longer than {TEXT_LIMITS[name]} characters")
    elif any(ord(c) < 32 and c not in "\n\t" for c in text):
        report.error(name, "contains control characters")
    else:
        report.values[name] = text


def check_fields(report: FeatureReport, props: Mapping[str, Any]) -> None:
    """Fill ``report.values`` from the properties; unknown properties are ignored (warned)."""
    for name in FIELDS:
        value = props.get(name)
        if _blank(value):
            if name in REQUIRED:
                report.error(name, "is required")
            else:
                report.values[name] = None
            continue
        if name == "capacity":
            _check_capacity(report, value)
        elif name.startswith("available_"):
            _check_year(report, name, value)
        elif name in ("fixed_cost", "cost_per_home"):
            _check_cost(report, name, value)
        else:
            _check_text(report, name, value)
    start, end = report.values.get("available_from"), report.values.get("available_until")
    if start is not None and end is not None and start > end:
        report.error("available_from", f"{start} is after available_until {end}")
    unknown = sorted(str(k) for k in props if k not in FIELDS)
    if unknown:
        report.warn("properties", f"ignored unknown properties: {', '.join(unknown[:10])}")


# --- geometry ----------------------------------------------------------------------------------


def _parse_geometry(report: FeatureReport, raw: Any) -> BaseGeometry | None:
    if raw is None:
        report.error("geometry", "is missing; draw the plot outline")
        return None
    try:
        if isinstance(raw, BaseGeometry):
            geom = raw
        elif isinstance(raw, str):
            geom = shapely.from_wkt(raw)
        elif isinstance(raw, Mapping):
            geom = shapely.geometry.shape(raw)
        else:
            raise TypeError(type(raw).__name__)
    except Exception:
        report.error("geometry", "is not a valid GeoJSON geometry")
        return None
    if geom is None or geom.is_empty:
        report.error("geometry", "is empty; draw the plot outline")
        return None
    if geom.geom_type not in ("Polygon", "MultiPolygon"):
        report.error("geometry", f"is a {geom.geom_type}; a plot needs a Polygon or MultiPolygon")
        return None
    if shapely.get_num_coordinates(geom) > MAX_VERTICES:
        report.error("geometry", f"has more than {MAX_VERTICES} vertices; simplify the outline")
        return None
    return shapely.force_2d(geom)


def _to_rd(geom: BaseGeometry, crs: str) -> BaseGeometry:
    if crs.upper() in (TARGET_CRS, "EPSG::28992"):
        return geom
    from pyproj import Transformer

    transformer = Transformer.from_crs(crs, TARGET_CRS, always_xy=True)
    return shapely.transform(
        geom, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
    )


def _polygonal(geom: BaseGeometry) -> shapely.MultiPolygon | None:
    """The polygons of a geometry as one MultiPolygon (None when there are none)."""
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    polygons = [p for g in parts for p in shapely.get_parts(g) if not p.is_empty and p.area > 0]
    return shapely.MultiPolygon(polygons) if polygons else None


def check_geometry(report: FeatureReport, raw: Any, *, crs: str, repair: bool) -> None:
    """Parse, reproject, validate (repair with consent) and place the plot in the Netherlands."""
    geom = _parse_geometry(report, raw)
    if geom is None:
        return
    try:
        geom = _to_rd(geom, crs)
    except Exception as exc:
        report.error("geometry", f"cannot be reprojected from {crs} to {TARGET_CRS}: {exc}")
        return
    coords = shapely.get_coordinates(geom)
    if not len(coords) or not bool(np.isfinite(coords).all()):
        report.error("geometry", "has coordinates that are not finite numbers")
        return
    if not geom.is_valid:
        reason = shapely.is_valid_reason(geom)
        if not repair:
            report.error(
                "geometry",
                f"is invalid ({reason}); redraw it, or resubmit with consent to repair it",
            )
            return
        geom = shapely.make_valid(geom, method="structure")
        report.repaired = True
        report.warn("geometry", f"was invalid ({reason}) and has been repaired")
    multi = _polygonal(geom)
    if multi is None:
        report.error("geometry", "has no area; draw a polygon with an inside")
        return
    minx, miny, maxx, maxy = multi.bounds
    bx0, by0, bx1, by1 = NL_BOUNDS_RD
    if minx < bx0 or miny < by0 or maxx > bx1 or maxy > by1:
        report.error(
            "geometry",
            f"lies outside the Netherlands in {TARGET_CRS} (wrong CRS or swapped lon/lat?)",
        )
        return
    report.geometry = multi


def check_density(report: FeatureReport) -> None:
    """Warn when the stated capacity does not fit the area."""
    capacity = report.values.get("capacity")
    if report.geometry is None or capacity is None:
        return
    hectares = report.geometry.area / 10_000.0
    density = capacity / hectares
    if density > MAX_HOMES_PER_HA:
        report.warn(
            "capacity",
            f"{capacity} homes on {hectares:.2f} ha is {density:.0f} homes/ha, more than "
            f"{MAX_HOMES_PER_HA:.0f}; check the outline or the capacity",
        )
    elif density < MIN_HOMES_PER_HA:
        report.warn(
            "capacity",
            f"{capacity} homes on {hectares:.2f} ha is {density:.1f} homes/ha, fewer than "
            f"{MIN_HOMES_PER_HA:.0f}; check the outline or the capacity",
        )


# --- overlaps ----------------------------------------------------------------------------------


def iou(a: BaseGeometry, b: BaseGeometry) -> tuple[float, float]:
    """(intersection over union, intersection area in m²) of two polygons."""
    inter = a.intersection(b).area
    if inter <= 0:
        return 0.0, 0.0
    union = a.area + b.area - inter
    return (inter / union if union > 0 else 1.0), inter


def overlapping(
    session: Session, geom: BaseGeometry, *, exclude_ids: Iterable[int] = ()
) -> list[tuple[Proposal, float, float]]:
    """Live (not rejected) proposals overlapping ``geom``: (proposal, IoU, overlap m²).

    A bounding-box pre-filter in SQL (indexed columns, the same on every database), then the
    exact overlap in Shapely.
    """
    minx, miny, maxx, maxy = geom.bounds
    query = select(Proposal).where(
        Proposal.status != "rejected",
        Proposal.minx <= maxx,
        Proposal.maxx >= minx,
        Proposal.miny <= maxy,
        Proposal.maxy >= miny,
    )
    excluded = set(exclude_ids)
    found = []
    for other in session.scalars(query):
        if other.id in excluded:
            continue
        ratio, area = iou(geom, other.geom)
        if area >= MIN_OVERLAP_M2:
            found.append((other, ratio, area))
    return found


def check_overlaps(
    session: Session,
    reports: Sequence[FeatureReport],
    org: str,
    *,
    exclude_ids: Iterable[int] = (),
) -> None:
    """Duplicates within the upload and against the organisation's own live proposals."""
    excluded = tuple(exclude_ids)
    for pos, report in enumerate(reports):
        if report.geometry is None:
            continue
        for earlier in reports[:pos]:
            if earlier.geometry is None:
                continue
            ratio, _area = iou(report.geometry, earlier.geometry)
            if ratio > DUPLICATE_IOU:
                report.error("geometry", f"duplicates feature {earlier.index} of this upload")
        for other, ratio, area in overlapping(session, report.geometry, exclude_ids=excluded):
            if other.org != org:
                continue  # reported to planners only (planner_flags)
            if ratio > DUPLICATE_IOU:
                report.error(
                    "geometry",
                    f"duplicates your organisation's proposal {other.id} ('{other.name}', "
                    f"overlap {ratio:.0%})",
                )
            else:
                report.warn(
                    "geometry",
                    f"overlaps your organisation's proposal {other.id} ('{other.name}') "
                    f"by {area:,.0f} m²",
                )


def planner_flags(session: Session, proposal: Proposal) -> list[Problem]:
    """Overlaps of a proposal with other organisations' live proposals, for the reviewer."""
    flags = []
    for other, ratio, area in overlapping(session, proposal.geom, exclude_ids=[proposal.id]):
        if other.org == proposal.org:
            continue
        kind = "duplicates" if ratio > DUPLICATE_IOU else "overlaps"
        flags.append(
            {
                "index": None,
                "field": "geometry",
                "problem": f"{kind} proposal {other.id} of {other.org} ('{other.name}', "
                f"{other.status}): {area:,.0f} m², IoU {ratio:.2f}",
                "other_id": other.id,
                "other_org": other.org,
                "iou": round(ratio, 4),
                "overlap_m2": round(area, 1),
            }
        )
    return flags


def check_features(
    session: Session,
    features: Sequence[Any],
    org: str,
    *,
    crs: str = TARGET_CRS,
    repair: bool = False,
    exclude_ids: Iterable[int] = (),
) -> list[FeatureReport]:
    """Every check above, for every feature (all are checked, so one pass lists all problems)."""
    reports = []
    for index, feature in enumerate(features):
        report = FeatureReport(index)
        if not isinstance(feature, Mapping):
            report.error("feature", "must be a GeoJSON Feature object")
            reports.append(report)
            continue
        raw, props = split_feature(feature)
        check_fields(report, props)
        check_geometry(report, raw, crs=crs, repair=repair)
        check_density(report)
        reports.append(report)
    check_overlaps(session, reports, org, exclude_ids=exclude_ids)
    return reports
