"""Downloads for users with internet: CBS buurten from PDOK, OSM features from Overpass.

Both write plain files that the offline importers read (``flexplan import cbs`` and
``flexplan import osm``), so a planner can fetch once, keep the files with the scenario and
rerun without a network. Every answer is cached under ``cache_dir`` by a hash of the request
(method, URL and body), so a rerun reads the disk; ``refresh=True`` asks again.

The HTTP layer is a `requests.Session` passed in (`Fetcher.session`), so the tests inject a fake
session with saved answers and never touch the network. Every failure (HTTP status, timeout,
no connection, invalid JSON, an Overpass runtime error) becomes one `LayerError` naming the URL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

import geopandas as gpd
import requests

from geodata.importers.osm import LAYERS, TagMapping, default_mapping, write_gpkg
from planner.errors import LayerError

logger = logging.getLogger(__name__)

USER_AGENT = "Flexplan/0.1 (flexwonen site planner; python-requests)"
DEFAULT_TIMEOUT_S = 60.0

#: PDOK OGC API Features of the CBS wijk- en buurtkaart (CONVENTIONS §1).
PDOK_ITEMS_URL = (
    "https://api.pdok.nl/cbs/wijken-en-buurten-{year}/ogc/v1/collections/{collection}/items"
)
RD_CRS_URI = "http://www.opengis.net/def/crs/EPSG/0/28992"
PDOK_PAGE_LIMIT = 1000
MAX_PAGES = 1000

OVERPASS_URL = "https://overpass-api.de/api/interpreter"
OVERPASS_TIMEOUT_S = 180
QUERY_PRESETS: dict[str, tuple[str, ...]] = {
    "care": ("services",),
    "amenities": ("amenities",),
    "all": tuple(LAYERS),
}

#: Main OSM keys that hold one value; others may hold several separated by ``;``.
_SINGLE_VALUED_KEYS = frozenset(
    {
        "amenity",
        "healthcare",
        "highway",
        "public_transport",
        "railway",
        "shop",
        "leisure",
        "social_facility",
        "office",
        "building",
    }
)
_GEMEENTE = re.compile(r"^GM\d{4}$")
_ERE_SPECIAL = re.compile(r"([.^$*+?()\[\]{}|\\])")


class Response(Protocol):
    """The part of `requests.Response` used here."""

    status_code: int
    reason: str
    content: bytes


class Session(Protocol):
    """The part of `requests.Session` used here; tests pass a fake."""

    def request(self, method: str, url: str, **kwargs: Any) -> Response: ...


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/flexplan`` (``~/.cache/flexplan``): answers kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flexplan"


def new_session() -> requests.Session:
    """A `requests.Session` that names Flexplan in its User-Agent, as PDOK and Overpass ask."""
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    return session


@dataclass
class Fetcher:
    """Cached JSON requests with a timeout and one-line errors.

    Attributes
    ----------
    session
        Anything with ``request(method, url, data=, headers=, timeout=)``.
    cache_dir
        Folder for cached answers; one ``<sha256>.json`` per request.
    refresh
        Ignore cached answers (and overwrite them with fresh ones).
    timeout
        Seconds to wait for a server (connect and each read).
    """

    session: Session
    cache_dir: Path
    refresh: bool = False
    timeout: float = DEFAULT_TIMEOUT_S
    requests_made: int = 0
    cache_hits: int = 0

    def get_json(self, url: str, *, check: Callable[[Any, str], None] | None = None) -> Any:
        """GET ``url`` and parse JSON (from the cache when present)."""
        return self._json("GET", url, None, check)

    def post_json(
        self, url: str, data: dict[str, str], *, check: Callable[[Any, str], None] | None = None
    ) -> Any:
        """POST form ``data`` to ``url`` and parse JSON (from the cache when present)."""
        return self._json("POST", url, data, check)

    def cache_path(self, method: str, url: str, data: dict[str, str] | None = None) -> Path:
        """Where the answer of this request is cached."""
        key = f"{method} {url}\n{urlencode(sorted((data or {}).items()))}"
        return Path(self.cache_dir) / f"{hashlib.sha256(key.encode()).hexdigest()}.json"

    def _json(
        self,
        method: str,
        url: str,
        data: dict[str, str] | None,
        check: Callable[[Any, str], None] | None,
    ) -> Any:
        cached = self.cache_path(method, url, data)
        if cached.is_file() and not self.refresh:
            self.cache_hits += 1
            logger.info("cached: %s (%s)", url, cached.name)
            return _parse(cached.read_bytes(), f"{url} (cached in {cached}; rerun with --refresh)")
        body = self._download(method, url, data)
        parsed = _parse(body, url)
        if check is not None:
            check(parsed, url)
        _write_bytes(cached, body)
        return parsed

    def _download(self, method: str, url: str, data: dict[str, str] | None) -> bytes:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        logger.info("%s %s", method, url)
        self.requests_made += 1
        try:
            response = self.session.request(
                method, url, data=data, headers=headers, timeout=self.timeout
            )
        except requests.Timeout:
            raise LayerError(
                f"{url}: no answer within {self.timeout:g} s; try again later or raise --timeout"
            ) from None
        except requests.ConnectionError as exc:
            raise LayerError(
                f"{url}: cannot connect ({_short(exc)}); check the internet connection"
            ) from None
        except requests.RequestException as exc:
            raise LayerError(f"{url}: request failed: {_short(exc)}") from None
        if response.status_code >= 400:
            text = response.content[:200].decode("utf-8", "replace")
            raise LayerError(
                f"{url}: HTTP {response.status_code} {response.reason or ''}".rstrip()
                + (f": {_short(text)}" if text.strip() else "")
                + _status_hint(response.status_code)
            )
        return response.content


def _parse(body: bytes, where: str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayerError(
            f"{where}: the answer is not valid JSON ({exc.__class__.__name__}: {_short(str(exc))})"
        ) from None


def _short(value: object, limit: int = 160) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _status_hint(status: int) -> str:
    if status == 429:
        return "; the server is busy (rate limit): wait a minute and rerun"
    if status in (502, 503, 504):
        return "; the server is overloaded or down: try again later"
    if status == 404:
        return "; check the year and collection (does this release exist on PDOK?)"
    return ""


def _write_bytes(target: Path, body: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(body)
        os.replace(temp, target)
    finally:
        Path(temp).unlink(missing_ok=True)


# --- PDOK: CBS wijken en buurten ---------------------------------------------------------


@dataclass
class FetchReport:
    """What a download wrote: the file, how many features/elements, requests and cache hits."""

    written: Path
    features: int
    pages: int
    requests_made: int
    cache_hits: int
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        return [
            f"wrote {self.written}: {self.features} features from {self.pages} page(s) "
            f"({self.requests_made} downloaded, {self.cache_hits} from the cache)",
            *self.notes,
        ]


def pdok_items_url(year: int, gemeente: str, *, collection: str = "buurten") -> str:
    """The first page URL of a gemeente's buurten (or wijken) in RD, at most 1000 per page."""
    params = {
        "crs": RD_CRS_URI,
        "f": "json",
        "gemeentecode": gemeente,
        "limit": str(PDOK_PAGE_LIMIT),
    }
    return f"{PDOK_ITEMS_URL.format(year=year, collection=collection)}?{urlencode(params)}"


