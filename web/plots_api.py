"""The plots API: corporations propose plots, planners review them (``/api/plots``).

Every route needs a user: a Bearer token (``Authorization: Bearer TOKEN``) or the session. What a
role may see or change is the store's decision (`planner.proposals.store`): a proposal the caller
may not see is 404, a change the role may not make is 403, a stale ``version`` 409, and invalid
plots 422 with the JSON list ``[{index, field, problem}]`` and nothing stored. Bodies over
``PLOTS_MAX_BYTES`` are 413, and so are more than ``PLOTS_MAX_FEATURES`` features.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask_login import current_user

from web.auth import db, requires
from web.errors import ApiError
from web.uploads import UploadError, geojson_features

bp = Blueprint("plots_api", __name__, url_prefix="/api/plots")
WEB_CRS = "OGC:CRS84"


def limit_body() -> None:
    """Plot uploads may be larger than the app's other requests, up to ``PLOTS_MAX_BYTES``.

    Registered on the app before CSRFProtect, whose check reads the form first.
    """
    if request.blueprint in ("plots", "plots_api"):
        size = int(current_app.config["PLOTS_MAX_BYTES"])
        request.max_content_length = size
        request.max_form_memory_size = size


def check_count(features: list[Any]) -> None:
    """At most ``PLOTS_MAX_FEATURES`` features in one request (413 beyond it)."""
    most = int(current_app.config["PLOTS_MAX_FEATURES"])
    if len(features) > most:
        raise ApiError(413, f"{len(features)} features; send at most {most} at once", "features")


def feature_of(proposal: Any) -> dict[str, Any]:
    """A proposal as a WGS84 GeoJSON Feature with its page's address."""
    from planner.proposals import proposal_feature

    feature = proposal_feature(proposal, crs=WEB_CRS)
    feature["properties"]["url"] = url_for("plots.show", proposal_id=proposal.id)
    return feature


def _json() -> Any:
    if not request.is_json:
        raise ApiError(415, "send JSON with Content-Type: application/json", "body")
    body = request.get_json(silent=True)
    if body is None:
        raise ApiError(400, "the body is not valid JSON", "body")
    return body


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


@bp.get("")
@requires()
def index() -> Response:
    """The proposals the caller may see (``?status=`` to filter), as a FeatureCollection."""
    from planner.proposals import list_proposals

    with db() as s:
        found = list_proposals(s, current_user.record, request.args.get("status") or None)
        features = [feature_of(p) for p in found]
    return jsonify({"type": "FeatureCollection", "features": features})


@bp.post("")
@requires()
def create() -> tuple[Response, int]:
    """Store every feature of the body as a proposal, or none (``?repair=true``: consent)."""
    from planner.proposals import create_proposals

    try:
        features, crs = geojson_features(_json())
    except UploadError as exc:
        raise ApiError(400, str(exc), "body") from None
    check_count(features)
    with db(write=True) as s:
        result = create_proposals(s, current_user.record, features, crs=crs, repair=_flag("repair"))
    body = {"ids": result.ids, "warnings": result.warnings, "repaired": result.repaired}
    return jsonify(body), 201


@bp.get("/<int:proposal_id>")
@requires()
def show(proposal_id: int) -> Response:
    from planner.proposals import get_proposal

    with db() as s:
        proposal = get_proposal(s, proposal_id, current_user.record)
        if proposal is None:
            raise ApiError(404, f"no plot {proposal_id}", "id")
        return jsonify(feature_of(proposal))


@bp.patch("/<int:proposal_id>")
@requires()
def update(proposal_id: int) -> Response:
    """Edit (owner, while proposed) or review (planner: ``status`` and ``reason``).

    The body is an object of fields to change; ``reason`` is the review's reason, ``version``
    (optional) the version the change was based on, ``geometry`` GeoJSON in WGS84.
    """
    from planner.proposals import update_proposal

    body = _json()
    if not isinstance(body, dict):
        raise ApiError(400, "the body must be a JSON object", "body")
    changes = dict(body)
    version = changes.pop("version", None)
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ApiError(400, "'version' must be an integer", "version")
    if "reason" in changes:
        changes["review_reason"] = changes.pop("reason")
    with db(write=True) as s:
        proposal = update_proposal(
            s,
            current_user.record,
            proposal_id,
            changes,
            crs="EPSG:4326",
            repair=_flag("repair"),
            expected_version=version,
        )
        return jsonify(feature_of(proposal))
