"""Proposed plots in the app: accounts, roles on every route, the plots API, pages and uploads.

Each test gets its own SQLite database (``DATABASE_URL``) with four users: corporation users of
two organisations, a planner and an admin. Organisation names and plot texts carry HTML.
"""

from __future__ import annotations

import html
import io
import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient

from tests.web_support import PAYLOAD, new_app

PASSWORD = "correct horse battery"
ORG_A = "Woonstichting <b>A</b>"
ORG_B = "Corporatie B"
USERS = {
    "anna": ("corporation", ORG_A),
    "bert": ("corporation", ORG_B),
    "piet": ("planner", None),
    "ada": ("admin", None),
}


def square(x: float = 5.12, y: float = 52.09, size: float = 0.0015) -> dict[str, Any]:
    """A WGS84 square of about 100 x 165 m in Utrecht (lon/lat), as GeoJSON."""
    ring = [[x, y], [x + size, y], [x + size, y + size], [x, y + size], [x, y]]
    return {"type": "Polygon", "coordinates": [ring]}


def feature(name: str = "Veld", capacity: int | None = 40, **props: Any) -> dict[str, Any]:
    geometry = props.pop("geometry", None) or square()
    return {
        "type": "Feature",
        "geometry": geometry,
        "properties": {"name": name, "capacity": capacity, **props},
    }


def close(app: Flask) -> None:
    app.extensions["flexplan"].runs.shutdown()
    if app.extensions.get("flexplan_proposals") is not None:
        app.extensions["flexplan_proposals"].close()


@pytest.fixture
def plots_app(finished: tuple[Path, Path], tmp_path: Path) -> Iterator[Flask]:
    app = new_app(*finished, DATABASE_URL=f"sqlite:///{tmp_path / 'plots.db'}")
    yield app
    close(app)


def add_users(app: Flask, names: tuple[str, ...] = tuple(USERS)) -> dict[str, str]:
    """Add the users named (see USERS); returns their API tokens."""
    from planner.proposals import add_user, issue_token
    from web.auth import db

    out = {}
    with app.app_context(), db(write=True) as s:
        for name in names:
            role, org = USERS[name]
            add_user(s, name, role, PASSWORD, org=org)
            out[name] = issue_token(s, name)
    return out


@pytest.fixture
def tokens(plots_app: Flask) -> dict[str, str]:
    return add_users(plots_app)


@pytest.fixture
def api(plots_app: Flask, tokens: dict[str, str]) -> Any:
    """``api(user, method, url, json=...)``: a request with the user's Bearer token."""
    client = plots_app.test_client()

    def call(user: str | None, method: str, url: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {tokens[user]}"} if user else {}
        return client.open(url, method=method, headers=headers, **kwargs)

    return call


def propose(api: Any, user: str = "anna", *features: dict[str, Any]) -> list[int]:
    body = {"type": "FeatureCollection", "features": list(features) or [feature()]}
    response = api(user, "POST", "/api/plots", json=body)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["ids"]


def csrf(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def login(client: FlaskClient, name: str, password: str = PASSWORD, **query: str) -> Any:
    token = csrf(client.get("/login").get_data(as_text=True))
    data = {"name": name, "password": password, "csrf_token": token}
    return client.post("/login", data=data, query_string=query)


def signed_in(app: Flask, name: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, name).status_code == 302
    return client


# --- anonymous, login, logout ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/api/plots"),
        ("POST", "/api/plots"),
        ("GET", "/api/plots/1"),
        ("PATCH", "/api/plots/1"),
    ],
)
def test_anonymous_api_calls_are_401(api: Any, method: str, url: str) -> None:
    response = api(None, method, url, json=feature())
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["status"] == 401


