"""PDOK and Overpass downloads against saved answers: paging, cache, errors. Never the network.

`FakeSession` stands in for `requests.Session`: it answers from a dict of URL -> answers written
here, records every request, and fails the test if a URL it does not know is asked for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import geopandas as gpd
import pyogrio
import pytest
import requests
from shapely.geometry import box, mapping

from geodata.contract import load_layer
from geodata.importers.online import (
    PDOK_PAGE_LIMIT,
    USER_AGENT,
    Fetcher,
    fetch_cbs,
    fetch_osm,
    new_session,
    overpass_query,
    parse_bbox,
    pdok_items_url,
)
from geodata.importers.osm import default_mapping, import_osm
from planner.errors import LayerError
from tests.test_cli import flexplan

OVERPASS = "https://overpass.example/api/interpreter"


@dataclass
class FakeResponse:
    status_code: int = 200
    reason: str = "OK"
    content: bytes = b""


@dataclass
class FakeSession:
    """Answers by URL: a FakeResponse, or an exception to raise; records each call."""

    answers: dict[str, FakeResponse | Exception]
    calls: list[dict[str, Any]] = field(default_factory=list)

    def request(self, method: str, url: str, **kwargs: Any) -> FakeResponse:
        self.calls.append({"method": method, "url": url, **kwargs})
        if url not in self.answers:
            pytest.fail(f"unexpected request: {method} {url}")
        answer = self.answers[url]
        if isinstance(answer, Exception):
            raise answer
        return answer


def _json(data: Any) -> FakeResponse:
    return FakeResponse(content=json.dumps(data).encode())


def _buurt(i: int) -> dict[str, Any]:
    x, y = 133_000 + 500 * i, 455_000
    return {
        "type": "Feature",
        "id": f"BU0344{i:04d}",
        "geometry": mapping(box(x, y, x + 500, y + 500)),
        "properties": {
            "buurtcode": f"BU0344{i:04d}",
            "buurtnaam": f"Buurt {i}",
            "gemeentecode": "GM0344",
            "water": "NEE",
            "woningvoorraad": 100 + i,
            "aantal_inwoners": 200 + i,
        },
    }


def _pdok_pages(first: str, sizes: list[int]) -> dict[str, FakeResponse | Exception]:
    """Pages of buurten with ``links[rel=next]`` as PDOK sends them (cursor in the next URL)."""
    answers: dict[str, FakeResponse | Exception] = {}
    url, start = first, 0
    for page, size in enumerate(sizes):
        next_url = f"{first}&cursor=page{page + 1}" if page + 1 < len(sizes) else None
        links = [{"rel": "self", "href": url, "type": "application/geo+json"}]
        if next_url:
            links.append({"rel": "next", "href": next_url, "type": "application/geo+json"})
        answers[url] = _json(
            {
                "type": "FeatureCollection",
                "features": [_buurt(i) for i in range(start, start + size)],
                "links": links,
                "numberReturned": size,
            }
        )
        start += size
        url = next_url or url
    return answers


@pytest.fixture
def first_url() -> str:
    return pdok_items_url(2024, "GM0344")


def test_first_url_asks_for_rd_a_gemeente_and_full_pages(first_url: str) -> None:
    parts = urlsplit(first_url)
    assert parts.netloc == "api.pdok.nl"
    assert parts.path == "/cbs/wijken-en-buurten-2024/ogc/v1/collections/buurten/items"
    query = parse_qs(parts.query)
    assert query == {
        "crs": ["http://www.opengis.net/def/crs/EPSG/0/28992"],
        "f": ["json"],
        "gemeentecode": ["GM0344"],
        "limit": ["1000"],
    }
    assert PDOK_PAGE_LIMIT <= 1000


def test_fetch_cbs_follows_pages_and_writes_the_raw_geopackage(
    tmp_path: Path, first_url: str
) -> None:
    session = FakeSession(_pdok_pages(first_url, [3, 3, 2]))
    fetcher = Fetcher(session, tmp_path / "cache", timeout=12.5)
    report = fetch_cbs(2024, "gm0344", tmp_path / "out", fetcher=fetcher)
    target = tmp_path / "out" / "wijkenbuurten_2024_GM0344.gpkg"
    assert report.written == target
    assert (report.features, report.pages, report.requests_made) == (8, 3, 3)
    assert [c["url"] for c in session.calls] == [
        first_url,
        f"{first_url}&cursor=page1",
        f"{first_url}&cursor=page2",
    ]
    assert all(c["timeout"] == 12.5 for c in session.calls)
    assert all(c["headers"]["User-Agent"] == USER_AGENT for c in session.calls)
    assert "Flexplan" in USER_AGENT
    assert pyogrio.list_layers(target)[:, 0].tolist() == ["buurten"]
    frame = gpd.read_file(target, layer="buurten")
    assert frame.crs.to_epsg() == 28992
    assert frame["buurtcode"].tolist() == [f"BU0344{i:04d}" for i in range(8)]
    assert {"buurtnaam", "gemeentecode", "water", "woningvoorraad"} <= set(frame.columns)
    assert frame.geometry.iloc[0].equals(box(133_000, 455_000, 133_500, 455_500))


def test_cache_is_reused_and_refresh_asks_again(tmp_path: Path, first_url: str) -> None:
    answers = _pdok_pages(first_url, [2, 1])
    cache = tmp_path / "cache"
    fetch_cbs(2024, "GM0344", tmp_path / "a", fetcher=Fetcher(FakeSession(answers), cache))
    assert len(list(cache.glob("*.json"))) == 2

    offline = FakeSession({})  # any request fails the test
    fetcher = Fetcher(offline, cache)
    report = fetch_cbs(2024, "GM0344", tmp_path / "b", fetcher=fetcher)
    assert (report.features, report.requests_made, report.cache_hits) == (3, 0, 2)
    assert offline.calls == []

    again = FakeSession(answers)
    fetcher = Fetcher(again, cache, refresh=True)
    report = fetch_cbs(2024, "GM0344", tmp_path / "c", fetcher=fetcher)
    assert (report.requests_made, report.cache_hits) == (2, 0)
    assert len(again.calls) == 2


def test_cache_keys_differ_per_request(tmp_path: Path) -> None:
    fetcher = Fetcher(FakeSession({}), tmp_path)
    a = fetcher.cache_path("GET", pdok_items_url(2024, "GM0344"))
    b = fetcher.cache_path("GET", pdok_items_url(2024, "GM0363"))
    c = fetcher.cache_path("POST", OVERPASS, {"data": "q1"})
    d = fetcher.cache_path("POST", OVERPASS, {"data": "q2"})
    assert len({a, b, c, d}) == 4
    assert a == fetcher.cache_path("GET", pdok_items_url(2024, "GM0344"))


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            FakeResponse(500, "Internal Server Error", b"boom"),
            "HTTP 500 Internal Server Error: boom",
        ),
        (FakeResponse(404, "Not Found", b""), "HTTP 404 Not Found; check the year"),
        (FakeResponse(429, "Too Many Requests", b""), "rate limit"),
        (requests.Timeout("read timed out"), "no answer within 7 s"),
        (requests.ConnectionError("Name or service not known"), "cannot connect"),
        (FakeResponse(200, "OK", b"<html>maintenance</html>"), "the answer is not valid JSON"),
        (_json({"type": "FeatureCollection"}), "not a GeoJSON FeatureCollection"),
    ],
)
def test_errors_are_one_line_naming_the_url_and_not_cached(
    tmp_path: Path, first_url: str, answer: FakeResponse | Exception, message: str
) -> None:
    fetcher = Fetcher(FakeSession({first_url: answer}), tmp_path / "cache", timeout=7)
    with pytest.raises(LayerError) as info:
        fetch_cbs(2024, "GM0344", tmp_path / "out", fetcher=fetcher)
    text = str(info.value)
    assert text.startswith(first_url)
    assert message in text
    assert "\n" not in text
    cache = tmp_path / "cache"
    assert not cache.exists() or not any(cache.iterdir())
    assert not (tmp_path / "out").exists()


def test_paging_that_loops_is_an_error(tmp_path: Path, first_url: str) -> None:
    page = {
        "type": "FeatureCollection",
        "features": [_buurt(1)],
        "links": [{"rel": "next", "href": first_url}],
    }
    fetcher = Fetcher(FakeSession({first_url: _json(page)}), tmp_path / "cache")
    with pytest.raises(LayerError, match="paging does not end"):
        fetch_cbs(2024, "GM0344", tmp_path / "out", fetcher=fetcher)


def test_no_features_lonlat_and_bad_codes_are_errors(tmp_path: Path, first_url: str) -> None:
    empty = {"type": "FeatureCollection", "features": [], "links": []}
    fetcher = Fetcher(FakeSession({first_url: _json(empty)}), tmp_path / "c1")
    with pytest.raises(LayerError, match="no buurten for GM0344 in 2024"):
        fetch_cbs(2024, "GM0344", tmp_path / "out", fetcher=fetcher)
    lonlat = dict(_buurt(1), geometry=mapping(box(5.1, 52.0, 5.2, 52.1)))
    page = {"type": "FeatureCollection", "features": [lonlat], "links": []}
    fetcher = Fetcher(FakeSession({first_url: _json(page)}), tmp_path / "c2")
    with pytest.raises(LayerError, match="look like lon/lat"):
        fetch_cbs(2024, "GM0344", tmp_path / "out", fetcher=fetcher)
    with pytest.raises(LayerError, match="write it like GM0344"):
        fetch_cbs(2024, "0344", tmp_path / "out", fetcher=Fetcher(FakeSession({}), tmp_path))


def test_parse_bbox() -> None:
    assert parse_bbox("5.0, 52.0,5.2,52.2") == (5.0, 52.0, 5.2, 52.2)
    for bad in ("5.0,52.0,5.2", "a,b,c,d", "52.0,5.0,52.2,5.2x", "5.2,52.0,5.0,52.2", "nan,1,2,3"):
        with pytest.raises(LayerError, match="bbox"):
            parse_bbox(bad)


def test_overpass_query_follows_the_mapping_and_preset() -> None:
    bbox = (5.0, 52.0, 5.2, 52.2)
    care = overpass_query(default_mapping(), bbox, preset="care")
    assert care.startswith("[out:json][timeout:180][bbox:52.0,5.0,52.2,5.2];")
    assert care.rstrip().endswith("out center tags;")
    assert '  nwr["amenity"="doctors"];' in care.splitlines()
    assert '["social_facility:for"~"(^|;) *(homeless) *(;|$)"]' in care
    assert "supermarket" not in care
    everything = overpass_query(default_mapping(), bbox)
    assert '  nwr["shop"="supermarket"];' in everything.splitlines()
    assert '  nwr["railway"~"^(station|halt|tram_stop)$"];' in everything.splitlines()
    assert len(everything.splitlines()) == len(set(everything.splitlines()))
    with pytest.raises(LayerError, match="query preset 'shops'"):
        overpass_query(default_mapping(), bbox, preset="shops")


def _overpass_answer() -> dict[str, Any]:
    return {
        "version": 0.6,
        "generator": "Overpass API (fake)",
        "osm3s": {"copyright": "The data included in this document is from www.openstreetmap.org."},
        "elements": [
            {
                "type": "node",
                "id": 1,
                "lat": 52.09,
                "lon": 5.1,
                "tags": {"amenity": "doctors", "name": "Huisarts"},
            },
            {
                "type": "way",
                "id": 2,
                "center": {"lat": 52.091, "lon": 5.11},
                "tags": {"shop": "supermarket"},
            },
        ],
    }


def test_fetch_osm_saves_overpass_json_that_import_osm_reads(tmp_path: Path) -> None:
    session = FakeSession({OVERPASS: _json(_overpass_answer())})
    fetcher = Fetcher(session, tmp_path / "cache")
    out = tmp_path / "utrecht.json"
    report = fetch_osm((5.0, 52.0, 5.2, 52.2), out, fetcher=fetcher, endpoint=OVERPASS)
    assert report.features == 2
    (call,) = session.calls
    assert call["method"] == "POST"
    assert call["data"]["data"] == overpass_query(default_mapping(), (5.0, 52.0, 5.2, 52.2))
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["flexplan_query"] == call["data"]["data"]
    imported = import_osm(out, tmp_path / "layers")
    assert imported.counts["services"] == {"huisarts": 1}
    assert imported.counts["amenities"] == {"supermarket": 1}
    assert load_layer("services", tmp_path / "layers" / "services.gpkg")["service_id"].tolist() == [
        "osm-node-1"
    ]
    # A rerun reads the cache.
    again = Fetcher(FakeSession({}), tmp_path / "cache")
    fetch_osm((5.0, 52.0, 5.2, 52.2), out, fetcher=again, endpoint=OVERPASS)
    assert again.cache_hits == 1


def test_overpass_runtime_error_is_reported_and_not_cached(tmp_path: Path) -> None:
    answer = dict(_overpass_answer(), remark='runtime error: Query timed out in "query" at line 3')
    fetcher = Fetcher(FakeSession({OVERPASS: _json(answer)}), tmp_path / "cache")
    with pytest.raises(LayerError, match="Overpass stopped: runtime error") as info:
        fetch_osm((5.0, 52.0, 5.2, 52.2), tmp_path / "o.json", fetcher=fetcher, endpoint=OVERPASS)
    assert str(info.value).startswith(OVERPASS)
    assert not list((tmp_path / "cache").glob("*.json"))
    assert not (tmp_path / "o.json").exists()


def test_new_session_names_flexplan() -> None:
    session = new_session()
    assert session.headers["User-Agent"] == USER_AGENT
    session.close()


def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Route any request the CLI might make to a closed local port, so none leaves the machine."""
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_cli_fetch_cbs_from_a_filled_cache_and_bad_codes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_network(monkeypatch)
    first = pdok_items_url(2023, "GM0363")
    cache = tmp_path / "cache"
    fetcher = Fetcher(FakeSession(_pdok_pages(first, [2])), cache)
    fetch_cbs(2023, "GM0363", tmp_path / "warm", fetcher=fetcher)  # fills the cache
    out = tmp_path / "out"
    proc = flexplan(
        "import",
        "fetch-cbs",
        "--year",
        "2023",
        "--gemeente",
        "GM0363",
        "--out",
        out,
        "--cache-dir",
        cache,
        "--timeout",
        "5",
    )
    assert proc.returncode == 0, proc.stderr
    assert "2 features from 1 page(s) (0 downloaded, 1 from the cache)" in proc.stdout
    assert len(gpd.read_file(out / "wijkenbuurten_2023_GM0363.gpkg", layer="buurten")) == 2
    proc = flexplan(
        "import",
        "fetch-cbs",
        "--year",
        "2023",
        "--gemeente",
        "Utrecht",
        "--out",
        out,
        "--cache-dir",
        cache,
    )
    assert proc.returncode == 1
    assert "error: gemeente 'Utrecht' is not a CBS gemeentecode" in proc.stderr


