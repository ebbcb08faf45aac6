"""The map app in a real browser: Debian's chromium driven by Playwright against a live server.

Every test fails on a JavaScript error, a console error, a failed load, a dialog or a request that
leaves the app (fixture ``page`` in tests.web_support). Screenshots go to test-artifacts/browser/.
The run started from the form is last: it adds a newer run of ``scenario``, so the other tests
open ``run1`` explicitly anyway.
The proposed-plots flow (a corporation uploads and draws, a planner accepts, a run of a
``db:accepted`` scenario uses the accepted plot) runs against its own live server, scenarios, data
and database, at the end.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import yaml
from playwright.sync_api import Page, expect

from tests.test_web_plots import ORG_A, PASSWORD, add_users, feature
from tests.web_support import (  # the *_fixture names register fixtures browser, page, ...
    ARTIFACTS,
    PAYLOAD,
    LiveServer,
    Watch,
    browser_fixture,  # noqa: F401
    live_server_fixture,  # noqa: F401
    new_app,
    page_fixture,  # noqa: F401
    phased_fixture,  # noqa: F401
    screenshot,
    watch_fixture,  # noqa: F401
    watched_page,
)

pytestmark = pytest.mark.browser

MAP = "/scenarios/scenario/map?run=run1"
PHASED_MAP = "/scenarios/phased/map?run=run1"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")
TILE = re.compile(
    r"^https://service\.pdok\.nl/brt/achtergrondkaart/wmts/v2_0/standaard/EPSG:3857/\d+/\d+/\d+\.png$"
)
PNG = base64.b64decode(  # 1x1 transparent PNG: a tile PDOK could have sent
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


# --- helpers ------------------------------------------------------------------------------------


def wait_ready(page: Page, selector: str = "#fp-map") -> None:
    """Until map.js/compare.js mark the map drawn; 'failed' fails at once."""
    page.wait_for_selector(f"{selector}[data-ready]")
    assert page.get_attribute(selector, "data-ready") == "true"


def plot_point(page: Page, layer: str, plot_id: str) -> dict[str, float]:
    """Page coordinates of a plot's centre on the map, checked to be the map's canvas there."""
    point = page.evaluate(
        """async ([layer, id]) => {
            const config = JSON.parse(document.getElementById("fp-config").textContent);
            const data = await (await fetch(config.urls[layer])).json();
            const feature = data.features.find((f) => f.properties.plot_id === id);
            const centre = L.geoJSON(feature).getBounds().getCenter();
            const p = window.flexplan.map.latLngToContainerPoint(centre);
            const box = document.getElementById("fp-map").getBoundingClientRect();
            const x = box.left + p.x, y = box.top + p.y;
            return {x: x, y: y, tag: document.elementFromPoint(x, y).tagName};
        }""",
        [layer, plot_id],
    )
    assert point["tag"] == "CANVAS", f"{plot_id} is not visible on the map: {point}"
    return point


def popup_after_click(page: Page, layer: str, plot_id: str) -> str:
    point = plot_point(page, layer, plot_id)
    page.mouse.click(point["x"], point["y"])
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_be_visible()
    page.wait_for_function(  # Leaflet fades popups in; a half-faded one has poor contrast
        "() => getComputedStyle(document.querySelector('.leaflet-popup')).opacity === '1'"
    )
    return popup.inner_text()


def close_popup(page: Page) -> None:
    page.locator(".leaflet-popup-close-button").click()
    expect(page.locator(".leaflet-popup")).to_have_count(0)


def run_plots(finished: tuple[Path, Path], name: str = "scenario", run: str = "run1") -> Any:
    folder = finished[1] / name / (run if run != "main" else "")
    return pyogrio.read_dataframe(folder / "allocation.gpkg", layer="plots").set_index("plot_id")


def axe_scan(page: Page, name: str) -> list[dict[str, Any]]:
    """axe-core (from axe-playwright-python) on the page; the full report is saved as JSON."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": {"type": "tag", "values": AXE_TAGS}})
    violations = results.response["violations"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"axe-{name}.json").write_text(json.dumps(violations, indent=1))
    return violations