@pytest.mark.parametrize("url", ["/plots", "/plots/1", "/plots/new"])
def test_anonymous_pages_redirect_to_login(plots_app: Flask, tokens: Any, url: str) -> None:
    response = plots_app.test_client().get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_wrong_or_disabled_token_is_401(api: Any, plots_app: Flask, tokens: Any) -> None:
    from planner.proposals import disable_user
    from web.auth import db

    client = plots_app.test_client()
    for header in ("Bearer fp_nonsense", "Basic YW5uYTpw", f"Bearer {tokens['anna']}x"):
        response = client.get("/api/plots", headers={"Authorization": header})
        assert response.status_code == 401, header
    assert api("bert", "GET", "/api/plots").status_code == 200
    with plots_app.app_context(), db(write=True) as s:
        disable_user(s, "bert")
    assert api("bert", "GET", "/api/plots").status_code == 401


def test_login_logout_and_csrf(plots_app: Flask, tokens: Any) -> None:
    client = plots_app.test_client()
    no_token = client.post("/login", data={"name": "anna", "password": PASSWORD})
    assert no_token.status_code == 400
    assert client.get("/plots").status_code == 302
    assert login(client, "anna", "wrong password!").status_code == 401
    response = login(client, "anna")
    assert response.status_code == 302 and response.headers["Location"] == "/plots"
    page = client.get("/plots").get_data(as_text=True)
    assert "anna" in page and html.escape(ORG_A) in page and ORG_A not in page
    assert client.post("/logout").status_code == 400  # no CSRF token: still signed in
    assert client.get("/plots").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf(page)}).status_code == 302
    assert client.get("/plots").status_code == 302


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/plots?status=accepted", "/plots?status=accepted"),
        ("//evil.example/x", "/plots"),
        ("https://evil.example/", "/plots"),
        ("/\\evil.example", "/plots"),
    ],
)
def test_login_goes_only_to_local_pages(
    plots_app: Flask, tokens: Any, target: str, expected: str
) -> None:
    response = login(plots_app.test_client(), "anna", next=target)
    assert response.headers["Location"] == expected


