"""The layer kinds of the data contract, in one place for the readers and the scenario schema.

Kept free of heavy imports so the scenario schema can use it without loading GeoPandas.
"""

from __future__ import annotations

LAYER_KINDS = (
    "plots",
    "services",
    "service_areas",
    "exclusions",
    "neighbourhoods",
    "regions",
    "amenities",
    "travel_costs",
)