def blocking(violations: list[dict[str, Any]]) -> list[str]:
    """The serious and critical violations, one line each."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']} -- {[n['target'] for n in v['nodes']][:5]}"
        for v in violations
        if v["impact"] in BLOCKING
    ]


# --- the watch itself -----------------------------------------------------------------------------


def test_the_watch_sees_errors_dialogs_and_outside_requests(page: Page, watch: Watch) -> None:
    """Positive control: the traps the other tests rely on do fire."""
    page.goto("/")
    page.evaluate("() => { window.alert('probe'); console.error('probe'); }")
    page.evaluate("() => { new Image().src = 'https://service.pdok.nl/probe.png'; }")
    page.evaluate("() => { setTimeout(() => { throw new Error('probe'); }, 0); }")
    page.wait_for_timeout(100)
    assert watch.dialogs == ["alert: probe"]
    assert any("console.error: probe" in e for e in watch.errors)
    assert any("page error: probe" in e for e in watch.errors)
    assert watch.outside == ["https://service.pdok.nl/probe.png"]
    watch.dialogs.clear()
    watch.errors.clear()
    watch.outside.clear()


# --- the planner's path ---------------------------------------------------------------------------


def test_list_map_layers_and_popups(page: Page, finished: tuple[Path, Path]) -> None:
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    expect(page.get_by_role("heading", level=1)).to_have_text("Scenario's")
    expect(page.locator("#scenarios tbody tr")).to_have_count(2)
    screenshot(page, "01-list", full_page=True)

    with page.expect_response(re.compile(r"allocation\.geojson")) as geojson:
        page.locator("a[href='/scenarios/scenario/map']").click()
    wait_ready(page)
    assert geojson.value.headers.get("content-encoding") == "gzip"
    assert page.url.endswith("/scenarios/scenario/map")
    the_map = page.locator("#fp-map")
    expect(the_map).to_have_attribute("data-basemap", "plain")  # BASEMAP="plain" here
    assert set(the_map.get_attribute("data-layers").split()) >= {
        "used",
        "unused",
        "buurten",
        "regions",
    }
    plots = run_plots(finished)
    used = plots[plots["selected"].astype(bool)]
    expect(page.locator("#fp-plots + p + div tbody tr")).to_have_count(len(used))

    # toggle a layer off and on again in Leaflet's layer control
    toggle = page.locator(".leaflet-control-layers-overlays label", has_text="Ongebruikte kavels")
    toggle.locator("input").uncheck()
    expect(the_map).not_to_have_attribute("data-layers", re.compile(r"\bunused\b"))
    toggle.locator("input").check()
    expect(the_map).to_have_attribute("data-layers", re.compile(r"\bunused\b"))

    # a used plot's popup, opened by clicking it on the map
    text = popup_after_click(page, "allocation", "P11")
    homes = int(used.loc["P11", "homes"])
    assert "Plot 1-1" in text and "P11" in text
    assert re.search(rf"Woningen\s+{homes}\b", text), text
    screenshot(page, "02-map-popup")
    close_popup(page)

    # an unused plot's popup explains why it was not used
    text = popup_after_click(page, "unused", "P02")
    assert "Plot 0-2" in text and "Reden niet gebruikt" in text
    close_popup(page)

    # the table's "Tonen" button opens the popup from the keyboard
    row = page.locator("#fp-plots + p + div tbody tr", has_text="P21")
    row.get_by_role("button").focus()
    page.keyboard.press("Enter")
    expect(page.locator(".leaflet-popup-content")).to_contain_text("Plot 2-1")
    screenshot(page, "03-map-after-table-button", full_page=True)


def test_compare_two_scenarios(page: Page) -> None:
    page.goto("/compare")
    page.select_option("#a", "scenario")
    page.select_option("#b", "xss")
    page.get_by_role("button", name="Vergelijken").click()
    page.wait_for_url(re.compile(r"/compare\?a=scenario&b=xss$"))
    wait_ready(page, "#fp-map-a")
    wait_ready(page, "#fp-map-b")
    kpi_rows = page.locator("table[aria-labelledby=fp-kpidiff] tbody tr")
    expect(kpi_rows.filter(has_text="plots_used")).to_have_count(1)
    expect(page.get_by_role("heading", level=2).filter(has_text="A:")).to_contain_text("scenario")
    screenshot(page, "04-compare", full_page=True)


def test_language_switch_nl_en_and_back(page: Page) -> None:
    page.goto("/")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Scenarios")
    expect(page.locator("#scenarios thead")).to_contain_text("Homes placed")

    page.goto(MAP)  # the session remembers English; the map's own labels follow
    wait_ready(page)
    expect(page.locator(".leaflet-control-layers-overlays")).to_contain_text("Used plots")
    assert "Homes" in popup_after_click(page, "allocation", "P11")
    screenshot(page, "05-map-english")

    page.get_by_role("link", name="Nederlands").click()
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    assert "run=run1" in page.url  # the switch keeps the page and its query
    wait_ready(page)
    expect(page.locator(".leaflet-control-layers-overlays")).to_contain_text("Gebruikte kavels")
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Scenario's")


def test_popup_pans_clear_of_the_zoom_control(page: Page) -> None:
    """A popup opened in the map's top-left corner pans out from under the zoom buttons."""
    page.goto(MAP)
    wait_ready(page)
    boxes = page.evaluate(
        """async () => {
            const map = window.flexplan.map;
            let plot = null;
            map.eachLayer((l) => {
                if (l.feature && l.feature.properties.plot_id === "P11") { plot = l; }
            });
            const c = map.latLngToContainerPoint(plot.getBounds().getCenter());
            map.panBy([c.x - 15, c.y - 15], {animate: false});
            const moved = new Promise((done) => map.once("moveend", done));
            plot.openPopup();
            await Promise.race([moved, new Promise((done) => setTimeout(done, 3000))]);
            const box = (s) => document.querySelector(s).getBoundingClientRect().toJSON();
            return {popup: box(".leaflet-popup-content-wrapper"),
                    zoom: box(".leaflet-control-zoom")};
        }"""
    )
    popup, zoom = boxes["popup"], boxes["zoom"]
    apart = (
        popup["left"] >= zoom["right"]
        or popup["top"] >= zoom["bottom"]
        or popup["right"] <= zoom["left"]
        or popup["bottom"] <= zoom["top"]
    )
    assert apart, boxes
    screenshot(page, "08-popup-in-the-corner")


