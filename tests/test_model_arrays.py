"""``Built.arrays()`` reads the model straight from MathOpt's storage, without a proto.

``Arrays.of_storage`` must give exactly ``Arrays.of(model.export_model())``: the same ids in the
same (ascending) order, names, canonical CSR matrix with the same data order, bounds,
objective, offset and sense, down to dtypes and bytes. Checked on the demo scenarios (every
mode and relaxed family, min_cost), a national instance, an OR-Library CFLP, hand-made models
with deleted elements, and the fallback to the exported proto when the storage is missing.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from ortools.math_opt.python import mathopt

from benchmarks import national
from geodata.importers.orlib import read_orlib_cflp, write_instance
from planner.instance import Instance, build_instance
from planner.model import Built, build, bulk
from planner.model.certificate import Arrays, proto_of
from planner.model.constraints import FAMILIES
from planner.pipeline import load_layers, load_scenario
from tests.test_orlib import TINY
from tests.world import write_world

REPO = Path(__file__).resolve().parents[1]


def assert_same(got: Arrays, want: Arrays) -> None:
    """Field by field, with dtypes and bytes (so -0.0, NaN and index widths count too)."""
    for name in ("var_ids", "row_ids", "objective", "lx", "ux", "lr", "ur"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name
    for name in ("var_names", "row_names"):
        a, b = getattr(got, name), getattr(want, name)
        assert a.dtype == b.dtype == object, name
        assert a.tolist() == b.tolist(), name
        assert all(type(s) is str for s in a.tolist()), name
    a, b = got.matrix, want.matrix
    assert isinstance(a, sp.csr_matrix) and isinstance(b, sp.csr_matrix)
    assert a.shape == b.shape and a.has_canonical_format and b.has_canonical_format
    for part in ("indptr", "indices", "data"):
        x, y = getattr(a, part), getattr(b, part)
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes(), part
    assert type(got.offset) is type(want.offset) is float and got.offset == want.offset
    assert type(got.maximize) is type(want.maximize) is bool
    assert got.maximize == want.maximize


def _check(built: Built) -> None:
    """Storage arrays, read before any proto exists, equal the exported proto's."""
    arrays = built.arrays()
    assert built._proto is None, "arrays() exported a proto"
    assert_same(arrays, Arrays.of(built.model.export_model()))


def _instance(scenario_path: Path) -> Instance:
    scenario = load_scenario(scenario_path)
    return build_instance(load_layers(scenario), scenario)


@pytest.fixture(scope="module")
def demo() -> list[Instance]:
    return [_instance(REPO / "scenarios" / f"{name}.yaml") for name in ("default", "min_cost")]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Instance:
    return _instance(write_world(tmp_path_factory.mktemp("world"), target_homes=120))


@pytest.fixture(scope="module")
def national_200(tmp_path_factory: pytest.TempPathFactory) -> Instance:
    return _instance(national.generate(200, tmp_path_factory.mktemp("national"), seed=3))


@pytest.mark.parametrize(
    "mode,relax",
    [("target", frozenset()), ("max_homes", frozenset())]
    + [("target", frozenset({family})) for family in FAMILIES]
    + [("target", frozenset(FAMILIES))],
    ids=str,
)
def test_demo_models(demo: list[Instance], world: Instance, mode: str, relax: frozenset) -> None:
    for inst in [*demo, world]:
        _check(build(inst, mode=mode, relax=relax))


def test_min_cost_minimises(demo: list[Instance]) -> None:
    built = build(demo[1])
    assert demo[1].scenario.objective == "min_cost"
    assert not built.arrays().maximize
    _check(build(demo[1]))


def test_national_instance(national_200: Instance) -> None:
    for integer_flows in (False, True):
        _check(build(national_200, integer_flows=integer_flows))
    _check(build(national_200, relax=frozenset({"min_homes", "care_reach"})))


def test_orlib_cflp(tmp_path: Path) -> None:
    (tmp_path / "tiny.txt").write_text(TINY, encoding="utf-8")
    write_instance(read_orlib_cflp(tmp_path / "tiny.txt"), tmp_path / "layers")
    inst = _instance(tmp_path / "layers" / "scenario.yaml")
    assert inst.scenario.objective == "min_cost"
    for mode in ("target", "max_homes"):
        _check(build(inst, mode=mode))


def test_a_model_built_through_the_public_api(world: Instance, monkeypatch) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(bulk, "_storage", lambda _model: None)
        built = build(world)
    _check(built)


