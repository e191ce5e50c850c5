"""Griffe extension: config classes get their Attributes and Size presets sections from the code.

A config attribute is described once, in its field spec (``spec(default, "description", ...)`` in
worldflux_cli/config/). Once griffe has loaded the package, this extension imports each class of the
configured modules; for every dataclass whose fields carry a spec description it inserts, into the
class docstring that mkdocstrings renders, an ``Attributes:`` section (name, type hint, the spec's
description, default and range) and a ``Size presets:`` table computed from presets/*.json and the
parameter counter. The source docstrings stay free of both.

Configured in mkdocs.yml (``extensions: [docs/_ext/griffe_fields.py:FieldSpecs]``).
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

import griffe

sys.path.insert(0, str(Path(__file__).resolve().parent))
import docs_gen  # noqa: E402

_SECTION_START = re.compile(r"^(Examples?|Note|Notes|Warning|Methods):\s*$", re.M)


class FieldSpecs(griffe.Extension):
    """Insert generated Attributes and Size presets sections into the docstrings of spec'd dataclasses."""

    def __init__(self, modules: list[str] | None = None) -> None:
        super().__init__()
        self.modules = modules or ["worldflux_cli.config"]

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for path in self.modules:
            if path != pkg.path and not path.startswith(pkg.path + "."):
                continue
            module = pkg
            for part in path.split(".")[1:]:
                module = module.members[part]
            for cls in _classes(module):
                self._document(cls)

    def _document(self, cls: griffe.Class) -> None:
        runtime = getattr(importlib.import_module(cls.module.path), cls.name, None)
        if runtime is None or not docs_gen.spec_fields(runtime):
            return
        generated = docs_gen.class_sections(runtime)
        text = cls.docstring.value if cls.docstring else ""
        if "\nAttributes:" in f"\n{text}":
            raise ValueError(f"{cls.path}: its docstring has an Attributes section; the field specs are the source")
        match = _SECTION_START.search(text)
        at = match.start() if match else len(text)
        text = f"{text[:at].rstrip()}\n\n{generated}\n\n{text[at:]}".strip()
        if cls.docstring:
            cls.docstring.value = text
        else:
            cls.docstring = griffe.Docstring(text, parent=cls)


def _classes(module: griffe.Module) -> list[griffe.Class]:
    """Every class defined (not imported) in ``module`` and its submodules."""
    found = []
    for member in module.members.values():
        if member.is_alias:
            continue
        if member.is_module:
            found += _classes(member)
        elif member.is_class:
            found.append(member)
    return found