# --- the PDOK background and its offline fallback ---------------------------------------------


@pytest.fixture(scope="module", name="pdok_server")
def pdok_server_fixture(finished: tuple[Path, Path]) -> Iterator[LiveServer]:
    server = LiveServer(new_app(*finished, TESTING=False, BASEMAP="pdok"))
    yield server
    server.stop()


def test_pdok_is_the_default_background_and_falls_back_to_plain(
    browser: Any, pdok_server: LiveServer
) -> None:
    watch = Watch(pdok_server.url)
    watch.failing = TILE  # only PDOK's tiles may fail here, and only because this test says so
    assert not watch.expected("https://service.pdok.nl/probe.png")
    served: list[int] = []

    def tiles(status: int) -> Any:
        def answer(route: Any) -> None:
            served.append(status)
            route.fulfill(
                status=status, body=PNG if status == 200 else b"", content_type="image/png"
            )

        return answer

    note = "Achtergrondkaart niet bereikbaar; kaart zonder achtergrond"
    with watched_page(browser, pdok_server, watch) as page:
        page.route(TILE, tiles(200))  # PDOK reachable: its tiles stay
        page.goto(MAP)
        wait_ready(page)
        expect(page.locator(".leaflet-tile-loaded").first).to_be_attached()
        expect(page.locator("#fp-map")).to_have_attribute("data-basemap", "pdok")
        expect(page.locator("#fp-basemap-note")).to_have_text("")
        assert served and set(served) == {200}

        page.unroute(TILE)
        page.route(TILE, tiles(503))  # PDOK down: the plain background, once, with a note
        page.reload()
        wait_ready(page)
        expect(page.locator("#fp-map")).to_have_attribute("data-basemap", "plain")
        expect(page.locator("#fp-basemap-note")).to_have_text(note)
        expect(page.locator("#fp-basemap-note")).to_have_attribute("role", "status")
        checked = page.locator(".leaflet-control-layers-base label", has=page.locator(":checked"))
        expect(checked).to_have_text(re.compile("Geen achtergrond"))
        expect(page.locator(".leaflet-tile-container")).to_have_count(0)
        assert 503 in served
        screenshot(page, "09-pdok-unreachable")
    assert watch.outside == []


