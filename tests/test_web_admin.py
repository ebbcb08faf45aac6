"""User management in the app (``/admin/users``, ``/api/users``) and the per-corporation table.

Users and databases as in test_web_plots.py: corporation users of two organisations (one named
with HTML), a planner and the admin ``ada``, each test on its own SQLite database.
"""

from __future__ import annotations

import html
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.test_web_plots import (
    ORG_A,
    PASSWORD,
    add_users,
    close,
    csrf,
    login,
    signed_in,
)
from tests.web_support import PAYLOAD, new_app

NEW_PASSWORD = "another long passphrase"
SCRIPT = "<script>alert(1)</script>"
#: Every new route: (method, url, form data besides the CSRF token).
ROUTES = [
    ("GET", "/admin/users", {}),
    (
        "POST",
        "/admin/users",
        {"name": "nina", "role": "planner", "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    ),
    ("GET", "/admin/users/bert", {}),
    ("POST", "/admin/users/bert/disable", {}),
    ("POST", "/admin/users/bert/enable", {}),
    ("POST", "/admin/users/bert/token", {}),
    ("POST", "/admin/users/bert/password", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}),
    ("GET", "/api/users", {}),
]


@pytest.fixture(name="plots_app")
def plots_app_fixture(finished: tuple[Path, Path], tmp_path: Path) -> Iterator[Flask]:
    app = new_app(*finished, DATABASE_URL=f"sqlite:///{tmp_path / 'plots.db'}")
    yield app
    close(app)


@pytest.fixture(name="tokens")
def tokens_fixture(plots_app: Flask) -> dict[str, str]:
    return add_users(plots_app)


def _audit(app: Flask, name: str | None = None) -> list[Any]:
    from planner.proposals import user_audit_trail
    from web.auth import db

    with app.app_context(), db() as s:
        return user_audit_trail(s, name)


def _call(client: FlaskClient, method: str, url: str, data: dict[str, str], **headers: str) -> Any:
    """The request with a CSRF token of the client's session (taken from the login page)."""
    if method == "GET":
        return client.get(url, headers=headers)
    token = csrf(client.get("/login", headers=headers).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, headers=headers)


# --- roles on every route ------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "url", "data"), ROUTES)
def test_only_admins_get_in(
    plots_app: Flask, tokens: dict[str, str], method: str, url: str, data: dict[str, str]
) -> None:
    for user in ("anna", "piet"):
        response = _call(signed_in(plots_app, user), method, url, data)
        assert response.status_code == 403, (user, response.get_data(as_text=True))
        bearer = {"Authorization": f"Bearer {tokens[user]}"}
        response = _call(plots_app.test_client(), method, url, data, **bearer)
        assert response.status_code == 403, user
    anonymous = _call(plots_app.test_client(), method, url, data)
    if url.startswith("/api/"):
        assert anonymous.status_code == 401
    else:
        assert anonymous.status_code == 302
        assert anonymous.headers["Location"].startswith("/login?next=")
    assert _audit(plots_app, "bert")[0].action == "user.token"  # nothing changed so far
    bearer = {"Authorization": f"Bearer {tokens['ada']}"}
    as_admin = _call(plots_app.test_client(), method, url, data, **bearer)
    assert as_admin.status_code in (200, 303), as_admin.get_data(as_text=True)
    session = _call(signed_in(plots_app, "ada"), method, url, data)
    assert session.status_code in (200, 303, 409), session.get_data(as_text=True)


@pytest.mark.parametrize(("method", "url", "data"), [r for r in ROUTES if r[0] == "POST"])
def test_forms_need_the_csrf_token(
    plots_app: Flask, tokens: dict[str, str], method: str, url: str, data: dict[str, str]
) -> None:
    ada = signed_in(plots_app, "ada")
    before = len(_audit(plots_app))
    assert ada.post(url, data=data).status_code == 400
    assert ada.post(url, data={**data, "csrf_token": "forged"}).status_code == 400
    assert len(_audit(plots_app)) == before


def test_menu_link_only_for_admins(plots_app: Flask, tokens: dict[str, str]) -> None:
    for user, shown in (("anna", False), ("piet", False), ("ada", True)):
        page = signed_in(plots_app, user).get("/plots").get_data(as_text=True)
        assert ('href="/admin/users"' in page) == shown, user
    assert 'href="/admin/users"' not in plots_app.test_client().get("/").get_data(as_text=True)


# --- what admins do ------------------------------------------------------------------------------


def _add(client: FlaskClient, **fields: str) -> Any:
    page = client.get("/admin/users").get_data(as_text=True)
    data = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, **fields}
    return client.post("/admin/users", data={**data, "csrf_token": csrf(page)})


