"""The map app through Flask's test client: pages, API shapes, bad input, escaping, downloads.

Runs in background processes are in test_web_runs.py; these tests only read a finished run.
"""

from __future__ import annotations

import gzip
import html
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyogrio
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.web_support import (
    PAYLOAD,
    PHASED_HORIZON,
    new_app,
    phased_fixture,  # noqa: F401  (the fixture ``phased``)
)
from web.summary import reach_share
from web.timeline import chart

# --- pages ------------------------------------------------------------------------------------


def test_list_page_is_dutch_with_dutch_numbers(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert '<html lang="nl">' in page
    assert "Woningen geplaatst" in page and "Kavels gebruikt" in page
    kpis = json.loads((_run_dir(client) / "kpis.json").read_text())
    homes = f"{kpis['homes']:,}".replace(",", ".")
    assert f"{homes} / {kpis['target_homes']:,}".replace(",", ".") in page
    assert "/scenarios/scenario/map" in page and "/downloads/scenario/gpkg" in page


def test_english_switch_is_remembered(client: FlaskClient) -> None:
    page = client.get("/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page and "Homes placed" in page
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)  # session keeps it
    assert "Woningen geplaatst" in client.get("/?lang=nl").get_data(as_text=True)
    assert '<html lang="nl">' in client.get("/?lang=xx").get_data(as_text=True)


def test_list_sorts_on_the_server(client: FlaskClient) -> None:
    def order(query: str) -> list[str]:
        page = client.get(f"/{query}").get_data(as_text=True)
        return re.findall(r"<code>(scenario|xss)</code>", page)

    assert order("?sort=name") == ["scenario", "xss"]
    assert order("?sort=name&dir=desc") == ["xss", "scenario"]
    assert order("?sort=nonsense") == ["scenario", "xss"]  # unknown sort key: default order
    page = client.get("/?sort=homes&dir=desc").get_data(as_text=True)
    assert 'aria-sort="descending"' in page


def test_map_page_is_offline_and_small(client: FlaskClient) -> None:
    response = client.get("/scenarios/scenario/map")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith(("/", "?", "#")) for s in sources), sources
    assert "/vendor/leaflet/leaflet.js" in sources and "/static/map.js" in sources
    assert "<script>" not in page  # no inline script: the CSP forbids it
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert len(response.data) < 3_000_000
    config = json.loads(re.search(r'id="fp-config">(.*?)</script>', page, re.S).group(1))
    assert config["tiles"]["url"].startswith("https://service.pdok.nl/brt/achtergrondkaart/")
    assert {"allocation", "unused", "services", "buurten", "regions"} <= set(config["urls"])
    for url in config["urls"].values():
        assert client.get(url).status_code == 200
    for name in ("leaflet.js", "leaflet.css", "images/layers.png"):
        with client.get(f"/vendor/leaflet/{name}") as asset:
            assert asset.status_code == 200 and asset.data


def test_map_page_has_a_text_alternative(client: FlaskClient) -> None:
    page = client.get("/scenarios/scenario/map").get_data(as_text=True)
    kpis = json.loads((_run_dir(client) / "kpis.json").read_text())
    table = page.split('id="fp-plots"', 1)[1]
    assert table.count('class="fp-zoom"') == kpis["plots_used"]
    assert 'class="fp-table fp-sortable"' in page
    assert 'role="application"' in page and "aria-label=" in page


def _map_config(client: FlaskClient, url: str = "/scenarios/scenario/map") -> dict[str, Any]:
    page = client.get(url).get_data(as_text=True)
    return json.loads(re.search(r'id="fp-config">(.*?)</script>', page, re.S).group(1))


