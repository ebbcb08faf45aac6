"""Proposed plots in the browser: the list, one plot with its map, review and audit trail, and
proposing new plots (upload a file or draw a polygon, see the validation report, then save).

Every page needs a user (see `web.auth`); the store decides what each role sees, and a plot the
caller may not see is 404. Between checking and saving, the checked features travel in the form
(a hidden field), so nothing is stored until the proposer saves, with consent to repairs or not.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DecimalField,
    HiddenField,
    IntegerField,
    RadioField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from web.auth import db, requires
from web.i18n import N_
from web.plots_api import check_count, feature_of
from web.uploads import WGS84, UploadError, read_upload

bp = Blueprint("plots", __name__, url_prefix="/plots")
STATUS_WORDS = (N_("proposed"), N_("accepted"), N_("rejected"))


class ReviewForm(FlaskForm):
    status = RadioField(
        _l("Decision"),
        choices=[SelectChoice("accepted", _l("Accept")), SelectChoice("rejected", _l("Reject"))],
        validators=[InputRequired()],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Required when you reject the plot."),
    )
    version = HiddenField()
    submit = SubmitField(_l("Save decision"))


class ProposeForm(FlaskForm):
    """A file or a drawn polygon, with values for the fields the file leaves out."""

    upload = FileField(
        _l("File"),
        description=_l("GeoJSON, GeoPackage, KML, zipped Shapefile or CSV with a WKT column."),
    )
    geometry = HiddenField()
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200)])
    capacity = IntegerField(_l("Capacity (homes)"), validators=[Optional(), NumberRange(min=1)])
    available_from = IntegerField(_l("Available from (year)"), validators=[Optional()])
    available_until = IntegerField(_l("Available until (year)"), validators=[Optional()])
    fixed_cost = DecimalField(_l("Fixed cost (EUR)"), validators=[Optional()])
    cost_per_home = DecimalField(_l("Cost per home (EUR)"), validators=[Optional()])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Check"))


class SaveForm(FlaskForm):
    features = HiddenField(validators=[InputRequired()])
    crs = HiddenField(validators=[InputRequired()])
    repair = BooleanField(_l("Repair invalid outlines automatically (make_valid)"))
    submit = SubmitField(_l("Save plots"))


@bp.get("")
@requires()
def index() -> str:
    from planner.proposals import STATUSES, list_proposals

    status = request.args.get("status")
    status = status if status in STATUSES else None
    with db() as s:
        proposals = list_proposals(s, current_user.record, status)
    return render_template("plots.html", proposals=proposals, status=status, statuses=STATUSES)


def _tiles() -> dict[str, str] | None:
    """PDOK's tiles when the map app starts with them, else none (a plain background)."""
    from web.maps import basemap, tiles_config

    return tiles_config() if basemap() == "pdok" else None


def _detail(proposal_id: int, form: ReviewForm | None = None, problem: str | None = None) -> Any:
    from planner.proposals import audit_trail, get_proposal, review_flags

    user = current_user.record
    with db() as s:
        proposal = get_proposal(s, proposal_id, user)
        if proposal is None:
            abort(404, f"no plot {proposal_id}")
        trail = audit_trail(s, user, proposal_id)
        flags = review_flags(s, user, proposal_id) if user.role == "planner" else []
        feature = feature_of(proposal)
    if form is None and user.role == "planner":
        form = ReviewForm(data={"version": proposal.version, "status": proposal.status})
    config = {"feature": feature, "tiles": _tiles()}
    status = 422 if problem or (form is not None and form.errors) else 200
    page = render_template(
        "plot.html",
        proposal=proposal,
        trail=trail,
        flags=flags,
        form=form,
        problem=problem,
        config=config,
    )
    return page, status


@bp.get("/<int:proposal_id>")
@requires()
def show(proposal_id: int) -> Any:
    return _detail(proposal_id)


@bp.post("/<int:proposal_id>/review")
@requires("planner")
def review(proposal_id: int) -> Any:
    from planner.proposals import InvalidInput, update_proposal

    form = ReviewForm()
    if not form.validate_on_submit():
        return _detail(proposal_id, form)
    version = int(form.version.data) if (form.version.data or "").isdigit() else None
    changes = {"status": form.status.data, "review_reason": form.reason.data or None}
    try:
        with db(write=True) as s:
            update_proposal(s, current_user.record, proposal_id, changes, expected_version=version)
    except InvalidInput as exc:
        return _detail(proposal_id, form, "; ".join(p["problem"] for p in exc.problems))
    return redirect(url_for("plots.show", proposal_id=proposal_id), 303)