def test_list_shows_every_user(plots_app: Flask, tokens: dict[str, str]) -> None:
    page = signed_in(plots_app, "ada").get("/admin/users").get_data(as_text=True)
    rows = re.findall(r"<tr><td><a href=\"/admin/users/([^\"]+)\">", page)
    assert rows == ["ada", "anna", "bert", "piet"]
    assert "corporatie" in page and "beheerder" in page and html.escape(ORG_A) in page
    assert "Gebruiker toevoegen" in page  # Dutch by default
    listed = signed_in(plots_app, "ada").get("/api/users").get_json()
    assert [u["name"] for u in listed] == ["ada", "anna", "bert", "piet"]
    anna = listed[1]
    assert anna["role"] == "corporation" and anna["org"] == ORG_A
    assert anna["active"] is True and anna["token"] is True and "created_at" in anna
    assert all("hash" not in key for user in listed for key in user)


def test_added_user_can_sign_in(plots_app: Flask, tokens: dict[str, str]) -> None:
    ada = signed_in(plots_app, "ada")
    added = _add(ada, name="carla", role="corporation", org="Woonstad")
    assert added.status_code == 303 and added.headers["Location"] == "/admin/users/carla"
    page = ada.get("/admin/users/carla").get_data(as_text=True)
    assert "Gebruiker carla is toegevoegd." in page and "Woonstad" in page
    carla = plots_app.test_client()
    assert login(carla, "carla", NEW_PASSWORD).status_code == 302
    assert carla.get("/plots/new").status_code == 200  # a corporation user
    (entry,) = _audit(plots_app, "carla")
    assert (entry.action, entry.actor, entry.user_id) == ("user.add", "ada", 4)
    assert entry.changes["role"] == [None, "corporation"] and "password" not in entry.changes


@pytest.mark.parametrize(
    ("fields", "field", "status"),
    [
        ({"name": "carla", "role": "corporation"}, "org", 422),  # a corporation needs an org
        ({"name": "carla", "role": "planner", "org": "Woonstad"}, "org", 422),  # others may not
        (
            {"name": "carla", "role": "planner", "password": "kort", "confirm": "kort"},
            "password",
            422,
        ),
        ({"name": "carla", "role": "planner", "confirm": "something else"}, "confirm", 422),
        ({"name": "carla", "role": "boss"}, "role", 422),
        ({"name": "anna", "role": "planner"}, "name", 409),
        ({"name": SCRIPT, "role": "planner"}, "name", 422),
    ],
)
def test_add_refuses_what_the_store_refuses(
    plots_app: Flask, tokens: dict[str, str], fields: dict[str, str], field: str, status: int
) -> None:
    response = _add(signed_in(plots_app, "ada"), **fields)
    page = response.get_data(as_text=True)
    assert response.status_code == status, page
    assert re.search(
        rf'id="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{field}"', page
    )
    assert SCRIPT not in page  # a refused name comes back escaped in the form
    assert [e.action for e in _audit(plots_app)].count("user.add") == 4  # the fixture's four


def test_script_in_an_organisation_is_shown_escaped(
    plots_app: Flask, tokens: dict[str, str]
) -> None:
    ada = signed_in(plots_app, "ada")
    assert _add(ada, name="eve", role="corporation", org=SCRIPT).status_code == 303
    for url in ("/admin/users", "/admin/users/eve"):
        page = ada.get(url).get_data(as_text=True)
        assert SCRIPT not in page and html.escape(SCRIPT) in page, url