def test_failed_logins_are_rate_limited(finished: tuple[Path, Path], tmp_path: Path) -> None:
    app = new_app(*finished, DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", LOGIN_MAX_FAILURES=3)
    add_users(app, ("anna",))
    client = app.test_client()
    for _ in range(3):
        assert login(client, "anna", "wrong password!").status_code == 401
    assert login(client, "anna").status_code == 429  # even the right password, for a while
    close(app)


def test_session_cookie_is_http_only(plots_app: Flask, tokens: Any) -> None:
    cookie = login(plots_app.test_client(), "anna").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


# --- the API per role --------------------------------------------------------------------------


def test_corporation_proposes_and_sees_only_its_own(api: Any) -> None:
    (mine,) = propose(api, "anna")
    (theirs,) = propose(api, "bert", feature("B", geometry=square(6.0, 52.5)))
    listed = api("anna", "GET", "/api/plots").get_json()["features"]
    assert [f["id"] for f in listed] == [mine]
    assert listed[0]["properties"]["org"] == ORG_A
    assert listed[0]["properties"]["status"] == "proposed"
    assert api("anna", "GET", f"/api/plots/{theirs}").status_code == 404
    assert api("anna", "GET", "/api/plots/999").status_code == 404
    for user in ("piet", "ada"):
        ids = [f["id"] for f in api(user, "GET", "/api/plots").get_json()["features"]]
        assert ids == [mine, theirs], user


def test_planner_reviews_and_owner_can_no_longer_edit(api: Any) -> None:
    (pid,) = propose(api, "anna")
    edited = api("anna", "PATCH", f"/api/plots/{pid}", json={"capacity": 30, "version": 1})
    assert edited.status_code == 200 and edited.get_json()["properties"]["capacity"] == 30
    stale = api("piet", "PATCH", f"/api/plots/{pid}", json={"status": "accepted", "version": 1})
    assert stale.status_code == 409
    reviewed = api("piet", "PATCH", f"/api/plots/{pid}", json={"status": "accepted"})
    assert reviewed.status_code == 200
    assert reviewed.get_json()["properties"]["status"] == "accepted"
    late = api("anna", "PATCH", f"/api/plots/{pid}", json={"capacity": 20})
    assert late.status_code == 409
    accepted = api("anna", "GET", "/api/plots?status=accepted").get_json()["features"]
    assert [f["id"] for f in accepted] == [pid]


@pytest.mark.parametrize(
    ("user", "method", "body", "status"),
    [
        ("piet", "POST", None, 403),  # planners do not propose
        ("ada", "POST", None, 403),  # nor do admins
        ("ada", "PATCH", {"status": "accepted"}, 403),  # admins do not review
        ("anna", "PATCH", {"status": "accepted"}, 403),  # owners do not review themselves
        ("piet", "PATCH", {"capacity": 99}, 403),  # planners do not edit
        ("bert", "PATCH", {"capacity": 99}, 404),  # other organisation: not even its existence
        ("bert", "PATCH", {"status": "accepted"}, 404),
        ("bert", "GET", None, 404),
        ("piet", "PATCH", {"status": "rejected"}, 422),  # a rejection needs a reason
        ("piet", "PATCH", {"status": "maybe"}, 422),
    ],
)
def test_forbidden_combinations(
    api: Any, user: str, method: str, body: dict[str, Any] | None, status: int
) -> None:
    (pid,) = propose(api, "anna")
    url = "/api/plots" if method == "POST" else f"/api/plots/{pid}"
    response = api(user, method, url, json=body if body is not None else feature("X"))
    assert response.status_code == status, response.get_data(as_text=True)
    plot = api("anna", "GET", f"/api/plots/{pid}").get_json()["properties"]
    assert (plot["status"], plot["capacity"], plot["version"]) == ("proposed", 40, 1)
    assert len(api("piet", "GET", "/api/plots").get_json()["features"]) == 1


def test_invalid_features_are_422_and_nothing_is_stored(api: Any) -> None:
    body = {
        "type": "FeatureCollection",
        "features": [
            feature("Goed"),
            feature("Zonder capaciteit", capacity=None, geometry=square(5.2, 52.1)),
            feature("Buiten", geometry=square(-40.0, 10.0)),
        ],
    }
    response = api("anna", "POST", "/api/plots", json=body)
    assert response.status_code == 422
    problems = response.get_json()
    assert isinstance(problems, list)
    assert {(p["index"], p["field"]) for p in problems} >= {(1, "capacity"), (2, "geometry")}
    assert all(set(p) == {"index", "field", "problem"} for p in problems)
    assert api("piet", "GET", "/api/plots").get_json()["features"] == []


def test_crs_member_is_honoured(api: Any) -> None:
    x, y = 136_000.0, 456_000.0  # Utrecht in RD New
    ring = [[x, y], [x + 100, y], [x + 100, y + 100], [x, y + 100], [x, y]]
    body = {
        "type": "Feature",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::28992"}},
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": {"name": "RD", "capacity": 30},
    }
    (pid,) = api("anna", "POST", "/api/plots", json=body).get_json()["ids"]
    geometry = api("anna", "GET", f"/api/plots/{pid}").get_json()["geometry"]
    lon, lat = geometry["coordinates"][0][0][0]
    assert 5.0 < lon < 5.3 and 52.0 < lat < 52.2
    body["crs"]["properties"]["name"] = "EPSG:nonsense"
    assert api("anna", "POST", "/api/plots", json=body).status_code == 400


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"data": "not json", "content_type": "application/json"}, 400),
        ({"data": "{}", "content_type": "text/plain"}, 415),
        ({"json": [1, 2]}, 400),
        ({"json": {"type": "Point", "coordinates": [1, 2]}}, 400),
    ],
)
def test_bad_bodies(api: Any, kwargs: dict[str, Any], status: int) -> None:
    assert api("anna", "POST", "/api/plots", **kwargs).status_code == status


def test_size_and_feature_limits_are_413(finished: tuple[Path, Path], tmp_path: Path) -> None:
    app = new_app(
        *finished,
        DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}",
        PLOTS_MAX_BYTES=20_000,
        PLOTS_MAX_FEATURES=2,
    )
    headers = {"Authorization": f"Bearer {add_users(app, ('anna',))['anna']}"}
    client = app.test_client()
    big = feature(note="x" * 30_000)
    assert client.post("/api/plots", json=big, headers=headers).status_code == 413
    many = {"type": "FeatureCollection", "features": [feature(str(i)) for i in range(3)]}
    assert client.post("/api/plots", json=many, headers=headers).status_code == 413
    assert client.post("/api/plots", json=feature(), headers=headers).status_code == 201
    close(app)


