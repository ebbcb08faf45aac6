"""One error shape for the whole app: JSON ``{"error": {status, message, field}}`` or a page.

API paths (and clients that prefer JSON) get JSON; browsers get the same message in a page.
The proposals store's errors map to 403/404/409, and invalid plots to 422 with the JSON list
``[{index, field, problem}]``. Unknown names are 404, never 500; an unexpected error is logged
and shown without details.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from planner.proposals.errors import (
    Conflict,
    InvalidInput,
    PermissionDenied,
    StoreError,
)
from planner.proposals.errors import NotFound as ProposalNotFound
from web.store import NotFound

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Bad input that names the field at fault."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def wants_json() -> bool:
    if request.path.startswith("/api/"):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(status: int, message: str, field: str | None = None) -> Any:
    body = {"status": status, "message": message, "field": field}
    if wants_json():
        return jsonify(error=body), status
    return render_template("error.html", error=body), status


def store_error(exc: StoreError) -> Any:
    """The proposals store's errors: 403, 404, 409, and 422 with the list of problems."""
    if isinstance(exc, InvalidInput):
        if wants_json():
            return jsonify(exc.problems), 422
        return error_response(422, str(exc))
    for kind, status in ((PermissionDenied, 403), (ProposalNotFound, 404), (Conflict, 409)):
        if isinstance(exc, kind):
            return error_response(status, str(exc))
    log.error("web: store error on %s", request.path, exc_info=exc)
    return error_response(500, "the database could not do this; the server log has the details")


def init_app(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api(exc: ApiError) -> Any:
        return error_response(exc.status, exc.message, exc.field)

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound) -> Any:
        return error_response(404, str(exc))

    @app.errorhandler(StoreError)
    def _store(exc: StoreError) -> Any:
        return store_error(exc)

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> Any:
        return error_response(400, f"form expired or not sent from this site: {exc.description}")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _internal(exc: Exception) -> Any:
        log.exception("web: internal error on %s", request.path)
        return error_response(500, "internal error; the server log has the details")