def test_map_page_carries_the_configured_basemap(
    finished: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def basemap(**config: Any) -> tuple[str, Any]:
        app_ = new_app(*finished, **config)
        got = _map_config(app_.test_client())
        return got["basemap"], got["tiles"]

    chosen, tiles = basemap()
    assert chosen == "pdok" and tiles["url"].startswith("https://service.pdok.nl/brt/")
    chosen, tiles = basemap(BASEMAP="plain")
    assert chosen == "plain" and tiles is not None  # PDOK stays on offer in the layer control
    assert basemap(TILES_URL="") == ("plain", None)
    monkeypatch.setenv("FLEXPLAN_BASEMAP", "plain")
    assert basemap()[0] == "plain"
    monkeypatch.setenv("FLEXPLAN_BASEMAP", "osm")
    with pytest.raises(ValueError, match="BASEMAP"):
        new_app(*finished)


def test_unused_plots_have_a_table_with_their_reasons(client: FlaskClient) -> None:
    page = client.get("/scenarios/scenario/map").get_data(as_text=True)
    unused = client.get("/api/scenarios/scenario/layers/unused.geojson").get_json()["features"]
    assert unused  # the world leaves plots unused, or this test proves nothing
    section = page.split('id="fp-unused"', 1)[1].split("</details>", 1)[0]
    assert "<details" in section and "<summary>" in section
    assert f"Ongebruikte kavels ({len(unused)})" in page
    rows = re.findall(r"<tr><td>(.*?)</td>.*?<td lang=\"en\">(.*?)</td></tr>", section, re.S)
    reasons = {f["properties"]["plot_id"]: f["properties"]["reason"] for f in unused}
    assert {plot: html.unescape(reason) for plot, reason in rows} == reasons


def test_planner_explanation_is_marked_english(client: FlaskClient) -> None:
    explanation = json.loads((_run_dir(client) / "kpis.json").read_text())["explanation"]
    assert explanation  # the world's run falls short, so the planner explains why
    page = client.get("/scenarios/scenario/map").get_data(as_text=True)
    block = re.search(r'<ul lang="en" class="fp-explanation">(.*?)</ul>', page, re.S).group(1)
    assert block.count("<li>") == len(explanation)
    assert explanation[0] in html.unescape(block)  # shown as the planner wrote it, untranslated
    assert "van de planner, in het Engels" in page
    english = client.get("/scenarios/scenario/map?lang=en").get_data(as_text=True)
    assert '<ul lang="en" class="fp-explanation">' in english
    assert "from the planner, in English" not in english  # no note on the English page


def test_html_in_names_is_escaped(client: FlaskClient) -> None:
    for url in ("/", "/scenarios/xss/map", "/scenarios/scenario/map", "/scenarios/xss/runs/new"):
        page = client.get(url).get_data(as_text=True)
        assert "<img src=x" not in page, url
    assert "&lt;img src=x onerror=alert(1)&gt;" in client.get("/").get_data(as_text=True)
    geojson = client.get("/api/scenarios/scenario/layers/unused.geojson").get_json()
    used = client.get("/api/scenarios/scenario/allocation.geojson").get_json()
    names = [f["properties"]["name"] for f in geojson["features"] + used["features"]]
    assert PAYLOAD in names  # data stays data; map.js shows it with textContent


def test_map_script_uses_text_not_html() -> None:
    script = (Path(__file__).parents[1] / "web" / "static" / "map.js").read_text()
    assert "textContent" in script
    # innerHTML only to escape layer-control names (Leaflet inserts those as HTML)
    assert script.count(".innerHTML") == 1 and "return span.innerHTML" in script


# --- unknown names and bad paths ---------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/scenarios/nope/map",
        "/scenarios/nope/runs/new",
        "/downloads/nope/gpkg",
        "/downloads/scenario/passwd",
        "/downloads/scenario/gpkg?run=nope",
        "/scenarios/scenario/map?run=..",
        "/scenarios/..%2F..%2Fetc/map",
        "/vendor/leaflet/../../setup.py",
        "/vendor/leaflet/leaflet.js.map",
        "/runs/nope",
        "/runs/..%2Fx",
    ],
)
def test_unknown_names_are_404_pages(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Fout 404" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/api/scenarios/nope",
        "/api/scenarios/nope/allocation.geojson",
        "/api/scenarios/scenario/allocation.geojson?run=nope",
        "/api/scenarios/scenario/layers/secrets.geojson",
        "/api/scenarios/nope/timeline.json",
        "/api/scenarios/scenario/timeline.json?run=nope",
        "/api/runs/nope",
        "/api/nothing",
    ],
)
def test_unknown_names_are_404_json(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["status"] == 404 and error["message"]


def test_scenario_without_runs_and_unsafe_file_names(
    finished: tuple[Path, Path], tmp_path: Path
) -> None:
    scenarios, _data = finished
    folder = tmp_path / "scenarios"
    folder.mkdir()
    text = (scenarios / "scenario.yaml").read_text()
    (folder / "fresh.yaml").write_text(text)
    (folder / "bad name.yaml").write_text(text)
    (folder / ".hidden.yaml").write_text(text)
    app_ = new_app(folder, tmp_path / "empty")
    client_ = app_.test_client()
    rows = client_.get("/api/scenarios").get_json()
    assert [r["name"] for r in rows] == ["fresh"]
    assert rows[0]["status"] == "NO_RUN" and rows[0]["run_id"] is None
    assert client_.get("/api/scenarios/fresh/allocation.geojson").status_code == 404
    assert client_.get("/scenarios/fresh/map").status_code == 404
    assert client_.get("/scenarios/fresh/runs/new").status_code == 200


# --- API shapes --------------------------------------------------------------------------------


def test_api_scenarios(client: FlaskClient) -> None:
    rows = {r["name"]: r for r in client.get("/api/scenarios").get_json()}
    assert set(rows) == {"scenario", "xss"}
    row = rows["scenario"]
    kpis = json.loads((_run_dir(client) / "kpis.json").read_text())
    assert row["status"] == kpis["status"] and row["run_id"] == "run1"
    for key in ("homes", "support_homes", "plots_used", "total_cost_eur", "gap"):
        assert row["kpis"][key] == kpis[key]
    assert row["kpis"]["reach_share"] == 1.0  # the model guarantees it; recomputed from the CSV
    assert rows["xss"]["run_id"] == "main" and rows["xss"]["title"] == PAYLOAD
    detail = client.get("/api/scenarios/scenario").get_json()
    assert detail["run_ids"] == ["run1"]


def test_allocation_geojson(client: FlaskClient) -> None:
    response = client.get("/api/scenarios/scenario/allocation.geojson")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    data = response.get_json()
    assert data["type"] == "FeatureCollection"
    plots = pyogrio.read_dataframe(_run_dir(client) / "allocation.gpkg", layer="plots")
    used = plots[plots["selected"]]
    assert len(data["features"]) == len(used)
    got = {f["properties"]["plot_id"]: f["properties"] for f in data["features"]}
    for row in used.itertuples():
        assert got[row.plot_id]["homes"] == row.homes
        assert got[row.plot_id]["support_homes"] == row.support_homes
        assert "dist_huisarts_m" in got[row.plot_id]
    lon, lat = data["features"][0]["geometry"]["coordinates"][0][0]
    assert 3 < lon < 8 and 50 < lat < 54  # WGS84 lon/lat around Amersfoort
    again = client.get(
        "/api/scenarios/scenario/allocation.geojson",
        headers={"If-None-Match": response.headers["ETag"]},
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("url", "mimetype"),
    [
        ("/api/scenarios/scenario/allocation.geojson", "application/geo+json"),
        ("/api/openapi.json", "application/json"),
        ("/scenarios/scenario/map", "text/html"),
    ],
)
def test_gzip_when_accepted(client: FlaskClient, url: str, mimetype: str) -> None:
    plain = client.get(url)
    assert plain.status_code == 200 and plain.mimetype == mimetype
    assert "Content-Encoding" not in plain.headers
    assert "Accept-Encoding" in plain.headers["Vary"]
    zipped = client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert zipped.status_code == 200 and zipped.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in zipped.headers["Vary"]
    assert len(zipped.data) < len(plain.data)
    body = gzip.decompress(zipped.data)
    assert body == plain.data  # the map page has no per-request token: same bytes
    if mimetype != "text/html":
        assert json.loads(body) == plain.get_json()
    refused = client.get(url, headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert "Content-Encoding" not in refused.headers


def test_gzip_keeps_conditional_requests(client: FlaskClient) -> None:
    url = "/api/scenarios/scenario/allocation.geojson"
    zipped = client.get(url, headers={"Accept-Encoding": "gzip"})
    etag = zipped.headers["ETag"]
    assert etag.startswith('W/"'), etag  # a compressed body is not the same bytes
    again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304 and not again.data
    other = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": 'W/"other"'})
    assert other.status_code == 200


def test_other_layers(client: FlaskClient) -> None:
    unused = client.get("/api/scenarios/scenario/layers/unused.geojson").get_json()
    assert all(f["properties"]["homes"] == 0 for f in unused["features"])
    assert any(f["properties"]["reason"] for f in unused["features"])
    services = client.get("/api/scenarios/scenario/layers/services.geojson").get_json()
    assert {f["properties"]["type"] for f in services["features"]} == {
        "huisarts",
        "wijkteam",
        "ggz",
    }
    assert all("load" in f["properties"] for f in services["features"])
    buurten = client.get("/api/scenarios/scenario/layers/buurten.geojson").get_json()
    assert buurten["features"] and all(f["properties"]["homes"] > 0 for f in buurten["features"])
    regions = client.get("/api/scenarios/scenario/layers/regions.geojson").get_json()
    kpis = json.loads((_run_dir(client) / "kpis.json").read_text())
    expected = {r["region_id"]: r["homes"] for r in kpis["per_region"]}
    assert {
        f["properties"]["region_id"]: f["properties"]["homes"] for f in regions["features"]
    } == (expected)


def test_reach_share_counts_homes_covered_by_every_type(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "plot_id": ["A", "A", "B", "B"],
            "service_id": ["h1", "w1", "h2", "w2"],
            "service_type": ["huisarts", "wijkteam", "huisarts", "wijkteam"],
            "residents": [4, 4, 6, 2],
            "distance_m": [1.0, 1.0, 1.0, 1.0],
        }
    ).to_csv(tmp_path / "support_assignments.csv", index=False)
    kpis = {
        "support_homes": 10,
        "per_service_type": [
            {"type": "huisarts", "required": True},
            {"type": "wijkteam", "required": True},
            {"type": "opvang", "required": False},
        ],
    }
    assert reach_share(tmp_path, kpis) == pytest.approx(0.6)  # A: 4 of 4, B: 2 of 6
    assert reach_share(tmp_path, {**kpis, "support_homes": 0}) is None


def test_openapi_lists_every_api_route(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    documented = set(spec["paths"])
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.rule != "/api/openapi.json":
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule).replace("{job_id}", "{id}")
            assert path in documented, path


# --- runs API: bad input (no process is started) -----------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ([1, 2], 400, "body"),
        ({}, 400, "scenario"),
        ({"scenario": 3}, 400, "scenario"),
        ({"scenario": "nope"}, 422, "scenario"),
        ({"scenario": "../world/scenario"}, 422, "scenario"),
        ({"scenario": "scenario", "overrides": [1]}, 400, "overrides"),
        ({"scenario": "scenario", "overrides": {"a..b": 1}}, 400, "overrides.a..b"),
        (
            {"scenario": "scenario", "overrides": {"layers.plots.path": "/etc/passwd"}},
            422,
            "overrides.layers.plots.path",
        ),
        ({"scenario": "scenario", "overrides": {"support.min_share": 2}}, 422, None),
        ({"scenario": "scenario", "overrides": {"support.min_shar": 0.2}}, 422, None),
        ({"scenario": "scenario", "overrides": {"solver.time_limit_s": 1e9}}, 422, None),
        ({"scenario": "scenario", "overrides": {"target_homes": "many"}}, 422, None),
    ],
)
def test_start_run_rejects_bad_input(
    app: Flask, client: FlaskClient, body: object, status: int, field: str | None
) -> None:
    response = client.post("/api/runs", json=body)
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    if field is not None:
        assert error["field"] == field
    else:
        key = next(iter(body["overrides"]))  # type: ignore[index]
        assert error["field"] == f"overrides.{key}", error
    assert app.extensions["flexplan"].runs.records() == []  # nothing was queued