# --- pages -------------------------------------------------------------------------------------


def test_pages_per_role(plots_app: Flask, api: Any) -> None:
    (pid,) = propose(api, "anna")
    anna, bert = signed_in(plots_app, "anna"), signed_in(plots_app, "bert")
    piet, ada = signed_in(plots_app, "piet"), signed_in(plots_app, "ada")
    assert f"/plots/{pid}" in anna.get("/plots").get_data(as_text=True)
    assert f"/plots/{pid}" not in bert.get("/plots").get_data(as_text=True)
    assert bert.get(f"/plots/{pid}").status_code == 404
    own = anna.get(f"/plots/{pid}").get_data(as_text=True)
    assert "proposal.create" in own and "/review" not in own  # the trail, no review form
    assert ada.get(f"/plots/{pid}").status_code == 200
    assert f'action="/plots/{pid}/review"' in piet.get(f"/plots/{pid}").get_data(as_text=True)
    assert piet.get("/plots/new").status_code == 403
    assert ada.get("/plots/new").status_code == 403
    assert anna.get("/plots/new").status_code == 200
    for client in (anna, bert, ada):  # only planners review
        token = csrf(client.get("/plots").get_data(as_text=True))
        data = {"status": "accepted", "csrf_token": token}
        assert client.post(f"/plots/{pid}/review", data=data).status_code == 403
    status = api("piet", "GET", f"/api/plots/{pid}").get_json()["properties"]["status"]
    assert status == "proposed"


def test_pages_accept_the_bearer_token(plots_app: Flask, api: Any) -> None:
    (pid,) = propose(api, "anna")
    assert api("anna", "GET", f"/plots/{pid}").status_code == 200
    assert api("bert", "GET", f"/plots/{pid}").status_code == 404


def test_planner_reviews_in_the_browser(plots_app: Flask, api: Any) -> None:
    (pid,) = propose(api, "anna")
    piet = signed_in(plots_app, "piet")
    page = piet.get(f"/plots/{pid}").get_data(as_text=True)
    no_reason = {"status": "rejected", "version": "1", "csrf_token": csrf(page)}
    assert piet.post(f"/plots/{pid}/review", data=no_reason).status_code == 422
    data = {**no_reason, "reason": PAYLOAD}
    assert piet.post(f"/plots/{pid}/review", data=data).status_code == 303
    plot = api("anna", "GET", f"/api/plots/{pid}").get_json()["properties"]
    assert plot["status"] == "rejected" and plot["review_reason"] == PAYLOAD
    assert "proposal.review" in piet.get(f"/plots/{pid}").get_data(as_text=True)
    stale = piet.post(f"/plots/{pid}/review", data={**data, "status": "accepted"})
    assert stale.status_code == 409


def test_every_text_field_is_escaped(plots_app: Flask, api: Any) -> None:
    (pid,) = propose(api, "anna", feature(PAYLOAD, note=PAYLOAD))
    api("piet", "PATCH", f"/api/plots/{pid}", json={"status": "rejected", "reason": PAYLOAD})
    for user in ("anna", "piet"):
        client = signed_in(plots_app, user)
        for url in ("/plots", f"/plots/{pid}"):
            page = client.get(url).get_data(as_text=True)
            assert PAYLOAD not in page and ORG_A not in page, (user, url)
            assert html.escape(PAYLOAD) in page and html.escape(ORG_A) in page, (user, url)
        assert page.count(html.escape(PAYLOAD)) >= 3  # name, note, reason (and the trail)


