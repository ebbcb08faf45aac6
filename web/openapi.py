"""The API described as OpenAPI 3.1 (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_RUN_Q = {
    "name": "run",
    "in": "query",
    "required": False,
    "description": "Run id (default: the latest finished run).",
    "schema": {"type": "string"},
}
_ID = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _ok(schema: dict[str, Any], description: str = "OK", media: str = "application/json"):
    return {"description": description, "content": {media: {"schema": schema}}}


def spec() -> dict[str, Any]:
    run = {"$ref": "#/components/schemas/Run"}
    geojson = {"$ref": "#/components/schemas/FeatureCollection"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Flexplan API",
            "version": "1",
            "description": (
                "Scenarios, their latest run's KPIs and map layers, and runs started in the "
                "background. Names are scenario file stems (default for scenarios/default.yaml)."
            ),
        },
        "paths": {
            "/api/scenarios": {
                "get": {
                    "summary": "Every scenario with status and headline KPIs",
                    "responses": {
                        "200": _ok(
                            {"type": "array", "items": {"$ref": "#/components/schemas/Scenario"}}
                        )
                    },
                }
            },
            "/api/scenarios/{name}": {
                "get": {
                    "summary": "One scenario with the ids of its finished runs",
                    "parameters": [_NAME],
                    "responses": {
                        "200": _ok({"$ref": "#/components/schemas/Scenario"}),
                        "404": _err("Unknown scenario"),
                    },
                }
            },
            "/api/scenarios/{name}/allocation.geojson": {
                "get": {
                    "summary": "Used plots of the latest finished run (WGS84)",
                    "description": (
                        "A feature per used plot with plot_id, name, homes, support_homes, "
                        "capacity, suitability, buurt_id, region_id and dist_<type>_m."
                    ),
                    "parameters": [_NAME, _RUN_Q],
                    "responses": {
                        "200": _ok(geojson, media="application/geo+json"),
                        "404": _err("Unknown scenario or run, or no finished run yet"),
                    },
                }
            },
            "/api/scenarios/{name}/layers/{layer}.geojson": {
                "get": {
                    "summary": "Another map layer of a run (WGS84)",
                    "parameters": [
                        _NAME,
                        {
                            "name": "layer",
                            "in": "path",
                            "required": True,
                            "schema": {
                                "enum": ["allocation", "unused", "services", "buurten", "regions"]
                            },
                        },
                        _RUN_Q,
                    ],
                    "responses": {
                        "200": _ok(geojson, media="application/geo+json"),
                        "404": _err("Unknown scenario, run or layer"),
                    },
                }
            },
            "/api/scenarios/{name}/timeline.json": {
                "get": {
                    "summary": "A phased run's years: homes standing against the target",
                    "description": (
                        "Only for a run with a horizon (timeline.csv). years, standing and "
                        "target are parallel lists (target null in a year without one); plots "
                        "maps each plot_id with homes in any year to its homes per year."
                    ),
                    "parameters": [_NAME, _RUN_Q],
                    "responses": {
                        "200": _ok({"$ref": "#/components/schemas/Timeline"}),
                        "404": _err("Unknown scenario or run, or a run that is not phased"),
                    },
                }
            },
            "/api/runs": {
                "get": {
                    "summary": "Runs started from the app, newest first",
                    "responses": {"200": _ok({"type": "array", "items": run})},
                },
                "post": {
                    "summary": "Start a run in a background process",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/RunRequest"}
                            }
                        },
                    },
                    "responses": {
                        "202": _ok(run, "Queued; poll the Location"),
                        "400": _err("Not a JSON object, or a malformed field"),
                        "413": _err("Body too large"),
                        "415": _err("Not application/json"),
                        "422": _err("Unknown scenario or an override the scenario rejects"),
                    },
                },
            },
            "/api/runs/{id}": {
                "get": {
                    "summary": "State and progress of a run",
                    "parameters": [_ID],
                    "responses": {"200": _ok(run), "404": _err("Unknown run")},
                },
                "delete": {
                    "summary": "Cancel a queued or running run (its process is ended)",
                    "parameters": [_ID],
                    "responses": {
                        "200": _ok(run),
                        "404": _err("Unknown run"),
                        "409": _err("The run already ended"),
                    },
                },
            },
            **_plot_paths(),
            **_user_paths(),
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "status": {"type": "integer"},
                                "message": {"type": "string"},
                                "field": {"type": ["string", "null"]},
                            },
                            "required": ["status", "message", "field"],
                        }
                    },
                },
                "Scenario": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {
                            "description": "Latest run's status, or NO_RUN",
                            "enum": ["OPTIMAL", "FEASIBLE", "SHORTFALL", "INFEASIBLE", "NO_RUN"],
                        },
                        "kpis": {
                            "type": "object",
                            "properties": {
                                k: {"type": ["number", "null"]}
                                for k in (
                                    "homes",
                                    "target_homes",
                                    "support_homes",
                                    "plots_used",
                                    "reach_share",
                                    "total_cost_eur",
                                    "gap",
                                )
                            },
                        },
                        "run_id": {"type": ["string", "null"]},
                        "runs": {"type": "integer"},
                        "job": {"type": ["object", "null"]},
                    },
                    "required": ["name", "status", "kpis"],
                },
                "RunRequest": {
                    "type": "object",
                    "properties": {
                        "scenario": {"type": "string"},
                        "overrides": {
                            "type": "object",
                            "description": (
                                "Dotted scenario keys, as `flexplan run --set`: "
                                '{"support.min_share": 0.3}. layers.* cannot be set.'
                            ),
                        },
                    },
                    "required": ["scenario"],
                },
                "Run": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "scenario": {"type": "string"},
                        "state": {"enum": ["queued", "running", "done", "failed", "cancelled"]},
                        "progress": {"type": "number", "minimum": 0, "maximum": 1},
                        "message": {"type": ["string", "null"]},
                        "error": {"type": ["string", "null"]},
                        "status": {"type": ["string", "null"]},
                    },
                    "required": ["id", "state", "progress", "error"],
                },
                "Timeline": {
                    "type": "object",
                    "properties": {
                        "years": {"type": "array", "items": {"type": "integer"}},
                        "standing": {"type": "array", "items": {"type": "integer"}},
                        "target": {"type": "array", "items": {"type": ["integer", "null"]}},
                        "plots": {
                            "type": "object",
                            "additionalProperties": {
                                "type": "array",
                                "items": {"type": "integer"},
                            },
                        },
                    },
                    "required": ["years", "standing", "target", "plots"],
                },
                "FeatureCollection": {
                    "type": "object",
                    "properties": {
                        "type": {"const": "FeatureCollection"},
                        "features": {"type": "array"},
                    },
                },
            },
        },
    }


_PLOT_ID = {"name": "proposal_id", "in": "path", "required": True, "schema": {"type": "integer"}}
_REPAIR = {
    "name": "repair",
    "in": "query",
    "required": False,
    "description": "true: consent to repairing invalid outlines (make_valid)",
    "schema": {"type": "boolean"},
}
_PROBLEMS = {
    "description": "Invalid plots; nothing was stored",
    "content": {
        "application/json": {
            "schema": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "index": {"type": ["integer", "null"]},
                        "field": {"type": "string"},
                        "problem": {"type": "string"},
                    },
                },
            }
        }
    },
}
_AUTH = {"401": _err("Not signed in: send Authorization: Bearer TOKEN")}


def _plot_paths() -> dict[str, Any]:
    """Proposed plots (needs a user: Bearer token or session; see web.auth)."""
    feature = {"type": "object", "description": "GeoJSON Feature (WGS84) of one proposal"}
    security = [{"bearer": []}]
    return {
        "/api/plots": {
            "get": {
                "summary": "The proposals the caller may see (?status= to filter)",
                "security": security,
                "responses": {"200": _ok({"type": "object"}), **_AUTH},
            },
            "post": {
                "summary": "Propose plots: a GeoJSON Feature or FeatureCollection (WGS84 or a "
                "crs member); all are stored or none",
                "security": security,
                "parameters": [_REPAIR],
                "requestBody": {"content": {"application/geo+json": {"schema": feature}}},
                "responses": {
                    "201": _ok({"type": "object", "properties": {"ids": {"type": "array"}}}),
                    **_AUTH,
                    "403": _err("Only corporation users propose plots"),
                    "413": _err("Body or feature count over the limit"),
                    "422": _PROBLEMS,
                },
            },
        },
        "/api/plots/{proposal_id}": {
            "get": {
                "summary": "One proposal the caller may see",
                "security": security,
                "parameters": [_PLOT_ID],
                "responses": {"200": _ok(feature), **_AUTH, "404": _err("No such plot")},
            },
            "patch": {
                "summary": "Edit (owner, while proposed) or review (planner: status accepted | "
                "rejected with a reason); optional version for a conflict check",
                "security": security,
                "parameters": [_PLOT_ID, _REPAIR],
                "responses": {
                    "200": _ok(feature),
                    **_AUTH,
                    "403": _err("The role may not change this"),
                    "404": _err("No such plot"),
                    "409": _err("Changed meanwhile or no longer proposed"),
                    "422": _PROBLEMS,
                },
            },
        },
    }


def _user_paths() -> dict[str, Any]:
    """Users (admins only; the pages under /admin/users change them)."""
    user = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "role": {"enum": ["corporation", "planner", "admin"]},
            "org": {"type": ["string", "null"]},
            "active": {"type": "boolean"},
            "token": {"type": "boolean", "description": "Whether an API token is set"},
            "created_at": {"type": "string", "format": "date-time"},
        },
        "required": ["name", "role", "org", "active", "token", "created_at"],
    }
    return {
        "/api/users": {
            "get": {
                "summary": "Every user, by name (admins only)",
                "security": [{"bearer": []}],
                "responses": {
                    "200": _ok({"type": "array", "items": user}),
                    **_AUTH,
                    "403": _err("Only admins see the users"),
                },
            }
        }
    }
