"""Every interface string has a Dutch translation, and the compiled catalogue is current."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

WEB = Path(__file__).parents[1] / "web"
PO = WEB / "translations" / "nl" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")


def _extract(tmp_path: Path) -> set[str]:
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(WEB / "babel.cfg"),
            "-k",
            "N_",
            "-k",
            "_l",
            "-o",
            str(pot),
            "--no-location",
            "--omit-header",
            ".",
        ],
        check=True,
        capture_output=True,
        cwd=WEB.parent,
    )
    with open(pot, "rb") as handle:
        return {str(m.id) for m in read_po(handle) if m.id}


def test_every_string_is_translated(tmp_path: Path) -> None:
    with open(PO, "rb") as handle:
        catalog = read_po(handle)
    translated = {str(m.id) for m in catalog if m.id and m.string}
    missing = _extract(tmp_path) - translated
    assert not missing, f"add Dutch for: {sorted(missing)} (see web/translations/README.md)"


def test_compiled_catalogue_matches_the_po() -> None:
    with open(PO, "rb") as handle:
        po = {str(m.id): m.string for m in read_po(handle) if m.id}
    mo = {str(m.id): m.string for m in read_mo(io.BytesIO(MO.read_bytes())) if m.id}
    assert mo == po, "run: pybabel compile -d web/translations"