def test_start_run_needs_json_and_small_bodies(client: FlaskClient) -> None:
    form = client.post("/api/runs", data={"scenario": "scenario"})
    assert form.status_code == 415 and form.get_json()["error"]["field"] == "body"
    broken = client.post("/api/runs", data="{", content_type="application/json")
    assert broken.status_code == 400
    big = {"scenario": "scenario", "overrides": {"description": "x" * 100_000}}
    assert client.post("/api/runs", json=big).status_code == 413


def test_cancel_unknown_run(client: FlaskClient) -> None:
    assert client.delete("/api/runs/nope").status_code == 404
    assert client.delete("/api/runs/a%2F..%2Fb").status_code == 404


# --- the run form ------------------------------------------------------------------------------


def test_run_form_has_labels_and_csrf(client: FlaskClient) -> None:
    page = client.get("/scenarios/scenario/runs/new").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    ids = re.findall(r'<(?:input|select)[^>]* id="([^"]+)"', page)
    ids = [i for i in ids if i not in ("csrf_token", "submit")]
    assert {
        "target_homes",
        "min_share",
        "max_share_of_dwellings",
        "objective",
        "time_limit_s",
    } <= set(ids)
    assert "reach_huisarts" in ids and "reach_ggz" in ids
    for field_id in ids:
        assert f'for="{field_id}"' in page, field_id
    assert 'value="150"' in page  # the scenario's own target