def test_cli_fetch_osm_shows_the_query_without_downloading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _no_network(monkeypatch)
    proc = flexplan(
        "import",
        "fetch-osm",
        "--bbox",
        "5.0,52.0,5.2,52.2",
        "--out",
        tmp_path / "o.json",
        "--query-preset",
        "care",
        "--show-query",
    )
    assert proc.returncode == 0, proc.stderr
    assert "[bbox:52.0,5.0,52.2,5.2]" in proc.stdout
    assert 'nwr["amenity"="doctors"];' in proc.stdout
    assert not (tmp_path / "o.json").exists()
    proc = flexplan("import", "fetch-osm", "--bbox", "5,52", "--out", tmp_path / "o.json")
    assert proc.returncode == 1
    assert "error: bbox '5,52'" in proc.stderr


def test_wijken_join_the_buurten_in_one_file(tmp_path: Path) -> None:
    buurten_url = pdok_items_url(2024, "GM0344")
    wijken_url = pdok_items_url(2024, "GM0344", collection="wijken")
    answers = {**_pdok_pages(buurten_url, [3]), **_pdok_pages(wijken_url, [1])}
    fetcher = Fetcher(FakeSession(answers), tmp_path / "cache")
    fetch_cbs(2024, "GM0344", tmp_path, fetcher=fetcher)
    fetch_cbs(2024, "GM0344", tmp_path, fetcher=fetcher, collection="wijken")
    fetch_cbs(2024, "GM0344", tmp_path, fetcher=fetcher)  # rewrites buurten, keeps wijken
    target = tmp_path / "wijkenbuurten_2024_GM0344.gpkg"
    assert sorted(pyogrio.list_layers(target)[:, 0]) == ["buurten", "wijken"]
    assert len(gpd.read_file(target, layer="buurten")) == 3
    assert len(gpd.read_file(target, layer="wijken")) == 1
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".gpkg"] == [target.name]