def test_disable_blocks_login_and_token_and_enable_lets_back_in(
    plots_app: Flask, tokens: dict[str, str]
) -> None:
    ada = signed_in(plots_app, "ada")
    bert = signed_in(plots_app, "bert")
    bearer = {"Authorization": f"Bearer {tokens['bert']}"}
    assert plots_app.test_client().get("/api/plots", headers=bearer).status_code == 200
    page = ada.get("/admin/users/bert").get_data(as_text=True)
    response = ada.post("/admin/users/bert/disable", data={"csrf_token": csrf(page)})
    assert response.status_code == 303
    assert "geblokkeerd" in ada.get("/admin/users/bert").get_data(as_text=True)
    assert plots_app.test_client().get("/api/plots", headers=bearer).status_code == 401
    assert bert.get("/plots").status_code == 302  # the open session ends too
    assert login(plots_app.test_client(), "bert").status_code == 401

    page = ada.get("/admin/users/bert").get_data(as_text=True)
    assert ada.post("/admin/users/bert/token", data={"csrf_token": csrf(page)}).status_code == 409
    assert ada.post("/admin/users/bert/enable", data={"csrf_token": csrf(page)}).status_code == 303
    assert login(plots_app.test_client(), "bert").status_code == 302
    # the old token stays revoked: only a new one works
    assert plots_app.test_client().get("/api/plots", headers=bearer).status_code == 401
    actions = [(e.action, e.actor) for e in _audit(plots_app, "bert")]
    assert actions[:2] == [("user.enable", "ada"), ("user.disable", "ada")]
    assert _audit(plots_app, "bert")[1].changes == {
        "disabled": [False, True],
        "token": ["set", None],
    }


def test_an_admin_cannot_disable_themselves(plots_app: Flask, tokens: dict[str, str]) -> None:
    ada = signed_in(plots_app, "ada")
    page = ada.get("/admin/users/ada").get_data(as_text=True)
    assert "/admin/users/ada/disable" not in page  # no button
    refused = ada.post("/admin/users/ada/disable", data={"csrf_token": csrf(page)})
    assert refused.status_code == 409
    assert "U kunt uzelf niet blokkeren" in refused.get_data(as_text=True)
    assert ada.get("/admin/users").status_code == 200  # still signed in, still active
    assert "user.disable" not in [e.action for e in _audit(plots_app, "ada")]


def test_new_token_is_shown_once_and_works(plots_app: Flask, tokens: dict[str, str]) -> None:
    ada = signed_in(plots_app, "ada")
    page = ada.get("/admin/users/piet").get_data(as_text=True)
    response = ada.post("/admin/users/piet/token", data={"csrf_token": csrf(page)})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    value = re.search(r'<code id="fp-token">([^<]+)</code>', response.get_data(as_text=True))[1]
    assert value.startswith("fp_") and value != tokens["piet"]
    client = plots_app.test_client()
    assert client.get("/api/plots", headers={"Authorization": f"Bearer {value}"}).status_code == 200
    old = {"Authorization": f"Bearer {tokens['piet']}"}
    assert client.get("/api/plots", headers=old).status_code == 401
    assert value not in ada.get("/admin/users/piet").get_data(as_text=True)  # once
    assert all(value not in json.dumps(e.changes) for e in _audit(plots_app))
    entry = _audit(plots_app, "piet")[0]
    assert (entry.action, entry.actor, entry.changes) == (
        "user.token",
        "ada",
        {"token": ["set", "set"]},
    )


def test_password_reset(plots_app: Flask, tokens: dict[str, str]) -> None:
    ada = signed_in(plots_app, "ada")
    page = ada.get("/admin/users/anna").get_data(as_text=True)
    short = {"password": "kort", "confirm": "kort", "csrf_token": csrf(page)}
    refused = ada.post("/admin/users/anna/password", data=short)
    assert refused.status_code == 422 and "at least 10 characters" in refused.get_data(as_text=True)
    data = {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD, "csrf_token": csrf(page)}
    assert ada.post("/admin/users/anna/password", data=data).status_code == 303
    assert login(plots_app.test_client(), "anna").status_code == 401
    assert login(plots_app.test_client(), "anna", NEW_PASSWORD).status_code == 302
    entry = _audit(plots_app, "anna")[0]
    assert (entry.action, entry.actor) == ("user.password", "ada")
    assert NEW_PASSWORD not in json.dumps(entry.changes)
    history = ada.get("/admin/users/anna").get_data(as_text=True)
    assert "user.password" in history and "nieuw wachtwoord" in history


