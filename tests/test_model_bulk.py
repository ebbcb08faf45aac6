"""The bulk model build gives exactly the model the public MathOpt API gives, row for row.

``planner.model.bulk`` writes variables and rows straight into MathOpt's storage for speed; with
the storage hidden it falls back to the public API. Both paths must export identical ModelProtos
(bounds, integrality, names, coefficients, objective) for every mode and relaxed family.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ortools.math_opt.python import mathopt

from geodata.importers.orlib import read_orlib_cflp, write_instance
from planner.instance import build_instance
from planner.model import build, bulk
from planner.model.constraints import FAMILIES
from planner.pipeline import load_layers, load_scenario
from tests.factories import make_instance
from tests.test_orlib import TINY
from tests.world import write_world

REPO = Path(__file__).resolve().parents[1]


def _proto(inst, **kwargs) -> bytes:
    model = build(inst, **kwargs).model
    return model.export_model().SerializeToString(deterministic=True)


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    world = write_world(tmp_path_factory.mktemp("world"), target_homes=120)
    # capacitated facility location: flows, demand rows and the min_cost objective
    cflp = tmp_path_factory.mktemp("cflp")
    (cflp / "tiny.txt").write_text(TINY, encoding="utf-8")
    write_instance(read_orlib_cflp(cflp / "tiny.txt"), cflp / "layers")
    found = []
    for path in (
        world,
        REPO / "scenarios" / "default.yaml",
        REPO / "scenarios" / "min_cost.yaml",
        cflp / "layers" / "scenario.yaml",
    ):
        scenario = load_scenario(path)
        found.append(build_instance(load_layers(scenario), scenario))
    return found


VARIANTS = [
    ("target", frozenset(), {}),
    ("max_homes", frozenset(), {}),
    ("fixed_total", frozenset(), {"total": 8}),
    ("target", frozenset(), {"integer_flows": True}),
    ("target", frozenset(FAMILIES), {}),
] + [("target", frozenset({family}), {}) for family in FAMILIES]


@pytest.mark.parametrize("mode,relax,extra", VARIANTS, ids=lambda x: str(x))
def test_fast_and_public_paths_build_the_same_model(instances, monkeypatch, mode, relax, extra):
    for inst in instances:
        fast = _proto(inst, mode=mode, relax=relax, **extra)
        with monkeypatch.context() as patch:
            patch.setattr(bulk, "_storage", lambda _model: None)
            public = _proto(inst, mode=mode, relax=relax, **extra)
        assert fast == public


def test_column_ids_and_lazy_maps_match_the_variables(instances):
    """The builders' id arrays are the dicts' Variables; assign, flow and homes read like dicts."""
    assert all(len(build(inst).vars.flow) > 0 for inst in instances[-1:])  # the CFLP has flows
    for inst in instances:
        built = build(inst)
        v = built.vars
        assert v.module_ids.tolist() == [x.id for x in v.modules.values()]
        assert v.used_ids.tolist() == [x.id for x in v.used.values()]
        assert list(v.modules) == list(v.used) == v.plots.tolist() == list(v.homes)
        assert v.support_plots.tolist() == list(v.support)
        assert v.support_ids.tolist() == [x.id for x in v.support.values()]
        assert list(v.assign) == v.assign_rows.tolist()
        assert [x.id for x in v.assign.values()] == v.assign_ids.tolist()
        assert [(r, x.id) for r, x in v.assign.items()] == list(
            zip(v.assign_rows.tolist(), v.assign_ids.tolist(), strict=True)
        )
        assert len(v.assign) == len(v.assign_ids) and bool(v.assign) == bool(len(v.assign_ids))
        for r, i in zip(v.assign_rows.tolist()[:5], v.assign_ids.tolist()[:5], strict=True):
            assert r in v.assign and v.assign[r].id == i
            assert v.assign[r].name == built.model.get_variable(i).name
        assert -1 not in v.assign and v.assign.get(-1) is None
        assert [x.id for x in v.flow.values()] == v.flow_ids.tolist()
        assert [p for _, p in v.flow] == v.flow_plots.tolist()
        travel = inst.travel.iloc[v.flow_travel]
        pid = inst.plots["plot_id"].tolist()
        assert list(v.flow) == list(zip(travel["region_id"], travel["plot"], strict=True))
        for key, x in v.flow.items():
            assert v.flow[key].id == x.id and x.name == f"flow[{key[0]},{pid[key[1]]}]"
        for p, x in v.modules.items():
            term = v.homes[p]
            assert (term.variable.id, term.coefficient) == (x.id, inst.module)
        assert -1 not in v.homes


def test_objective_sums_duplicates_drops_zeros_and_sets_the_direction():
    protos = []
    for use_storage in (True, False):
        model = mathopt.Model()
        x = bulk.add_variable_ids(
            model, np.zeros(3), np.ones(3), np.zeros(3, dtype=bool), ["a", "b", "c"]
        )
        model.minimize(5.0 * bulk.variables_of(model, x)[2] + 1.0)  # replaced, offset too
        bulk.set_linear_objective(
            model, x[[0, 1, 0, 2]], np.array([1.5, 2.0, 0.5, 0.0]), maximize=True, fast=use_storage
        )
        proto = model.export_model()
        assert proto.objective.maximize and proto.objective.offset == 0.0
        assert list(proto.objective.linear_coefficients.ids) == [0, 1]
        assert list(proto.objective.linear_coefficients.values) == [2.0, 2.0]
        protos.append(proto.SerializeToString(deterministic=True))
    assert protos[0] == protos[1]


def test_rows_sum_duplicates_drop_zeros_and_keep_names():
    for use_storage in (True, False):
        model = mathopt.Model()
        ids = bulk.add_variable_ids(
            model,
            np.zeros(3),
            np.array([1.0, 2.0, 3.0]),
            np.array([True, False, True]),
            ["x", "long_name", ""],
            fast=use_storage,
        )
        x = bulk.variables_of(model, ids)
        bulk.add_rows(
            model,
            np.array([-np.inf, 1.0]),
            np.array([4.0, np.inf]),
            np.array([0, 0, 0, 1, 1]),
            [x[0], x[1], x[0], x[2], x[1]],
            np.array([1.0, 2.0, 3.0, 5.0, 0.0]),
            names=["a", "bb"],
            fast=use_storage,
        )
        proto = model.export_model()
        assert list(proto.variables.names) == ["x", "long_name", ""]
        assert list(proto.variables.integers) == [True, False, True]
        assert list(proto.linear_constraints.names) == ["a", "bb"]
        matrix = proto.linear_constraint_matrix
        entries = sorted(zip(matrix.row_ids, matrix.column_ids, matrix.coefficients, strict=True))
        assert entries == [(0, 0, 4.0), (0, 1, 2.0), (1, 2, 5.0)]


# --- the grouped row families against a plain statement of their rules ----------------------

plot_rows = st.tuples(
    st.integers(0, 12),  # capacity
    st.sampled_from([None, "R1", "R2", "R9"]),  # region (R9 is not in the regions table)
    st.sampled_from([None, "B1", "B2", "B10"]),  # buurt
    st.booleans(),  # eligible
    st.sets(st.integers(0, 3), max_size=4),  # services in reach
)


def _rows(proto, prefix: str) -> list[tuple[str, float, float, list[tuple[str, float]]]]:
    """The model's rows whose names start with ``prefix``, in order, entries by column name."""
    names = dict(zip(proto.variables.ids, proto.variables.names, strict=True))
    entries: dict[int, list[tuple[str, float]]] = {}
    matrix = proto.linear_constraint_matrix
    for row, col, coef in zip(matrix.row_ids, matrix.column_ids, matrix.coefficients, strict=True):
        entries.setdefault(row, []).append((names[col], coef))
    rows = proto.linear_constraints
    return [
        (name, lo, hi, sorted(entries.get(i, [])))
        for i, name, lo, hi in zip(
            rows.ids, rows.names, rows.lower_bounds, rows.upper_bounds, strict=True
        )
        if name.startswith(prefix)
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(plot_rows, min_size=1, max_size=7),
    services=st.lists(
        st.tuples(st.sampled_from(["huisarts", "ggz"]), st.sampled_from([None, 2.0])),
        min_size=4,
        max_size=4,
    ),
    required=st.sampled_from([["huisarts"], ["huisarts", "ggz"], ["ggz", "huisarts"]]),
    low=st.sampled_from([None, 3.0]),
    high=st.sampled_from([None, 8.0]),
    module=st.sampled_from([1, 2]),
)
def test_grouped_rows_follow_their_rules(rows, services, required, low, high, module):
    nan = float("nan")
    inst = make_instance(
        [{"capacity": c, "region_id": r, "buurt_id": b, "eligible": e} for c, r, b, e, _ in rows],
        services=[{"type": t, "capacity": nan if c is None else c} for t, c in services],
        pairs=[
            (p, j, services[j][0], 100.0 * j)
            for p, (*_, reach) in enumerate(rows)
            for j in sorted(reach)
            if services[j][0] in required  # reach pairs are of required types only
        ],
        buurten=[{"buurt_id": b, "dwellings": 10, "cap": 5} for b in ("B10", "B1", "B2")],
        regions=[
            {"region_id": "R2", "min_homes": low if low else nan, "max_homes": high or nan},
            {"region_id": "R1", "min_homes": 1.0},
            {"region_id": "R3", "max_homes": 4.0},  # no plots
        ],
        support={
            "min_share": 0.2,
            "max_share_per_plot": 0.5,
            "reach_m": dict.fromkeys(required, 900),
        },
        defaults={"module_homes": module, "min_homes": 1},
    )
    proto = build(inst).model.export_model()
    plots = inst.plots
    eligible = [p for p in range(len(plots)) if plots["eligible"][p]]
    pid = plots["plot_id"].tolist()

    def modules(members: list[int]) -> list[tuple[str, float]]:
        return sorted((f"modules[{pid[p]}]", float(module)) for p in members)

    regions = []
    for region in inst.regions.itertuples():
        members = modules([p for p in eligible if plots["region_id"][p] == region.region_id])
        for kind, lo, hi in (("min", region.min_homes, np.inf), ("max", -np.inf, region.max_homes)):
            if not np.isnan(region.min_homes if kind == "min" else region.max_homes):
                regions.append((f"region_{kind}[{region.region_id}]", lo, hi, members))
    assert _rows(proto, "region_") == regions

    buurten = []
    for b in sorted({b for b in plots["buurt_id"][eligible] if isinstance(b, str)}):
        members = [p for p in eligible if plots["buurt_id"][p] == b]
        if sum(int(plots["capacity"][p]) for p in members) > 5:
            buurten.append((f"buurt[{b}]", -np.inf, 5.0, modules(members)))
    assert _rows(proto, "buurt[") == buurten

    pairs = inst.model_pairs()
    support = [p for p in eligible if set(required) <= set(pairs["type"][pairs["plot"] == p])]
    assign = {
        (p, j): f"assign[{pid[p]},{inst.services['service_id'][j]}]"
        for p, j in zip(pairs["plot"], pairs["service"], strict=True)
        if p in support
    }
    care = [
        (
            f"care[{pid[p]},{kind}]",
            0.0,
            0.0,
            sorted(
                [(f"support[{pid[p]}]", -1.0)]
                + [
                    (name, 1.0)
                    for (q, j), name in assign.items()
                    if q == p and services[j][0] == kind
                ]
            ),
        )
        for kind in required
        for p in support
    ]
    assert _rows(proto, "care[") == care
    limited = [j for j in dict.fromkeys(j for _, j in assign) if services[j][1] is not None]
    service = [
        (
            f"service[{inst.services['service_id'][j]}]",
            -np.inf,
            2.0,
            sorted((name, 1.0) for (_, k), name in assign.items() if k == j),
        )
        for j in limited
    ]
    assert _rows(proto, "service[") == service


def test_bracketed_names_are_the_f_strings():
    plots = np.array(["P1", "P22", "Q"], dtype=object)
    services = np.array([7, 123])  # numbers are written as str() writes them
    at, to = np.array([2, 0, 1, 1]), np.array([0, 1, 1, 0])
    got = bulk.bracketed("assign", (plots, at), (services, to))
    expected = [f"assign[{plots[p]},{services[s]}]" for p, s in zip(at, to, strict=True)]
    assert got.tolist() == expected
    assert bulk.bracketed("used", (plots, np.array([1]))).tolist() == ["used[P22]"]
    assert bulk.bracketed("used", (plots, np.zeros(0, dtype=int))).size == 0