def test_run_form_without_csrf_is_refused(finished: tuple[Path, Path]) -> None:
    app_ = new_app(*finished, WTF_CSRF_ENABLED=True)
    response = app_.test_client().post("/scenarios/scenario/runs/new", data={"target_homes": "5"})
    assert response.status_code == 400
    assert app_.extensions["flexplan"].runs.records() == []


def _form(client: FlaskClient, **values: str) -> dict[str, str]:
    page = client.get("/scenarios/scenario/runs/new").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = {
        "csrf_token": token,
        "target_homes": "150",
        "min_share": "0,1",
        "max_share_of_dwellings": "0,1",
        "objective": "max_suitability",
        "time_limit_s": "20",
        "reach_huisarts": "900",
        "reach_wijkteam": "1000",
        "reach_ggz": "5000",
    }
    return {**data, **values}


def test_run_form_shows_field_errors(finished: tuple[Path, Path]) -> None:
    app_ = new_app(*finished, WTF_CSRF_ENABLED=True)
    client_ = app_.test_client()
    response = client_.post("/scenarios/scenario/runs/new", data=_form(client_, min_share="veel"))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="min_share-errors"' in page and 'aria-invalid="true"' in page
    # a value WTForms accepts but the scenario rejects: the planner's own message is shown
    response = client_.post("/scenarios/scenario/runs/new", data=_form(client_, min_share="0,5"))
    assert response.status_code == 422
    assert "max_share_per_plot" in response.get_data(as_text=True)
    assert app_.extensions["flexplan"].runs.records() == []