def test_login_required_closes_the_map_pages(finished: tuple[Path, Path], tmp_path: Path) -> None:
    app = new_app(*finished, DATABASE_URL=f"sqlite:///{tmp_path / 'p.db'}", LOGIN_REQUIRED=True)
    tokens = add_users(app, ("anna", "piet"))
    client = app.test_client()
    assert client.get("/").status_code == 302
    assert client.get("/api/scenarios").status_code == 401
    with client.get("/vendor/leaflet/leaflet.js") as leaflet:
        assert leaflet.status_code == 200
    assert client.get("/api/openapi.json").status_code == 200
    for url in ("/", "/scenarios/scenario/map", "/api/scenarios", "/runs/", "/compare"):
        as_corp = client.get(url, headers={"Authorization": f"Bearer {tokens['anna']}"})
        assert as_corp.status_code == 403, url
        as_planner = client.get(url, headers={"Authorization": f"Bearer {tokens['piet']}"})
        assert as_planner.status_code == 200, url
    corp_menu = client.get("/plots", headers={"Authorization": f"Bearer {tokens['anna']}"})
    assert 'href="/compare"' not in corp_menu.get_data(as_text=True)
    planner_menu = client.get("/plots", headers={"Authorization": f"Bearer {tokens['piet']}"})
    assert 'href="/compare"' in planner_menu.get_data(as_text=True)
    close(app)


def test_map_pages_stay_open_by_default(plots_app: Flask) -> None:
    client = plots_app.test_client()
    assert client.get("/").status_code == 200
    assert client.get("/api/scenarios").status_code == 200
    assert plots_app.extensions["flexplan_proposals"] is None  # no database needed for them


# --- uploads in the browser --------------------------------------------------------------------


def upload(client: FlaskClient, data: bytes, filename: str, **fields: Any) -> Any:
    page = client.get("/plots/new").get_data(as_text=True)
    form = {"csrf_token": csrf(page), "upload": (io.BytesIO(data), filename), **fields}
    return client.post("/plots/new", data=form, content_type="multipart/form-data")


def save_checked(client: FlaskClient, page: str, repair: bool = False) -> Any:
    features = html.unescape(re.search(r'name="features"[^>]*value="([^"]*)"', page).group(1))
    crs = re.search(r'name="crs"[^>]*value="([^"]*)"', page).group(1)
    data = {"csrf_token": csrf(page), "features": features, "crs": crs}
    if repair:
        data["repair"] = "y"
    return client.post("/plots/save", data=data)


def geodata_bytes(tmp_path: Path, driver: str, suffix: str) -> bytes:
    frame = gpd.GeoDataFrame(
        {"name": ["Uit bestand"], "capacity": [40]},
        geometry=[shapely.geometry.shape(square())],
        crs="EPSG:4326",
    ).to_crs("EPSG:28992")
    path = tmp_path / f"plots{suffix}"
    frame.to_file(path, driver=driver)
    if driver != "ESRI Shapefile":
        return path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for part in tmp_path.glob("plots.*"):
            archive.write(part, f"data/{part.name}")
    return buffer.getvalue()


def test_upload_geojson_check_then_save(plots_app: Flask, api: Any) -> None:
    anna = signed_in(plots_app, "anna")
    body = json.dumps({"type": "FeatureCollection", "features": [feature(PAYLOAD, None)]})
    response = upload(anna, body.encode(), "plots.geojson", capacity="35", note="uit formulier")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "fp-report" in page
    assert html.escape(PAYLOAD) in page and PAYLOAD not in page
    assert api("anna", "GET", "/api/plots").get_json()["features"] == []  # only checked
    assert save_checked(anna, page).status_code == 303
    (plot,) = api("anna", "GET", "/api/plots").get_json()["features"]
    assert plot["properties"]["capacity"] == 35 and plot["properties"]["name"] == PAYLOAD
    assert plot["properties"]["note"] == "uit formulier"