def test_unknown_user_is_404(plots_app: Flask, tokens: dict[str, str]) -> None:
    ada = signed_in(plots_app, "ada")
    assert ada.get("/admin/users/nobody").status_code == 404
    token = csrf(ada.get("/admin/users").get_data(as_text=True))
    assert ada.post("/admin/users/nobody/disable", data={"csrf_token": token}).status_code == 404


def test_the_store_refuses_an_actor_who_is_not_an_admin(
    plots_app: Flask, tokens: dict[str, str]
) -> None:
    from planner.proposals import PermissionDenied, disable_user, get_user
    from web.auth import db

    with plots_app.app_context(), db(write=True) as s:
        piet = get_user(s, "piet")
        with pytest.raises(PermissionDenied):
            disable_user(s, "bert", actor=piet)


# --- the map's per-corporation table -------------------------------------------------------------

PROPOSERS = [
    {"proposer": ORG_A, "plots": 3, "plots_used": 2, "homes": 1234},
    {"proposer": PAYLOAD, "plots": 1, "plots_used": 0, "homes": 0},
]


@pytest.fixture
def proposer_runs(finished: tuple[Path, Path], tmp_path: Path) -> Iterator[Flask]:
    """The finished runs copied, run1 with a ``per_proposer`` table in its kpis.json."""
    data = tmp_path / "results"
    shutil.copytree(finished[1], data)
    run = data / "scenario" / "run1"
    kpis = json.loads((run / "kpis.json").read_text(encoding="utf-8"))
    kpis["per_proposer"] = PROPOSERS
    (run / "kpis.json").write_text(json.dumps(kpis), encoding="utf-8")
    shutil.copytree(run, data / "scenario" / "run0")
    empty = json.loads((run / "kpis.json").read_text(encoding="utf-8"))
    empty["per_proposer"] = []
    (data / "scenario" / "run0" / "kpis.json").write_text(json.dumps(empty), encoding="utf-8")
    app = new_app(finished[0], data)
    yield app
    app.extensions["flexplan"].runs.shutdown()


def test_map_panel_shows_the_corporations(proposer_runs: Flask) -> None:
    client = proposer_runs.test_client()
    page = client.get("/scenarios/scenario/map?run=run1").get_data(as_text=True)
    panel = page.split('<aside class="fp-panel">', 1)[1].split("</aside>", 1)[0]
    assert '<h2 id="fp-proposers">Per corporatie</h2>' in panel
    table = panel.split('id="fp-proposers"', 1)[1]
    for head in ("Corporatie", "Kavels voorgesteld", "Kavels gebruikt", "Woningen"):
        assert f">{head}</th>" in table
    rows = re.findall(r"<tr><td>(.*?)</td>(.*?)</tr>", table, re.S)
    assert [html.unescape(name) for name, _ in rows] == [ORG_A, PAYLOAD]
    assert re.findall(r">([\d.]+)</td>", rows[0][1]) == ["3", "2", "1.234"]  # Dutch numbers
    assert ORG_A not in page and PAYLOAD not in page  # escaped
    english = client.get("/scenarios/scenario/map?run=run1&lang=en").get_data(as_text=True)
    assert '<h2 id="fp-proposers">Per corporation</h2>' in english
    assert ">Plots proposed</th>" in english


@pytest.mark.parametrize("run", ["run0", None])
def test_map_panel_has_no_corporations_without_them(
    proposer_runs: Flask, client: FlaskClient, run: str | None
) -> None:
    if run is None:  # the plain world's run has no proposers at all
        page = client.get("/scenarios/scenario/map?run=run1").get_data(as_text=True)
    else:
        page = proposer_runs.test_client().get(f"/scenarios/scenario/map?run={run}")
        page = page.get_data(as_text=True)
    assert "fp-proposers" not in page and "Per corporatie" not in page


def test_the_admin_list_works_without_other_users(
    finished: tuple[Path, Path], tmp_path: Path
) -> None:
    app = new_app(*finished, DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}")
    add_users(app, ("ada",))
    ada = signed_in(app, "ada")
    page = ada.get("/admin/users").get_data(as_text=True)
    assert "Recente wijzigingen van gebruikers" in page and PASSWORD not in page
    close(app)