# --- a phased run: the year slider ---------------------------------------------------------------


@pytest.fixture(scope="module", name="phased_server")
def phased_server_fixture(phased: tuple[Path, Path]) -> Iterator[LiveServer]:
    server = LiveServer(new_app(*phased, TESTING=False, BASEMAP="plain"))
    yield server
    server.stop()


def standing_by_year(phased: tuple[Path, Path]) -> dict[int, set[str]]:
    """Plot ids with homes per year, straight from the run's timeline.csv."""
    rows = pd.read_csv(phased[1] / "phased" / "run1" / "timeline.csv", dtype={"plot_id": str})
    rows = rows[rows["homes"] > 0]
    return {int(y): set(group["plot_id"]) for y, group in rows.groupby("year")}


def drawn(page: Page, plot_id: str) -> dict[str, Any]:
    """How the map draws a used plot now: Leaflet's style options of its polygon."""
    return page.evaluate(
        """(id) => {
            let style = null;
            window.flexplan.map.eachLayer((l) => {
                if (l.feature && l.feature.properties.plot_id === id && l.setStyle) {
                    style = {fill: l.options.fillColor, opacity: l.options.fillOpacity};
                }
            });
            return style;
        }""",
        plot_id,
    )


def test_year_slider_shows_the_plots_standing_each_year(
    browser: Any, phased_server: LiveServer, phased: tuple[Path, Path]
) -> None:
    standing = standing_by_year(phased)
    gone = sorted(standing[2027] - standing[2031])[0]  # its permit ended; its homes moved
    watch = Watch(phased_server.url)
    with watched_page(browser, phased_server, watch) as page:
        page.goto(PHASED_MAP)
        wait_ready(page)
        the_map, label = page.locator("#fp-map"), page.locator("#fp-year-label")
        slider = page.get_by_role("slider", name="Jaar")
        expect(slider).to_be_enabled()
        expect(label).to_have_text("2031")  # the last year, as the key figures
        expect(the_map).to_have_attribute("data-year", "2031")
        assert set(the_map.get_attribute("data-standing").split()) == standing[2031]
        assert drawn(page, gone) == {"fill": "#ffffff", "opacity": 0.5}  # faded

        slider.focus()
        page.keyboard.press("Home")
        expect(label).to_have_text("2027")
        expect(the_map).to_have_attribute("data-year", "2027")
        assert set(the_map.get_attribute("data-standing").split()) == standing[2027]
        now = drawn(page, gone)
        assert now["fill"] != "#ffffff" and now["opacity"] == 0.85

        page.keyboard.press("ArrowRight")
        expect(label).to_have_text("2028")
        homes = int(page.locator(".fp-yeartable tr[data-year='2028'] td.n").first.inner_text())
        expect(slider).to_have_attribute(
            "aria-valuetext", f"2028: {homes} woningen staan (doel 40)"
        )
        expect(page.locator("#fp-year-standing")).to_have_text(f"{homes} woningen staan (doel 40)")
        expect(page.locator(".fp-chart-bar.fp-now")).to_have_attribute("data-year", "2028")
        expect(page.locator(".fp-yeartable tr.fp-now")).to_have_attribute("data-year", "2028")
        assert set(the_map.get_attribute("data-standing").split()) == standing[2028]
        assert re.search(r"Woningen in 2028\s+\d+", popup_after_click(page, "allocation", gone))
        screenshot(page, "10-phased-map", full_page=True)
        page.locator("#fp-years-head").evaluate("(h) => h.scrollIntoView()")  # in the panel
        screenshot(page, "11-phased-chart")
        found = blocking(axe_scan(page, "map-phased"))
        assert not found, "\n".join(found)