# --- the run page ------------------------------------------------------------------------------


def test_run_page_shows_state_and_progress_in_dutch(app: Flask, client: FlaskClient) -> None:
    from web.jobs import write_job

    jobs = app.extensions["flexplan"].store.jobs_dir
    record = {"id": "20260101T000000-done", "scenario": "scenario", "progress": 1.0}
    write_job(jobs / "20260101T000000-done.json", {**record, "state": "done", "message": "done"})
    page = client.get("/runs/20260101T000000-done").get_data(as_text=True)
    assert '<strong id="fp-state" data-state="done">klaar</strong>' in page
    assert '<span id="fp-message"></span>' in page  # not "klaar done"
    labels = json.loads(re.search(r'id="fp-run-labels">(.*?)</script>', page, re.S).group(1))
    assert labels["done"] == "klaar" and labels["solving"] == "rekenen"
    assert labels["building instance (reach pairs, scores)"] == "model opbouwen (bereik, scores)"
    english = client.get("/runs/20260101T000000-done?lang=en").get_data(as_text=True)
    assert '<strong id="fp-state" data-state="done">done</strong>' in english


def test_every_progress_message_has_a_label() -> None:
    """The planner's and the worker's progress messages are all listed for translation."""
    from web.i18n import MESSAGES, STATES

    root = Path(__file__).parents[1]
    said = re.findall(r'\bsay\("([^"]+)"\)', (root / "planner" / "pipeline.py").read_text())
    jobs = (root / "web" / "jobs.py").read_text()
    recorded = re.findall(r'\bmessage="([^"]+)"', jobs) + re.findall(r'"message": "([^"]+)"', jobs)
    assert said and recorded
    assert set(said) | set(recorded) <= set(MESSAGES) | set(STATES)