def fetch_pages(fetcher: Fetcher, first_url: str) -> tuple[list[dict[str, Any]], int]:
    """All features of an OGC API Features query, following ``links[rel=next]``.

    Returns the features and the number of pages read.
    """
    features: list[dict[str, Any]] = []
    seen: set[str] = set()
    url: str | None = first_url
    while url is not None:
        if url in seen or len(seen) >= MAX_PAGES:
            raise LayerError(f"{url}: paging does not end (page repeated or over {MAX_PAGES})")
        seen.add(url)
        page = fetcher.get_json(url, check=_check_feature_collection)
        features.extend(page["features"])
        url = _next_link(page)
    return features, len(seen)


def _check_feature_collection(page: Any, url: str) -> None:
    if not isinstance(page, dict) or not isinstance(page.get("features"), list):
        raise LayerError(f"{url}: the answer is not a GeoJSON FeatureCollection (no 'features')")


def _next_link(page: dict[str, Any]) -> str | None:
    for link in page.get("links") or []:
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            return str(link["href"])
    return None


def check_gemeente(code: str) -> str:
    """``GM0344`` in upper case, or a LayerError saying what a gemeentecode looks like."""
    normal = code.strip().upper()
    if not _GEMEENTE.match(normal):
        raise LayerError(f"gemeente {code!r} is not a CBS gemeentecode; write it like GM0344")
    return normal


def fetch_cbs(
    year: int, gemeente: str, out_dir: Path, *, fetcher: Fetcher, collection: str = "buurten"
) -> FetchReport:
    """Download a gemeente's buurten from PDOK into ``wijkenbuurten_<year>_<gm>.gpkg``.

    The features keep PDOK's lower-case columns, in the layer ``buurten`` (or the collection
    asked), as in the CBS GeoPackage, so ``flexplan import cbs`` reads the file unchanged.
    Fetching ``wijken`` or ``gemeenten`` adds that layer to the same file.
    """
    gemeente = check_gemeente(gemeente)
    if not 2000 <= year <= 2100:
        raise LayerError(f"year {year} is not a CBS release year (e.g. 2024)")
    first = pdok_items_url(year, gemeente, collection=collection)
    features, pages = fetch_pages(fetcher, first)
    if not features:
        raise LayerError(
            f"{first}: no {collection} for {gemeente} in {year}; check the gemeentecode "
            "(codes change when gemeenten merge) and the year"
        )
    frame = _features_in_rd(features, first)
    target = Path(out_dir) / f"wijkenbuurten_{year}_{gemeente}.gpkg"
    write_gpkg(frame, target, collection, keep_other_layers=True)
    report = FetchReport(target, len(frame), pages, fetcher.requests_made, fetcher.cache_hits)
    report.notes.append("Bron: CBS, Kadaster (CC-BY 4.0)")
    return report


