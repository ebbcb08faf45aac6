"""The planners' map app: scenarios, maps, runs, downloads and a JSON API (Flask, app factory).

Presentation only: views resolve names to known files through :mod:`web.store` and call
``planner`` for everything else. Configuration comes from defaults, then ``FLEXPLAN_*``
environment variables (``FLEXPLAN_SECRET_KEY``, ``FLEXPLAN_DATA_DIR``, ...), then ``config``.
Accounts, roles and which pages need a login: :mod:`web.auth`; proposed plots: :mod:`web.plots`
(pages) and :mod:`web.plots_api` (``/api/plots``); user management for admins: :mod:`web.admin`
(``/admin/users``, ``/api/users``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, current_app

from web.jobs import RunManager
from web.store import Store

HERE = Path(__file__).resolve().parent
BASEMAPS = ("pdok", "plain")  # the default base layer: PDOK's BRT, or the plain offline one
PDOK_BRT = (
    "https://service.pdok.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/{z}/{x}/{y}.png"
)
_CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https://service.pdok.nl",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
    )
)


@dataclass
class Services:
    """What the views share: the file store and the run manager."""

    store: Store
    runs: RunManager


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` (tests, `flexplan serve`) overrides defaults and environment."""
    from web import (
        admin,
        api,
        auth,
        compare,
        compression,
        downloads,
        errors,
        i18n,
        maps,
        plots,
        plots_api,
        runs,
        scenarios,
    )

    app = Flask(__name__)
    app.config.from_mapping(
        DATA_DIR="results",
        SCENARIOS_DIR="scenarios",
        SECRET_KEY=None,
        MAX_CONTENT_LENGTH=64 * 1024,  # run requests are small JSON or form posts
        MAX_FORM_MEMORY_SIZE=64 * 1024,
        MAX_FORM_PARTS=200,
        MAX_RUNNING=2,
        MAX_TIME_LIMIT_S=3600.0,
        TILES_URL=PDOK_BRT,
        BASEMAP="pdok",  # FLEXPLAN_BASEMAP=plain starts without tiles (PDOK stays an option)
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=False,  # set FLEXPLAN_SESSION_COOKIE_SECURE=true behind HTTPS
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        DATABASE_URL=None,  # FLEXPLAN_DATABASE_URL; default SQLite DATA_DIR/flexplan.db
        LOGIN_REQUIRED=False,  # True: the map pages are for planners and admins only
        PLOTS_MAX_BYTES=8 * 1024 * 1024,  # plot uploads (files, GeoJSON) may be this large
        PLOTS_MAX_FEATURES=1000,
        WTF_CSRF_TIME_LIMIT=None,  # tokens live as long as the session
        BABEL_DEFAULT_LOCALE="nl",
        BABEL_TRANSLATION_DIRECTORIES=str(HERE / "translations"),
    )
    app.config.from_prefixed_env("FLEXPLAN")
    app.config.update(config or {})
    if app.config["BASEMAP"] not in BASEMAPS:
        raise ValueError(f"BASEMAP must be one of {BASEMAPS}, not {app.config['BASEMAP']!r}")
    if not app.config["SECRET_KEY"]:
        app.config["SECRET_KEY"] = secrets.token_hex(32)  # sessions end with the process
    store = Store(Path(app.config["SCENARIOS_DIR"]), Path(app.config["DATA_DIR"]))
    # The worker's db: layers read the app's database (planner.proposals.db), not the defaults.
    worker_env = {"FLEXPLAN_DATA": str(Path(app.config["DATA_DIR"]).resolve())}
    if app.config["DATABASE_URL"]:
        worker_env["FLEXPLAN_DATABASE_URL"] = str(app.config["DATABASE_URL"])
    manager = RunManager(store.jobs_dir, max_running=int(app.config["MAX_RUNNING"]), env=worker_env)
    app.extensions["flexplan"] = Services(store=store, runs=manager)
    if isinstance(app.config["SESSION_COOKIE_SECURE"], str):
        secure = app.config["SESSION_COOKIE_SECURE"].lower() in ("1", "true", "yes")
        app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = secure

    i18n.init_app(app)
    errors.init_app(app)
    from flask_wtf.csrf import CSRFProtect

    app.before_request(plots_api.limit_body)  # before the CSRF check reads the form
    csrf = CSRFProtect(app)
    csrf.exempt(api.bp)  # JSON only: a cross-site form cannot send application/json
    csrf.exempt(plots_api.bp)  # the same: its writes need a JSON body
    auth.init_app(app)
    for module in (scenarios, maps, runs, api, downloads, compare, plots, plots_api, admin):
        app.register_blueprint(module.bp)
    app.register_blueprint(admin.api_bp)
    app.after_request(_security_headers)
    compression.init_app(app)
    return app


def services() -> Services:
    """The current app's store and run manager."""
    return current_app.extensions["flexplan"]


def _security_headers(response: Any) -> Any:
    response.headers.setdefault("Content-Security-Policy", _CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    return response
