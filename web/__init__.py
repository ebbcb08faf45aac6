"""The planners' map app: scenarios, maps, runs, downloads and a JSON API (Flask, app factory).

Presentation only: views resolve names to known files through :mod:`web.store` and call
``planner`` for everything else. Configuration comes from defaults, then ``FLEXPLAN_*``
environment variables (``FLEXPLAN_SECRET_KEY``, ``FLEXPLAN_DATA_DIR``, ...), then ``config``.
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
    from web import api, compare, compression, downloads, errors, i18n, maps, runs, scenarios

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
    manager = RunManager(store.jobs_dir, max_running=int(app.config["MAX_RUNNING"]))
    app.extensions["flexplan"] = Services(store=store, runs=manager)

    i18n.init_app(app)
    errors.init_app(app)
    from flask_wtf.csrf import CSRFProtect

    csrf = CSRFProtect(app)
    csrf.exempt(api.bp)  # JSON only: a cross-site form cannot send application/json
    for module in (scenarios, maps, runs, api, downloads, compare):
        app.register_blueprint(module.bp)
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
