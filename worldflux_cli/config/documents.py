"""Every kind of document worldflux reads, with its JSON Schema: the model configs and the run file.

``SCHEMAS`` maps a name to the function that builds its schema; schemas/<name>.schema.json are their output,
committed for editors (``worldflux schema --write`` rewrites them; a test fails when they drift). The run
file's schema embeds the sections' schemas, so an editor checks a whole run file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from worldflux_cli.config.env import EnvConfig
from worldflux_cli.config.names import MODEL_FAMILIES, SCHEMA_KEY
from worldflux_cli.config.registry import FAMILIES
from worldflux_cli.config.run import RUN_VERSION, RunConfig
from worldflux_cli.config.schema import DRAFT, build_schema
from worldflux_cli.config.training import TrainingConfig


def _embedded(schema: dict[str, Any]) -> dict[str, Any]:
    """A document's schema as a part of another (no ``$schema``/``$id`` of its own)."""
    return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}


def _first_paragraph(cls: type) -> str:
    return (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")


def build_run_schema() -> dict[str, Any]:
    """The JSON Schema of a run file: its keys, with the sections' schemas under ``$defs``."""
    models = [name for name in FAMILIES if name in MODEL_FAMILIES]
    defs = {"env": _embedded(build_schema(EnvConfig, allow_null=True)),
            "training": _embedded(build_schema(TrainingConfig, allow_null=True)),
            **{name: _embedded(build_schema(FAMILIES[name], allow_null=True)) for name in models}}
    return {
        "$schema": DRAFT,
        "$id": "urn:worldflux:schema:run",
        "title": "worldflux run file",
        "description": _first_paragraph(RunConfig),
        "type": "object",
        "required": ["model", "env"],
        "properties": {
            SCHEMA_KEY: {"type": "string", "description": "JSON Schema of this file, for editors."},
            "run": {"const": RUN_VERSION, "description": "Version of the run-file format."},
            "env": {"description": "The environment: an object, or one string, the id with options "
                                   "(dmc:walker-walk?obs=pixels&action_repeat=2).",
                    "anyOf": [{"type": "string"}, {"$ref": "#/$defs/env"}]},
            "model": {"description": "The model config: inline, a preset id (tdmpc2:5m) or the path of a model "
                                     "config file, relative to the run file's folder.",
                      "anyOf": [{"type": "string"}, *({"$ref": f"#/$defs/{name}"} for name in models)]},
            "training": {"$ref": "#/$defs/training"},
        },
        "additionalProperties": False,
        "$defs": defs,
    }


#: Document name -> its schema's builder (the model families, the run file and its two other sections).
SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    **{name: (lambda cls=cls: build_schema(cls, allow_null=True)) for name, cls in FAMILIES.items()},
    "training": lambda: build_schema(TrainingConfig, allow_null=True),
    "env": lambda: build_schema(EnvConfig, allow_null=True),
    "run": build_run_schema,
}


def render_document_schema(name: str) -> str:
    """The text of schemas/<name>.schema.json."""
    return json.dumps(SCHEMAS[name](), indent=2) + "\n"