def _hand_made(maximize: bool) -> mathopt.Model:
    """Ids with gaps (deleted elements), a deleted entry, odd names, infinite bounds, an
    offset; the rows and entries added out of id order of their columns."""
    model = mathopt.Model(name="hand")
    x = [
        model.add_variable(lb=-np.inf if i == 2 else -0.0, ub=np.inf if i else 4.0, name=n)
        for i, n in enumerate(["x", "", "Café[ä]", "gone", "y long name", "z"])
    ]
    x[5].integer = True
    rows = [
        model.add_linear_constraint(lb=lo, ub=hi, name=n)
        for lo, hi, n in [(-np.inf, 3.0, "r"), (1.0, 1.0, ""), (0.0, np.inf, "weg"), (2, 9, "ü")]
    ]
    for r, v, c in [(3, 5, 2.0), (0, 4, -1.5), (3, 0, 1.0), (0, 1, 3.0), (1, 3, 7.0), (2, 2, 1)]:
        rows[r].set_coefficient(x[v], c)
    rows[3].set_coefficient(x[4], 5.0)
    rows[3].set_coefficient(x[4], 0.0)  # an entry set back to 0 is gone
    model.delete_variable(x[3])
    model.delete_linear_constraint(rows[2])
    later = model.add_variable(lb=1.0, ub=2.0, name="later")
    rows[0].set_coefficient(later, -2.0)
    objective = 3.0 * x[0] - 1.0 * x[4] + 0.5 * later + 7.25
    if maximize:
        model.maximize(objective)
    else:
        model.minimize(objective)
    return model


@pytest.mark.parametrize("maximize", [False, True])
def test_hand_made_models(maximize: bool) -> None:
    model = _hand_made(maximize)
    arrays = Arrays.of_storage(bulk.readable_storage(model))
    assert arrays.var_ids.tolist() == [0, 1, 2, 4, 5, 6]
    assert arrays.row_names.tolist() == ["r", "", "ü"]
    assert_same(arrays, Arrays.of(model.export_model()))


def _same_both_ways(model: mathopt.Model) -> None:
    assert_same(Arrays.of_storage(bulk.readable_storage(model)), Arrays.of(model.export_model()))


def test_empty_models() -> None:
    for model in (mathopt.Model(), mathopt.Model(name="empty")):
        _same_both_ways(model)
    model = mathopt.Model()
    model.add_variable(name="only")  # columns without rows, no objective
    _same_both_ways(model)


def test_without_the_storage_arrays_come_from_the_proto(world: Instance, monkeypatch) -> None:
    built = build(world)
    with monkeypatch.context() as patch:
        patch.setattr(bulk, "_storage", lambda _model: None)

        def refused(store: object) -> Arrays:
            raise AssertionError("the storage was read")

        patch.setattr(Arrays, "of_storage", classmethod(lambda cls, store: refused(store)))
        arrays = built.arrays()
    assert built._proto is not None  # exported, as before
    assert_same(arrays, Arrays.of(built.model.export_model()))
    assert built.arrays() is arrays  # made once


def test_a_storage_without_the_getters_is_not_read(monkeypatch) -> None:
    class Writable:  # as an OR-Tools release with set_attrs but other getters would be
        def set_attrs(self) -> None: ...

    model = mathopt.Model()
    assert bulk.readable_storage(model) is model._elemental
    monkeypatch.setattr(bulk, "_storage", lambda _model: Writable())
    assert bulk.readable_storage(model) is None


def test_proto_of_is_the_lp_of_the_kept_columns(world: Instance) -> None:
    """proto_of needs only the model's name and arrays: its LP has the kept columns, as
    continuous ones, and every row they are in (and every other row that 0 does not satisfy),
    with the model's bounds, objective and coefficients."""
    built = build(world)
    arrays = built.arrays()
    keep = np.arange(len(arrays.var_ids)) % 7 == 0
    empty = np.asarray(abs(arrays.matrix[:, np.flatnonzero(keep)]).sum(axis=1)).ravel() == 0
    assert empty.any() and not empty.all()
    # an empty row that 0 does not satisfy stays, so the LP stays infeasible
    first = int(np.flatnonzero(empty)[0])
    lr = arrays.lr.copy()
    lr[first] = 1.0
    arrays = dataclasses.replace(arrays, lr=lr)
    rows = ~empty
    rows[first] = True
    proto = proto_of(built.model.name, arrays, keep)
    assert proto.name == world.scenario.name
    assert not any(proto.variables.integers) and any(built.proto().variables.integers)
    lp = Arrays.of(proto)
    assert np.array_equal(lp.var_ids, arrays.var_ids[keep])
    assert np.array_equal(lp.row_ids, arrays.row_ids[rows])
    assert (lp.matrix != arrays.matrix[np.flatnonzero(rows)][:, np.flatnonzero(keep)]).nnz == 0
    for field in ("lx", "ux", "objective"):
        assert np.array_equal(getattr(lp, field), getattr(arrays, field)[keep]), field
    assert np.array_equal(lp.lr, arrays.lr[rows]) and np.array_equal(lp.ur, arrays.ur[rows])
    assert (lp.maximize, lp.offset) == (arrays.maximize, arrays.offset)
