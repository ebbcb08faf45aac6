"""Fixtures shared by several test modules; the web app's live in tests.web_support."""

from tests.web_support import app, client, finished  # noqa: F401  (pytest fixtures)