# --- downloads ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "magic"),
    [
        ("gpkg", b"SQLite format 3"),
        ("geojson", b"{"),
        ("csv", b"plot_id,"),
        ("assignments", b"plot_id,service_id"),
        ("report", b"<!DOCTYPE html>"),
        ("kpis", b"{"),
    ],
)
def test_downloads_are_attachments(client: FlaskClient, kind: str, magic: bytes) -> None:
    with client.get(f"/downloads/scenario/{kind}") as response:
        assert response.status_code == 200
        disposition = response.headers["Content-Disposition"]
        assert disposition.startswith("attachment;") and "scenario-run1-" in disposition
        assert response.data.startswith(magic)


def test_geojson_and_csv_downloads_hold_every_plot(client: FlaskClient) -> None:
    plots = pyogrio.read_dataframe(_run_dir(client) / "allocation.gpkg", layer="plots")
    data = json.loads(client.get("/downloads/scenario/geojson").data)
    assert len(data["features"]) == len(plots)
    lon, lat = data["features"][0]["geometry"]["coordinates"][0][0]
    assert 3 < lon < 8 and 50 < lat < 54
    table = pd.read_csv(io.BytesIO(client.get("/downloads/scenario/csv").data))
    assert list(table["plot_id"]) == list(plots["plot_id"])
    assert table["homes"].sum() == plots["homes"].sum()


# --- compare -----------------------------------------------------------------------------------


def test_compare_page(client: FlaskClient) -> None:
    page = client.get("/compare?a=scenario&b=xss").get_data(as_text=True)
    assert 'id="fp-map-a"' in page and 'id="fp-map-b"' in page and "/static/compare.js" in page
    assert "plots_used" in page
    assert client.get("/compare").status_code == 200
    assert client.get("/compare?a=scenario&b=nope").status_code == 404


# --- phased runs: the year slider, the chart and their API ------------------------------------


@pytest.fixture(name="phased_client")
def phased_client_fixture(phased: tuple[Path, Path]) -> Iterator[FlaskClient]:
    app_ = new_app(*phased)
    yield app_.test_client()
    app_.extensions["flexplan"].runs.shutdown()


def _timeline_from_files(folder: Path) -> dict[str, Any]:
    """What timeline.json must say, read independently with pandas from the run folder."""
    years = list(range(PHASED_HORIZON["start"], PHASED_HORIZON["end"] + 1))
    rows = pd.read_csv(folder / "timeline.csv", dtype={"plot_id": str})
    table = rows.pivot(index="plot_id", columns="year", values="homes")
    table = table.reindex(columns=years).fillna(0).astype(int)
    per_year = json.loads((folder / "kpis.json").read_text())["phasing"]["per_year"]
    return {
        "years": years,
        "standing": [r["standing"] for r in per_year],
        "target": [PHASED_HORIZON["targets"].get(y) for y in years],
        "plots": {str(i): [int(v) for v in r] for i, r in table.iterrows()},
    }