@pytest.mark.parametrize(
    ("driver", "suffix", "name"),
    [
        ("GPKG", ".gpkg", "plots.gpkg"),
        ("KML", ".kml", "plots.kml"),
        ("ESRI Shapefile", ".shp", "plots.zip"),
    ],
)
def test_upload_gpkg_and_zipped_shapefile(
    plots_app: Flask, api: Any, tmp_path: Path, driver: str, suffix: str, name: str
) -> None:
    anna = signed_in(plots_app, "anna")
    page = upload(anna, geodata_bytes(tmp_path, driver, suffix), name).get_data(as_text=True)
    assert save_checked(anna, page).status_code == 303
    (plot,) = api("anna", "GET", "/api/plots").get_json()["features"]
    lon, _ = plot["geometry"]["coordinates"][0][0][0]
    assert plot["properties"]["name"] == "Uit bestand" and abs(lon - 5.12) < 0.01


def test_upload_csv_with_wkt(plots_app: Flask, api: Any) -> None:
    anna = signed_in(plots_app, "anna")
    wkt = shapely.geometry.shape(square()).wkt
    data = f'name;capacity;wkt\nCSV-veld;40;"{wkt}"\n'.encode()
    page = upload(anna, data, "plots.csv").get_data(as_text=True)
    assert save_checked(anna, page).status_code == 303
    (plot,) = api("anna", "GET", "/api/plots").get_json()["features"]
    assert plot["properties"]["name"] == "CSV-veld"


@pytest.mark.parametrize("entry", ["../evil.shp", "/etc/evil.shp", "a/../../evil.shp"])
def test_zip_with_unsafe_paths_is_refused(plots_app: Flask, api: Any, entry: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(entry, b"x")
    anna = signed_in(plots_app, "anna")
    response = upload(anna, buffer.getvalue(), "plots.zip")
    assert response.status_code == 422 and "unsafe path" in response.get_data(as_text=True)
    assert api("anna", "GET", "/api/plots").get_json()["features"] == []


def test_zip_bomb_and_too_many_entries_are_refused(plots_app: Flask, api: Any) -> None:
    anna = signed_in(plots_app, "anna")
    bomb, many = io.BytesIO(), io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("plots.shp", b"\0" * 5_000_000)
    with zipfile.ZipFile(many, "w") as archive:
        for i in range(60):
            archive.writestr(f"f{i}.txt", b"x")
    assert "zip bomb" in upload(anna, bomb.getvalue(), "plots.zip").get_data(as_text=True)
    assert "60 entries" in upload(anna, many.getvalue(), "plots.zip").get_data(as_text=True)


def test_invalid_outline_is_repaired_only_with_consent(plots_app: Flask, api: Any) -> None:
    x, y, d = 5.12, 52.09, 0.0015
    ring = [[x, y], [x + d, y + d], [x + d, y], [x, y + d], [x, y]]  # a bow tie
    bowtie = {"type": "Polygon", "coordinates": [ring]}
    anna = signed_in(plots_app, "anna")
    body = json.dumps(feature("Strik", capacity=20, geometry=bowtie)).encode()
    page = upload(anna, body, "strik.geojson").get_data(as_text=True)
    assert 'name="repair"' in page
    assert save_checked(anna, page).status_code == 422
    assert api("anna", "GET", "/api/plots").get_json()["features"] == []
    assert save_checked(anna, page, repair=True).status_code == 303
    (plot,) = api("anna", "GET", "/api/plots").get_json()["features"]
    assert plot["properties"]["repaired"] is True


def test_drawn_polygon_and_bad_files(plots_app: Flask, api: Any) -> None:
    anna = signed_in(plots_app, "anna")
    page = anna.get("/plots/new").get_data(as_text=True)
    drawn = {"geometry": json.dumps(square()), "name": "Getekend", "capacity": "30"}
    checked = anna.post("/plots/new", data={"csrf_token": csrf(page), **drawn})
    assert save_checked(anna, checked.get_data(as_text=True)).status_code == 303
    assert len(api("anna", "GET", "/api/plots").get_json()["features"]) == 1
    for body, name in [(b"{broken", "a.geojson"), (b"x", "a.exe"), (b"not a zip", "a.zip")]:
        assert upload(anna, body, name).status_code == 422, name
    assert anna.post("/plots/new", data={"csrf_token": csrf(page)}).status_code == 422
