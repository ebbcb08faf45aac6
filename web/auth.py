"""Accounts in the app: session login (Flask-Login), Bearer tokens, roles, login rate limiting.

Users live in the proposals database (`planner.proposals`), opened once per app on first use:
``DATABASE_URL`` (``FLEXPLAN_DATABASE_URL``) or SQLite ``DATA_DIR/flexplan.db``. Every route
accepts ``Authorization: Bearer TOKEN`` (``flexplan users token NAME``) as well as the session.

Who sees what:

- ``/plots`` and ``/api/plots`` need a user (anonymous: pages redirect to ``/login``, the API
  answers 401); the store decides what each role may see or change (`planner.proposals.store`);
- the scenario, map, compare, run and download pages stay open without login, as before, unless
  the app runs with ``LOGIN_REQUIRED=True`` (``FLEXPLAN_LOGIN_REQUIRED=true``): then they are for
  planners and admins only, and corporation users get 403.

Roles are checked in one place, the `requires` decorator (and `_guard_map_pages`, which applies
it to the map pages). Failed logins are limited per client address (``LOGIN_MAX_FAILURES`` in
``LOGIN_WINDOW_S``, then 429).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import Session
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import InputRequired, Length

from web.errors import error_response

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])
STAFF = ("planner", "admin")
#: Endpoints that stay open even with LOGIN_REQUIRED (the map's library, the API description).
OPEN_ENDPOINTS = frozenset({"maps.leaflet", "api.openapi", "static"})
MAP_BLUEPRINTS = frozenset({"scenarios", "maps", "runs", "api", "downloads", "compare"})


class AppUser(UserMixin):
    """The signed-in user as the views see it; ``record`` is the store's (detached) `User`."""

    def __init__(self, record: Any) -> None:
        self.record = record
        self.id = record.id
        self.name: str = record.name
        self.role: str = record.role
        self.org: str | None = record.org

    def get_id(self) -> str:
        return str(self.id)


# --- the database ------------------------------------------------------------------------------


def proposals_store() -> Any:
    """The app's proposals store, opened (and migrated) once, on first use."""
    ext = current_app.extensions
    with ext["flexplan_store_lock"]:
        if ext.get("flexplan_proposals") is None:
            from planner.proposals import open_store

            url = current_app.config.get("DATABASE_URL") or None
            ext["flexplan_proposals"] = open_store(current_app.config["DATA_DIR"], url)
        return ext["flexplan_proposals"]


@contextmanager
def db(*, write: bool = False) -> Iterator[Session]:
    """One transaction of the proposals store (committed at the end, rolled back on error)."""
    with proposals_store().session(write=write) as s:
        yield s


def _load_user(user_id: str) -> AppUser | None:
    from planner.proposals.models import User

    if not user_id.isdigit():
        return None
    with db() as s:
        record = s.get(User, int(user_id))
    return AppUser(record) if record is not None and not record.disabled else None


def _load_from_request(req: Any) -> AppUser | None:
    header = req.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    from planner.proposals import authenticate_token

    with db() as s:
        record = authenticate_token(s, token.strip())
    return AppUser(record) if record is not None else None


def _unauthorized() -> Any:
    if request.path.startswith("/api/") or request.authorization is not None:
        response = make_response(error_response(401, "sign in or send Authorization: Bearer TOKEN"))
        response.headers["WWW-Authenticate"] = 'Bearer realm="flexplan"'
        return response
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


# --- roles -------------------------------------------------------------------------------------


def check_roles(roles: tuple[str, ...]) -> Any:
    """None when the caller may go on; else the 401 response or a 403 abort."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    if roles and current_user.role not in roles:
        abort(403, f"this needs the role {' or '.join(roles)}")
    return None


def requires(*roles: str) -> Callable[[F], F]:
    """A signed-in user (session or Bearer token), with one of ``roles`` when given."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            refused = check_roles(roles)
            return refused if refused is not None else view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def map_pages_open() -> bool:
    """Whether the caller may open the map pages (for the menu; `_guard_map_pages` enforces)."""
    if not current_app.config.get("LOGIN_REQUIRED") or not current_user.is_authenticated:
        return True  # anonymous callers see the links and are sent to the login page
    return current_user.role in STAFF


def _guard_map_pages() -> Any:
    """With LOGIN_REQUIRED, the map app's pages and API are for planners and admins only."""
    if not current_app.config.get("LOGIN_REQUIRED"):
        return None
    if request.blueprint not in MAP_BLUEPRINTS or request.endpoint in OPEN_ENDPOINTS:
        return None
    return check_roles(STAFF)


# --- login rate limiting -----------------------------------------------------------------------


class FailureCounter:
    """Failed logins per client address in a sliding window (in memory, per process)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str, window: float) -> deque[float]:
        times = self._seen[key]
        while times and times[0] < time.monotonic() - window:
            times.popleft()
        return times

    def blocked(self, key: str, limit: int, window: float) -> bool:
        with self._lock:
            return len(self._recent(key, window)) >= limit

    def fail(self, key: str) -> None:
        with self._lock:
            self._seen[key].append(time.monotonic())


def _limits() -> tuple[int, float]:
    config = current_app.config
    return int(config["LOGIN_MAX_FAILURES"]), float(config["LOGIN_WINDOW_S"])


# --- pages -------------------------------------------------------------------------------------


class LoginForm(FlaskForm):
    name = StringField(_l("User name"), validators=[InputRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[InputRequired(), Length(max=1024)])
    submit = SubmitField(_l("Sign in"))


def _safe_next(target: str | None) -> str:
    """A local path to go to after login; anything else (other hosts, ``//x``) goes to /plots."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("plots.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    failed = False
    if form.validate_on_submit():
        counter: FailureCounter = current_app.extensions["flexplan_login_failures"]
        client = request.remote_addr or "unknown"
        if counter.blocked(client, *_limits()):
            return error_response(429, "too many failed sign-ins; wait a few minutes")
        from planner.proposals import authenticate_password

        with db(write=True) as s:  # write: a password hash may be upgraded
            record = authenticate_password(s, form.name.data or "", form.password.data or "")
        if record is None:
            counter.fail(client)
            failed = True
        else:
            lang = session.get("lang")
            session.clear()  # no session data survives into the signed-in session
            if lang:
                session["lang"] = lang
            login_user(AppUser(record))
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if failed else 200
    return render_template("login.html", form=form, failed=failed), status


@bp.post("/logout")
def logout() -> Any:
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400, "form expired or not sent from this site")
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))


def init_app(app: Flask) -> None:
    """Flask-Login with the session and Bearer loaders, the login pages and the map guard."""
    app.config.setdefault("LOGIN_REQUIRED", False)
    app.config.setdefault("LOGIN_MAX_FAILURES", 10)
    app.config.setdefault("LOGIN_WINDOW_S", 300.0)
    if isinstance(app.config["LOGIN_REQUIRED"], str):
        app.config["LOGIN_REQUIRED"] = app.config["LOGIN_REQUIRED"].lower() in ("1", "true", "yes")
    app.extensions["flexplan_store_lock"] = threading.Lock()
    app.extensions["flexplan_proposals"] = None
    app.extensions["flexplan_login_failures"] = FailureCounter()
    manager = LoginManager(app)
    manager.session_protection = "basic"  # "strong" would drop Bearer users with a session
    manager.user_loader(_load_user)
    manager.request_loader(_load_from_request)
    manager.unauthorized_handler(_unauthorized)
    app.before_request(_guard_map_pages)
    app.jinja_env.globals["map_pages_open"] = map_pages_open
    app.register_blueprint(bp)