def _features_in_rd(features: list[dict[str, Any]], url: str) -> gpd.GeoDataFrame:
    try:
        frame = gpd.GeoDataFrame.from_features(features, crs="EPSG:28992")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise LayerError(f"{url}: features cannot be read as GeoJSON: {_short(exc)}") from None
    bounds = frame.total_bounds
    if all(math.isfinite(b) for b in bounds) and max(abs(b) for b in bounds) <= 180:
        raise LayerError(
            f"{url}: coordinates look like lon/lat, not RD metres; the server ignored crs="
        )
    return frame


# --- Overpass: OSM features ----------------------------------------------------------------


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``minlon,minlat,maxlon,maxlat`` in WGS84 degrees, checked."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise LayerError(
            f"bbox {text!r}: write minlon,minlat,maxlon,maxlat, e.g. 5.0,52.0,5.2,52.2"
        )
    minlon, minlat, maxlon, maxlat = values
    if not (-180 <= minlon < maxlon <= 180 and -90 <= minlat < maxlat <= 90):
        raise LayerError(
            f"bbox {text!r}: need minlon < maxlon and minlat < maxlat in degrees "
            "(lon first, e.g. 5.0,52.0,5.2,52.2)"
        )
    return minlon, minlat, maxlon, maxlat


def overpass_query(
    mapping: TagMapping,
    bbox: tuple[float, float, float, float],
    *,
    preset: str = "all",
    timeout_s: int = OVERPASS_TIMEOUT_S,
) -> str:
    """Overpass QL selecting what the mapping's rules (of the preset's layers) could match.

    Conditions that allow an absent tag are left out of the query, so it selects a superset;
    `geodata.importers.osm` applies the exact rules on import. ``out center`` gives ways and
    relations a point.
    """
    if preset not in QUERY_PRESETS:
        raise LayerError(f"query preset {preset!r}: choose one of {', '.join(QUERY_PRESETS)}")
    layers = QUERY_PRESETS[preset]
    statements: list[str] = []
    for rule in mapping.rules:
        if rule.layer not in layers:
            continue
        filters = "".join(_ql_filter(k, v) for k, v in rule.match if None not in v)
        statement = f"  nwr{filters};"
        if filters and statement not in statements:
            statements.append(statement)
    if not statements:
        raise LayerError(f"query preset {preset!r}: the tag mapping has no rule for it")
    minlon, minlat, maxlon, maxlat = bbox
    header = f"[out:json][timeout:{timeout_s}][bbox:{minlat},{minlon},{maxlat},{maxlon}];"
    return "\n".join([header, "(", *statements, ");", "out center tags;"])


def _ql_filter(key: str, values: tuple[str | None, ...]) -> str:
    """One tag filter: exact on a main key such as ``amenity``; on other keys a regex so that
    one value of a multi-valued tag (``social_facility:for=homeless;senior``) matches too."""
    quoted_key = _ql_string(key)
    if "*" in values:
        return f"[{quoted_key}]"
    texts = [v for v in values if v is not None]
    single = key in _SINGLE_VALUED_KEYS
    if single and len(texts) == 1:
        return f"[{quoted_key}={_ql_string(texts[0])}]"
    alternatives = "|".join(_ERE_SPECIAL.sub(r"\\\1", v) for v in texts)
    pattern = f"^({alternatives})$" if single else f"(^|;) *({alternatives}) *(;|$)"
    return f"[{quoted_key}~{_ql_string(pattern)}]"


def _ql_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_overpass(answer: Any, url: str) -> None:
    if not isinstance(answer, dict) or not isinstance(answer.get("elements"), list):
        raise LayerError(f"{url}: the answer has no 'elements'; is this an Overpass server?")
    remark = str(answer.get("remark") or "")
    if "error" in remark.lower():
        raise LayerError(
            f"{url}: Overpass stopped: {_short(remark)}; use a smaller --bbox or try later"
        )


def fetch_osm(
    bbox: tuple[float, float, float, float],
    out_file: Path,
    *,
    fetcher: Fetcher,
    mapping: TagMapping | None = None,
    preset: str = "all",
    endpoint: str = OVERPASS_URL,
) -> FetchReport:
    """Ask Overpass for the mapped features in ``bbox`` and save the JSON answer.

    The file is what ``flexplan import osm`` reads; the query is stored in it under
    ``flexplan_query`` so the download can be repeated.
    """
    query = overpass_query(mapping or default_mapping(), bbox, preset=preset)
    answer = fetcher.post_json(endpoint, {"data": query}, check=_check_overpass)
    answer = {**answer, "flexplan_query": query}
    out_file = Path(out_file)
    _write_bytes(out_file, json.dumps(answer, ensure_ascii=False).encode("utf-8"))
    report = FetchReport(
        out_file, len(answer["elements"]), 1, fetcher.requests_made, fetcher.cache_hits
    )
    report.notes.append("© OpenStreetMap contributors (ODbL)")
    return report