# --- proposing -----------------------------------------------------------------------------------


def _defaults(form: ProposeForm) -> dict[str, Any]:
    """The form's filled-in values, as JSON-friendly properties."""
    from planner.proposals import FIELDS  # the proposal fields, in the form's order

    out: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(form, name).data
        if value is None or value == "":
            continue
        out[name] = float(value) if name in ("fixed_cost", "cost_per_home") else value
    return out


def _features(form: ProposeForm) -> tuple[list[Any], str]:
    """The features of the uploaded file or the drawn polygon, with the form's values filled in."""
    upload = form.upload.data
    if upload and getattr(upload, "filename", ""):
        features, crs = read_upload(upload.read(), upload.filename)
    elif form.geometry.data:
        try:
            geometry = json.loads(form.geometry.data)
        except ValueError:
            raise UploadError("the drawn polygon could not be read; draw it again") from None
        features, crs = [{"type": "Feature", "geometry": geometry, "properties": {}}], WGS84
    else:
        raise UploadError("choose a file or draw a polygon on the map")
    defaults = _defaults(form)
    for feature in features:
        if isinstance(feature, dict):
            props = feature.get("properties")
            props = dict(props) if isinstance(props, dict) else {}
            given = {k: v for k, v in props.items() if v is not None and v != ""}
            feature["properties"] = {**defaults, **given}
    return features, crs


@bp.route("/new", methods=["GET", "POST"])
@requires("corporation")
def new() -> Any:
    """Step 1: a file or a drawn polygon, checked by the store; nothing is stored yet."""
    form = ProposeForm()
    if not form.validate_on_submit():
        return _new_page(form, status=422 if form.errors else 200)
    try:
        features, crs = _features(form)
        check_count(features)
    except UploadError as exc:
        return _new_page(form, problem=str(exc), status=422)
    save = SaveForm(data={"features": json.dumps(features), "crs": crs})
    return _new_page(form, reports=_reports(features, crs), save=save)


def _reports(features: list[Any], crs: str) -> list[tuple[Any, Any]]:
    """Per feature: the report as it is, and the report with a repair (to offer consent)."""
    from planner.proposals import validate_features

    with db() as s:
        plain = validate_features(s, current_user.record, features, crs=crs, repair=False)
        fixed = validate_features(s, current_user.record, features, crs=crs, repair=True)
    return list(zip(plain, fixed, strict=True))


@bp.post("/save")
@requires("corporation")
def save() -> Any:
    """Step 2: store the checked features, repairing only with the proposer's consent."""
    from planner.proposals import InvalidInput, create_proposals

    save = SaveForm()
    if not save.validate_on_submit():
        abort(400, "the checked plots were not sent; check them again")
    try:
        features = json.loads(save.features.data)
    except ValueError:
        abort(400, "the checked plots could not be read; check them again")
    if not isinstance(features, list):
        abort(400, "the checked plots could not be read; check them again")
    check_count(features)
    crs = save.crs.data or ""
    if not re.fullmatch(r"EPSG:\d{4,5}", crs):
        abort(400, "the checked plots' CRS is unknown; check them again")
    try:
        with db(write=True) as s:
            result = create_proposals(
                s, current_user.record, features, crs=crs, repair=bool(save.repair.data)
            )
    except InvalidInput:
        reports = _reports(features, crs)
        return _new_page(ProposeForm(formdata=None), reports=reports, save=save, status=422)
    return redirect(url_for("plots.index", created=len(result.ids)), 303)


def _new_page(
    form: ProposeForm,
    *,
    reports: list[tuple[Any, Any]] | None = None,
    save: SaveForm | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Any:
    repairable = any(plain.errors and fixed.repaired for plain, fixed in reports or [])
    blocked = any(fixed.errors for _, fixed in reports or [])
    page = render_template(
        "plot_new.html",
        form=form,
        reports=reports,
        save=save,
        problem=problem,
        repairable=repairable,
        blocked=blocked,
        config={"draw": True, "tiles": _tiles()},
    )
    return page, status