# --- names with HTML in them ----------------------------------------------------------------------


def test_html_in_names_stays_text(page: Page, watch: Watch) -> None:
    page.goto("/")
    titles = page.locator("#scenarios tbody th .fp-title").all_inner_texts()
    assert PAYLOAD in titles

    page.goto("/scenarios/xss/map")
    wait_ready(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text(PAYLOAD)
    assert PAYLOAD in page.title()
    text = popup_after_click(page, "unused", "P00")  # the plot named with HTML is not used
    assert text.splitlines()[0] == PAYLOAD
    expect(page.locator(".leaflet-popup-content strong")).to_have_text(PAYLOAD)
    screenshot(page, "06-xss-popup")

    page.goto("/scenarios/xss/runs/new")
    expect(page.get_by_role("heading", level=1)).to_contain_text(PAYLOAD)
    page.goto("/compare?a=xss&b=scenario")
    wait_ready(page, "#fp-map-a")
    wait_ready(page, "#fp-map-b")
    for url in ("/", "/scenarios/xss/map", "/scenarios/xss/runs/new", "/compare?a=xss&b=scenario"):
        page.goto(url)
        assert page.locator("img[src='x']").count() == 0, url
        assert page.evaluate("() => document.body.innerHTML.includes('<img src=\"x\"')") is False
    assert watch.dialogs == []


# --- accessibility --------------------------------------------------------------------------------

PAGES = {
    "list": ("/", None),
    "list-en": ("/?lang=en", None),
    "map": (MAP, "#fp-map"),
    "map-xss": ("/scenarios/xss/map", "#fp-map"),
    "run-form": ("/scenarios/scenario/runs/new", None),
    "compare-form": ("/compare", None),
    "compare": ("/compare?a=scenario&b=xss", "#fp-map-b"),
    "runs": ("/runs/", None),
    "not-found": ("/scenarios/nope/map", None),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_axe_finds_no_serious_violations(
    page: Page, watch: Watch, live_server: LiveServer, name: str
) -> None:
    url, ready = PAGES[name]
    if name == "not-found":
        watch.expected_failures.add(live_server.url + url)
    page.goto(url)
    if ready:
        wait_ready(page, ready)
        if name == "map":  # scan with a popup and the unused plots open too
            popup_after_click(page, "allocation", "P11")
            page.locator("#fp-unused-details summary").click()
            expect(page.locator("#fp-unused-details table")).to_be_visible()
    found = blocking(axe_scan(page, name))
    assert not found, "\n".join(found)


def test_axe_scan_reports_a_known_violation(page: Page) -> None:
    """Positive control: the scan sees an image without alt text as critical."""
    page.goto("/")
    page.evaluate(
        "() => { const i = document.createElement('img'); i.src = 'data:,'; "
        "document.querySelector('main').appendChild(i); }"
    )
    violations = axe_scan(page, "control")
    assert any(v["id"] == "image-alt" and v["impact"] in BLOCKING for v in violations)


# --- a run from the form (last: it adds a run) ---------------------------------------------------


def test_run_from_the_form_finishes_and_shows_on_the_map(page: Page) -> None:
    page.goto("/scenarios/scenario/runs/new")
    page.locator("#target_homes").fill("120")
    page.get_by_role("button", name="Berekening starten").click()
    page.wait_for_url(re.compile(r"/runs/[A-Za-z0-9_.-]+$"))
    job = page.url.rsplit("/", 1)[1]
    expect(page.locator("#fp-done")).to_be_visible(timeout=90_000)
    expect(page.locator("#fp-state")).to_have_text("klaar")
    expect(page.locator("#fp-message")).to_be_empty()  # once "klaar done"
    expect(page.locator("#fp-cancel")).to_be_hidden()
    screenshot(page, "07-run-done")
    page.locator("#fp-done a").click()
    page.wait_for_url(re.compile(rf"/scenarios/scenario/map\?run={re.escape(job)}$"))
    wait_ready(page)
    expect(page.locator(".fp-kpis")).to_contain_text("120 / 120")
    page.goto("/")
    expect(page.locator("#scenarios tbody tr", has_text="scenario")).to_contain_text("120 / 120")


# --- proposed plots: a corporation uploads and draws, a planner accepts ---------------------------


ACCEPTED = "accepted"  # the plots server's scenario whose plots are the accepted proposals


@pytest.fixture(name="plots_server")
def plots_server_fixture(finished: tuple[Path, Path], tmp_path: Path) -> Iterator[LiveServer]:
    """Its own scenarios (the world's layers, plots from ``db:accepted``), data and database."""
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    for layer in finished[0].glob("*.gpkg"):
        shutil.copy(layer, scenarios / layer.name)
    spec = yaml.safe_load((finished[0] / "scenario.yaml").read_text(encoding="utf-8"))
    spec.update(name="Geaccepteerde kavels", target_homes=20)
    spec["layers"]["plots"] = "db:accepted"
    (scenarios / f"{ACCEPTED}.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    app = new_app(
        scenarios,
        tmp_path / "results",
        TESTING=False,
        BASEMAP="plain",
        DATABASE_URL=f"sqlite:///{tmp_path / 'plots.db'}",
    )
    add_users(app, ("anna", "piet", "ada"))
    server = LiveServer(app)
    yield server
    server.stop()
    app.extensions["flexplan_proposals"].close()


def sign_in(page: Page, name: str) -> None:
    page.goto("/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("#submit")
    expect(page).to_have_url(re.compile(r"/plots$"))


def test_corporation_uploads_and_draws_planner_accepts_a_run_uses_it(
    browser: Any, plots_server: LiveServer, finished: tuple[Path, Path]
) -> None:
    # the uploaded plot lies on the world's first plot, where a run can use it
    plots = gpd.read_file(finished[0] / "plots.gpkg", layer="plots").to_crs("EPSG:4326")
    world = plots.geometry.iloc[0].__geo_interface__
    watch = Watch(plots_server.url)
    with watched_page(browser, plots_server, watch) as page:
        sign_in(page, "anna")
        page.click("text=Kavels voorstellen")
        page.wait_for_selector("#fp-map[data-ready]")
        body = {"type": "FeatureCollection", "features": [feature(PAYLOAD, 40, geometry=world)]}
        upload = {"name": "plots.geojson", "mimeType": "application/geo+json"}
        page.set_input_files("#upload", files=[{**upload, "buffer": json.dumps(body).encode()}])
        page.click("#submit")
        expect(page.locator(".fp-report")).to_contain_text(PAYLOAD)  # shown as text
        assert blocking(axe_scan(page, "plots-new-report")) == []
        page.click("text=Kavels opslaan")
        expect(page.locator("[role=status]")).to_contain_text("1")
        # a second plot, drawn: three clicks on the map make a triangle
        page.goto("/plots/new")
        page.wait_for_selector("#fp-map[data-ready]")
        page.evaluate(
            "([x, y]) => window.flexplan.map.setView([y, x], 17)", [5.2 + 0.0007, 52.1 + 0.0007]
        )
        box = page.locator("#fp-map").bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        for dx, dy in ((-60, -40), (60, -40), (0, 50)):
            page.mouse.click(cx + dx, cy + dy)
        expect(page.locator("#fp-map")).to_have_attribute("data-vertices", "3")
        page.fill("#name", "Getekend")
        page.fill("#capacity", "10")
        page.click("#submit")
        expect(page.locator(".fp-report")).to_contain_text("Getekend")
        page.click("text=Kavels opslaan")
        expect(page.locator(".fp-plots tbody tr")).to_have_count(2)
        screenshot(page, "plots-corporation")

    watch = Watch(plots_server.url)
    with watched_page(browser, plots_server, watch) as page:
        sign_in(page, "piet")
        page.get_by_role("link", name=PAYLOAD).click()
        page.wait_for_url(re.compile(r"/plots/\d+$"))
        accepted = f"PROP-{page.url.rsplit('/', 1)[1]}"
        page.wait_for_selector("#fp-map[data-ready]")
        assert blocking(axe_scan(page, "plot-review")) == []
        page.check("input[value=accepted]")
        page.click("text=Besluit opslaan")
        expect(page.locator("h1 .fp-status")).to_have_text("geaccepteerd")
        expect(page.locator("table").last).to_contain_text("proposal.review")
        screenshot(page, "plots-planner")
        # a run of the scenario whose plots are the accepted proposals uses it
        page.goto(f"/scenarios/{ACCEPTED}/runs/new")
        page.get_by_role("button", name="Berekening starten").click()
        page.wait_for_url(re.compile(r"/runs/[A-Za-z0-9_.-]+$"))
        job = page.url.rsplit("/", 1)[1]
        expect(page.locator("#fp-done")).to_be_visible(timeout=90_000)
        expect(page.locator("#fp-state")).to_have_text("klaar")
        page.locator("#fp-done a").click()
        page.wait_for_url(re.compile(rf"/scenarios/{ACCEPTED}/map\?run={re.escape(job)}$"))
        wait_ready(page)
        used = page.locator("section.fp-plots tbody tr")
        expect(used).to_have_count(1)
        expect(used.first.locator("td").first).to_have_text(accepted)
        expect(used.first).to_contain_text(PAYLOAD)  # the proposal's name, as text
        expect(page.locator(".fp-kpis")).to_contain_text("20 / 20")
        proposers = page.locator("table.fp-proposers tbody tr")  # per corporation, as text
        expect(proposers).to_have_count(1)
        expect(proposers.first.locator("td")).to_have_text([ORG_A, "1", "1", "20"])
        screenshot(page, "plots-run")


def test_admin_adds_a_user_who_can_sign_in(browser: Any, plots_server: LiveServer) -> None:
    watch = Watch(plots_server.url)
    with watched_page(browser, plots_server, watch) as page:
        sign_in(page, "ada")
        page.get_by_role("link", name="Gebruikers").click()
        expect(page.locator("h1")).to_have_text("Gebruikers")
        page.fill("#name", "carla")
        page.select_option("#role", "corporation")
        page.fill("#org", PAYLOAD)
        page.fill("#password", PASSWORD)
        page.fill("#confirm", PASSWORD)
        page.get_by_role("button", name="Gebruiker toevoegen").click()
        expect(page).to_have_url(re.compile(r"/admin/users/carla$"))
        expect(page.locator("[role=status]")).to_contain_text("carla")
        expect(page.locator(".fp-kpis")).to_contain_text(PAYLOAD)  # shown as text
        assert blocking(axe_scan(page, "admin-user")) == []
        page.get_by_role("link", name="Alle gebruikers").click()
        expect(page.locator("table.fp-users tbody tr")).to_have_count(4)
        assert blocking(axe_scan(page, "admin-users")) == []
        screenshot(page, "admin-users")
        page.get_by_role("button", name="Uitloggen").click()
        sign_in(page, "carla")
        expect(page.get_by_role("link", name="Kavels voorstellen")).to_be_visible()