def test_timeline_json_of_a_phased_run(
    phased: tuple[Path, Path], phased_client: FlaskClient
) -> None:
    folder = phased[1] / "phased" / "run1"
    response = phased_client.get("/api/scenarios/phased/timeline.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = response.get_json()
    assert data == _timeline_from_files(folder)
    assert data["target"] == [None, 40, None, None, 60]
    assert [sum(homes) for homes in zip(*data["plots"].values(), strict=True)] == data["standing"]
    first, last = ({p for p, homes in data["plots"].items() if homes[i]} for i in (0, -1))
    assert first and last and not first & last  # three-year permits: every project moved on
    assert phased_client.get("/api/scenarios/phased/timeline.json?run=run1").get_json() == data
    again = phased_client.get(
        "/api/scenarios/phased/timeline.json", headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    "url",
    [
        "/api/scenarios/scenario/timeline.json",
        "/api/scenarios/scenario/timeline.json?run=run1",
        "/api/scenarios/xss/timeline.json?run=main",
    ],
)
def test_timeline_json_is_404_for_a_plain_run(client: FlaskClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["field"] == "run" and "not phased" in error["message"]


def test_timeline_json_unknown_run_of_a_phased_scenario(phased_client: FlaskClient) -> None:
    for url in ("/api/scenarios/phased/timeline.json?run=nope", "/api/scenarios/x/timeline.json"):
        response = phased_client.get(url)
        assert response.status_code == 404 and response.get_json()["error"]["message"], url


def test_phased_map_has_a_year_slider_chart_and_table(phased_client: FlaskClient) -> None:
    page = phased_client.get("/scenarios/phased/map").get_data(as_text=True)
    config = _map_config(phased_client, "/scenarios/phased/map")
    assert config["urls"]["timeline"] == "/api/scenarios/phased/timeline.json?run=run1"
    assert phased_client.get(config["urls"]["timeline"]).status_code == 200
    slider = re.search(r'<input type="range" id="fp-year"[^>]*>', page, re.S).group(0)
    assert 'min="2027"' in slider and 'max="2031"' in slider and 'value="2031"' in slider
    assert '<label for="fp-year">Jaar</label>' in page
    assert re.search(r'id="fp-year-label"[^>]*>2031<', page)
    svg = re.search(r"<svg .*?</svg>", page, re.S).group(0)
    assert 'role="img"' in svg and 'aria-labelledby="fp-chart-title"' in svg
    assert svg.count('class="fp-chart-bar"') == 5 and svg.count('class="fp-chart-target"') == 2
    table = page.split('class="fp-table fp-yeartable"', 1)[1].split("</table>", 1)[0]
    data = phased_client.get(config["urls"]["timeline"]).get_json()
    rows = re.findall(r'<tr data-year="(\d+)"><td>\d+</td><td class="n">([\d.]+)</td>', table)
    assert rows == [(str(y), str(s)) for y, s in zip(data["years"], data["standing"], strict=True)]
    assert "Staande woningen" in table and "Doel" in table


def test_plain_map_has_no_years(client: FlaskClient) -> None:
    page = client.get("/scenarios/scenario/map").get_data(as_text=True)
    assert "timeline" not in _map_config(client)["urls"]
    assert 'id="fp-year"' not in page and "<svg" not in page and "fp-yeartable" not in page


def test_chart_scales_bars_and_targets_to_a_round_maximum() -> None:
    data = {"years": [2027, 2028, 2029], "standing": [0, 45, 90], "target": [None, 50, 100]}
    got = chart(data)
    assert [t["value"] for t in got["ticks"]] == [0, 50, 100]
    bars = got["bars"]
    assert [b["h"] for b in bars] == [0, pytest.approx(bars[2]["h"] / 2), bars[2]["h"]]
    assert bars[0]["target_y"] is None
    assert bars[2]["target_y"] == got["ticks"][2]["y"] < bars[2]["y"]  # 100 above the 90 bar
    assert bars[1]["y"] + bars[1]["h"] == got["base"]


def _run_dir(client: FlaskClient) -> Path:
    app_ = client.application
    return app_.extensions["flexplan"].store.run("scenario").path
