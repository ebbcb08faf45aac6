"""What a run folder keeps so that a re-run after a small change is quick (``--hint-from``).

``reuse/`` in the run folder holds, beside the allocation a re-run starts from
(allocation.gpkg):

- ``prices.parquet``: LP prices per named model row (``source`` the LP they come from: the
  polish's guiding LP, planner.model.polish, and the pricing LP, planner.why_unused). Any
  prices bound any later version of the model (planner.model.certificate), so a re-run whose
  earlier allocation is still within the gap of the tighter bound needs no solver at all.

Everything in it is derived from the run's own inputs and can be deleted; a run folder without
it still serves as a hint (the solver then proves the gap itself).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

FOLDER = "reuse"
PRICES = "prices.parquet"


def write_prices(folder: Path, prices: dict[str, dict[str, float] | None]) -> None:
    """Write the row prices (source -> row -> price) into ``folder/reuse`` (nothing when there
    are none)."""
    sets = {source: rows for source, rows in prices.items() if rows}
    if not sets:
        return
    target = Path(folder) / FOLDER
    target.mkdir(exist_ok=True)
    table = pd.DataFrame(
        {
            "source": [source for source, rows in sets.items() for _ in rows],
            "row": [row for rows in sets.values() for row in rows],
            "price": [price for rows in sets.values() for price in rows.values()],
        }
    )
    table.to_parquet(target / PRICES, index=False)


def read_prices(run_dir: Path) -> list[dict[str, float]] | None:
    """The sets of row prices an earlier run folder kept, or None (logged) when it has none."""
    path = Path(run_dir) / FOLDER / PRICES
    if not path.is_file():
        log.info("re-run: %s keeps no LP prices; the solver proves the gap", run_dir)
        return None
    try:
        table = pd.read_parquet(path, columns=["source", "row", "price"])
    except Exception as exc:  # a damaged cache costs speed, never the run
        log.warning("re-run: %s unreadable (%s); the solver proves the gap", path, exc)
        return None
    return [
        dict(zip(group["row"].astype(str), group["price"].astype(float), strict=True))
        for _, group in table.groupby("source", sort=True)
    ]
