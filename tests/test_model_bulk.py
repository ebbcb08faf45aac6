"""The bulk model build gives exactly the model the public MathOpt API gives, row for row.

``planner.model.bulk`` writes variables and rows straight into MathOpt's storage for speed; with
the storage hidden it falls back to the public API. Both paths must export identical ModelProtos
(bounds, integrality, names, coefficients, objective) for every mode and relaxed family.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ortools.math_opt.python import mathopt

from planner.instance import build_instance
from planner.model import build, bulk
from planner.model.constraints import FAMILIES
from planner.pipeline import load_layers, load_scenario
from tests.world import write_world

REPO = Path(__file__).resolve().parents[1]


def _proto(inst, **kwargs) -> bytes:
    model = build(inst, **kwargs).model
    return model.export_model().SerializeToString(deterministic=True)


@pytest.fixture(scope="module")
def instances(tmp_path_factory):
    world = write_world(tmp_path_factory.mktemp("world"), target_homes=120)
    found = []
    for path in (world, REPO / "scenarios" / "default.yaml"):
        scenario = load_scenario(path)
        found.append(build_instance(load_layers(scenario), scenario))
    return found


VARIANTS = [("target", frozenset()), ("max_homes", frozenset())] + [
    ("target", frozenset({family})) for family in FAMILIES
]


@pytest.mark.parametrize("mode,relax", VARIANTS, ids=lambda x: str(x))
def test_fast_and_public_paths_build_the_same_model(instances, monkeypatch, mode, relax):
    for inst in instances:
        fast = _proto(inst, mode=mode, relax=relax)
        with monkeypatch.context() as patch:
            patch.setattr(bulk, "_storage", lambda _model: None)
            public = _proto(inst, mode=mode, relax=relax)
        assert fast == public


def test_rows_sum_duplicates_drop_zeros_and_keep_names():
    for use_storage in (True, False):
        model = mathopt.Model()
        x = bulk.add_variables(
            model,
            np.zeros(3),
            np.array([1.0, 2.0, 3.0]),
            np.array([True, False, True]),
            ["x", "long_name", ""],
            fast=use_storage,
        )
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
