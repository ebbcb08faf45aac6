"""User management for admins: ``/admin/users`` (pages) and ``GET /api/users`` (JSON).

Admins only, checked on the server by `web.auth.requires` (planners and corporation users get
403, anonymous callers the login page or 401; a Bearer token works as everywhere). The rules
(names, roles, organisation per role, password length, no disabling oneself) and the audit rows
are the store's, the same functions `flexplan users` calls (`planner.proposals.store`): this module
only turns forms into calls and the store's problems into messages on the form.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import EqualTo, InputRequired, Length, Optional

from web.auth import db, requires
from web.i18n import N_

bp = Blueprint("admin", __name__, url_prefix="/admin")
api_bp = Blueprint("users_api", __name__, url_prefix="/api/users")
#: Shown for the audit actions of users (the raw action stays beside it).
ACTION_WORDS = {
    "user.add": N_("added"),
    "user.token": N_("new API token"),
    "user.disable": N_("disabled"),
    "user.enable": N_("enabled again"),
    "user.password": N_("new password"),
}


def _password_pair(label: Any) -> tuple[PasswordField, PasswordField]:
    """A password field and its repetition, as both user forms ask for them."""
    password = PasswordField(
        label,
        validators=[InputRequired(), Length(max=1024)],
        description=_l("At least 10 characters."),
    )
    confirm = PasswordField(
        _l("Repeat password"),
        validators=[InputRequired(), EqualTo("password", message=_l("The passwords differ."))],
    )
    return password, confirm


class AddUserForm(FlaskForm):
    name = StringField(
        _l("User name"),
        validators=[InputRequired(), Length(max=64)],
        description=_l("Letters, digits and . _ @ -; at most 64 characters."),
    )
    role = SelectField(
        _l("Role"),
        choices=[
            SelectChoice("corporation", _l("corporation")),
            SelectChoice("planner", _l("planner")),
            SelectChoice("admin", _l("admin")),
        ],
        validators=[InputRequired()],
    )
    org = StringField(
        _l("Organisation"),
        validators=[Optional(), Length(max=200)],
        description=_l("Required for corporation users; leave empty for planners and admins."),
    )
    password, confirm = _password_pair(_l("Password"))
    submit = SubmitField(_l("Add user"))


class PasswordForm(FlaskForm):
    password, confirm = _password_pair(_l("New password"))
    submit = SubmitField(_l("Set password"))


def _problems_on(form: FlaskForm, exc: Any) -> None:
    """The store's ``{field, problem}`` list onto the form's fields (or the form as a whole)."""
    for problem in exc.problems:
        name = problem.get("field") or ""
        if name in form:
            field = form[name]
            field.errors = [*field.errors, problem["problem"]]
        else:
            form.form_errors.append(f"{problem.get('field')}: {problem['problem']}")


def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the list and adding -------------------------------------------------------------------------


def _list_page(form: AddUserForm, status: int = 200) -> Any:
    from planner.proposals import list_users, user_audit_trail

    with db() as s:
        users = list_users(s)
        trail = user_audit_trail(s, limit=30)
    page = render_template(
        "admin_users.html", users=users, form=form, trail=trail, actions=ACTION_WORDS
    )
    return page, status


@bp.get("/users")
@requires("admin")
def users() -> Any:
    return _list_page(AddUserForm())


@bp.post("/users")
@requires("admin")
def add() -> Any:
    from planner.proposals import Conflict, InvalidInput, add_user

    form = AddUserForm()
    if not form.validate_on_submit():
        return _list_page(form, 422)
    try:
        with db(write=True) as s:
            add_user(
                s,
                form.name.data or "",
                form.role.data or "",
                form.password.data or "",
                org=form.org.data or None,
                actor=current_user.record,
            )
    except InvalidInput as exc:
        _problems_on(form, exc)
        return _list_page(form, 422)
    except Conflict:  # the name is taken
        form.name.errors = [*form.name.errors, _("This user name is taken.")]
        return _list_page(form, 409)
    flash(_("User %(name)s added.", name=form.name.data), "status")
    return redirect(url_for("admin.show", name=form.name.data), 303)


# --- one user ------------------------------------------------------------------------------------


def _detail(
    name: str,
    *,
    password_form: PasswordForm | None = None,
    token: str | None = None,
    problem: str | None = None,
    status: int = 200,
) -> Any:
    from planner.proposals import NotFound, get_user, user_audit_trail

    with db() as s:
        user = get_user(s, name)
        if user is None:
            raise NotFound(f"no user '{name}'")
        trail = user_audit_trail(s, name)
    page = render_template(
        "admin_user.html",
        user=user,
        trail=trail,
        actions=ACTION_WORDS,
        password_form=password_form or PasswordForm(formdata=None),
        token=token,
        problem=problem,
        is_self=user.id == current_user.id,
    )
    return _no_store(Response(page, status))


@bp.get("/users/<name>")
@requires("admin")
def show(name: str) -> Any:
    return _detail(name)


@bp.post("/users/<name>/disable")
@requires("admin")
def disable(name: str) -> Any:
    from planner.proposals import Conflict, disable_user

    try:
        with db(write=True) as s:
            disable_user(s, name, actor=current_user.record)
    except Conflict:
        problem = _("You cannot disable yourself; ask another admin.")
        return _detail(name, problem=problem, status=409)
    flash(_("User %(name)s disabled; their API token no longer works.", name=name), "status")
    return redirect(url_for("admin.show", name=name), 303)


@bp.post("/users/<name>/enable")
@requires("admin")
def enable(name: str) -> Any:
    from planner.proposals import enable_user

    with db(write=True) as s:
        enable_user(s, name, actor=current_user.record)
    flash(_("User %(name)s can sign in again.", name=name), "status")
    return redirect(url_for("admin.show", name=name), 303)


@bp.post("/users/<name>/token")
@requires("admin")
def token(name: str) -> Any:
    """A new token, shown in this answer only (not cached; the store keeps only its hash)."""
    from planner.proposals import PermissionDenied, issue_token

    try:
        with db(write=True) as s:
            value = issue_token(s, name, actor=current_user.record)
    except PermissionDenied:
        problem = _("A disabled user gets no token; enable the user first.")
        return _detail(name, problem=problem, status=409)
    return _detail(name, token=value)


@bp.post("/users/<name>/password")
@requires("admin")
def password(name: str) -> Any:
    from planner.proposals import InvalidInput, set_password

    form = PasswordForm()
    if not form.validate_on_submit():
        return _detail(name, password_form=form, status=422)
    try:
        with db(write=True) as s:
            set_password(s, name, form.password.data or "", actor=current_user.record)
    except InvalidInput as exc:
        _problems_on(form, exc)
        return _detail(name, password_form=form, status=422)
    flash(_("New password set for %(name)s.", name=name), "status")
    return redirect(url_for("admin.show", name=name), 303)


# --- JSON ----------------------------------------------------------------------------------------


def user_json(user: Any) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "org": user.org,
        "active": not user.disabled,
        "token": user.token_hash is not None,
        "created_at": user.created_at.isoformat(),
    }


@api_bp.get("")
@requires("admin")
def api_index() -> Response:
    """Every user (admins only): name, role, org, active, whether a token is set, created_at."""
    from planner.proposals import list_users

    with db() as s:
        return jsonify([user_json(u) for u in list_users(s)])
