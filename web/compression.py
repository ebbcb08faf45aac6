"""gzip for text responses (HTML, JSON/GeoJSON, JS, CSS) when the client accepts it.

A national run's layers are megabytes of GeoJSON that shrink about tenfold, which keeps the map's
first view far below its 3 MB budget. Strong ETags become weak, as a compressed body is not the
same bytes (RFC 9110 8.8.1); If-None-Match compares weakly, so 304s keep working.
"""

from __future__ import annotations

import gzip

from flask import Flask, Response, request

MIN_BYTES = 1_024  # below this the gzip header costs more than it saves
MAX_BYTES = 64 * 1024 * 1024  # no file the app serves is this large; never buffer more
LEVEL = 6
TYPES = frozenset(
    {
        "text/html",
        "text/css",
        "text/csv",
        "text/javascript",
        "application/javascript",
        "application/json",
        "application/geo+json",
    }
)


def init_app(app: Flask) -> None:
    """On unless ``COMPRESS`` is false (``FLEXPLAN_COMPRESS=false``, e.g. to measure without)."""
    if app.config.get("COMPRESS", True):
        app.after_request(compress)


def compress(response: Response) -> Response:
    """Compress the body in place when worth it; always vary on Accept-Encoding for these types."""
    if response.mimetype not in TYPES:
        return response
    response.vary.add("Accept-Encoding")
    if not _worth_it(response):
        return response
    response.direct_passthrough = False  # send_file bodies are small static files here
    data = gzip.compress(response.get_data(), compresslevel=LEVEL, mtime=0)
    response.set_data(data)
    response.headers["Content-Encoding"] = "gzip"
    etag, weak = response.get_etag()
    if etag and not weak:
        response.set_etag(etag, weak=True)
    return response


def _worth_it(response: Response) -> bool:
    if response.status_code != 200 or "Content-Encoding" in response.headers:
        return False
    if request.accept_encodings.quality("gzip") <= 0 or request.method == "HEAD":
        return False
    length = response.content_length
    if length is not None and not MIN_BYTES <= length <= MAX_BYTES:
        return False
    return not response.is_streamed or response.direct_passthrough
