"""Dutch by default, English on request (``?lang=en``, remembered in the session).

Numbers, percentages and amounts are formatted by Babel for the active locale, so a Dutch page
shows ``12.345,6`` and ``12,5%``. Interface strings are English msgids translated to Dutch in
``web/translations/nl``; the same labels reach the map script as JSON.
"""

from __future__ import annotations

import math
from typing import Any

from flask import Flask, request, session, url_for
from flask_babel import (
    Babel,
    format_currency,
    format_decimal,
    format_percent,
    get_locale,
    gettext,
)

LANGUAGES = ("nl", "en")
DEFAULT = "nl"


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown (``label``)."""
    return message


# Words that reach templates as data (states, statuses): listed here so pybabel finds them.
STATES = (N_("queued"), N_("running"), N_("done"), N_("failed"), N_("cancelled"))
WORDS = (
    *STATES,
    N_("OPTIMAL"),
    N_("FEASIBLE"),
    N_("SHORTFALL"),
    N_("INFEASIBLE"),
    N_("NO_RUN"),
    N_("UNKNOWN"),
)
# A run's progress messages (web.jobs and planner.pipeline.run_scenario's ``progress``).
MESSAGES = (
    N_("starting"),
    N_("loading layers"),
    N_("building instance (reach pairs, scores)"),
    N_("solving"),
    N_("solving the plan per year"),
    N_("explaining the shortfall"),
    N_("writing results"),
)


def label(word: Any) -> str:
    """Translate a state, status or progress word; anything else is shown as it is."""
    text = str(word)
    return gettext(text) if text in WORDS or text in MESSAGES else text


def run_labels() -> dict[str, str]:
    """Run states and progress messages in the page's language, for ``static/run.js``."""
    return {text: gettext(text) for text in (*STATES, *MESSAGES)}


def run_message(job: dict[str, Any]) -> str:
    """The job's progress message, translated; empty when it only repeats the state."""
    message = job.get("message") or ""
    return "" if message == job.get("state") else label(message)


def lang_url(code: str) -> str:
    """This page in another language (query kept)."""
    args = {**request.args.to_dict(), "lang": code}
    return url_for(request.endpoint or "scenarios.index", **(request.view_args or {}), **args)


def select_locale() -> str:
    lang = session.get("lang")
    return lang if lang in LANGUAGES else DEFAULT


def remember_language() -> None:
    """A ``lang`` query parameter switches the language for the rest of the session."""
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang


def lang() -> str:
    return str(get_locale() or DEFAULT)


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def num(value: Any, digits: int = 0) -> str:
    """A number in the page's locale; missing values as '-'."""
    if not _finite(value):
        return "-"
    pattern = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=pattern)


def pct(value: Any, digits: int = 1) -> str:
    if not _finite(value):
        return "-"
    return format_percent(value, format="#,##0" + ("." + "#" * digits if digits else "") + "%")


def eur(value: Any) -> str:
    if not _finite(value):
        return "-"
    return format_currency(value, "EUR", format="¤ #,##0", currency_digits=False)


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale)
    app.before_request(remember_language)
    app.jinja_env.filters.update(num=num, pct=pct, eur=eur, label=label)
    app.jinja_env.globals.update(
        page_lang=lang, lang_url=lang_url, run_labels=run_labels, run_message=run_message
    )
