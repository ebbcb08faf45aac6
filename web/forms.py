"""The run form: the few values a planner changes, checked by WTForms, then by the planner.

WTForms catches what is not a number; the scenario's own validation (``apply_overrides``, the
same path as ``flexplan run --set``) has the last word, and its message is shown on the form.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FloatField, IntegerField, SelectField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange, Optional


class DecimalCommaField(FloatField):
    """A float that also accepts a Dutch decimal comma (``0,3``)."""

    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist:
            valuelist = [str(valuelist[0]).strip().replace(",", ".")]
        super().process_formdata(valuelist)


class RunForm(FlaskForm):
    """Fixed fields; reach fields per service type are added by :func:`run_form`."""

    target_homes = IntegerField(
        _l("Target homes"),
        validators=[InputRequired(), NumberRange(min=0, max=1_000_000)],
        description=_l("Homes to place, exactly."),
    )
    min_share = DecimalCommaField(
        _l("Share of support homes"),
        validators=[InputRequired(), NumberRange(min=0, max=1)],
        description=_l("At least this share of all homes (0 to 1, e.g. 0,2)."),
    )
    max_share_of_dwellings = DecimalCommaField(
        _l("Neighbourhood share"),
        validators=[InputRequired(), NumberRange(min=0, max=1)],
        description=_l("Flex homes per buurt at most this share of its dwellings (e.g. 0,05)."),
    )
    objective = SelectField(
        _l("Objective"),
        choices=[
            SelectChoice("max_suitability", _l("Most suitable locations")),
            SelectChoice("min_cost", _l("Lowest cost")),
        ],
    )
    time_limit_s = DecimalCommaField(
        _l("Time limit (seconds)"),
        validators=[InputRequired(), NumberRange(min=1)],
        description=_l("The solver stops after this many seconds with the best plan so far."),
    )
    submit = SubmitField(_l("Start run"))


def reach_field_name(kind: str) -> str:
    return f"reach_{kind}"


def run_form(scenario: Any, kinds: list[str], max_time_s: float) -> RunForm:
    """A RunForm with one reach field per service type, filled with the scenario's values."""

    class Form(RunForm):
        pass

    for kind in kinds:
        setattr(
            Form,
            reach_field_name(kind),
            DecimalCommaField(
                kind,
                validators=[Optional(), NumberRange(min=1, max=100_000)],
                description=_l("Metres; leave empty when this type is not required."),
            ),
        )
    Form.time_limit_s = DecimalCommaField(
        _l("Time limit (seconds)"),
        validators=[InputRequired(), NumberRange(min=1, max=max_time_s)],
        description=_l("The solver stops after this many seconds with the best plan so far."),
    )
    reach = scenario.support.reach_m
    data = {
        "target_homes": scenario.target_homes,
        "min_share": scenario.support.min_share,
        "max_share_of_dwellings": scenario.neighbourhood.max_share_of_dwellings,
        "objective": scenario.objective,
        "time_limit_s": scenario.solver.time_limit_s,
        **{reach_field_name(k): reach.get(k) for k in kinds},
    }
    return Form(data=data)


def overrides_from(form: RunForm, scenario: Any, kinds: list[str]) -> dict[str, Any]:
    """Dotted overrides for the values that differ from the scenario file."""
    wanted = {
        "target_homes": form.target_homes.data,
        "support.min_share": form.min_share.data,
        "neighbourhood.max_share_of_dwellings": form.max_share_of_dwellings.data,
        "objective": form.objective.data,
        "solver.time_limit_s": form.time_limit_s.data,
    }
    current = {
        "target_homes": scenario.target_homes,
        "support.min_share": scenario.support.min_share,
        "neighbourhood.max_share_of_dwellings": scenario.neighbourhood.max_share_of_dwellings,
        "objective": scenario.objective,
        "solver.time_limit_s": scenario.solver.time_limit_s,
    }
    out = {k: v for k, v in wanted.items() if v != current[k]}
    reach = {
        k: getattr(form, reach_field_name(k)).data
        for k in kinds
        if getattr(form, reach_field_name(k)).data is not None
    }
    if reach != dict(scenario.support.reach_m):
        out["support.reach_m"] = reach
    return out
