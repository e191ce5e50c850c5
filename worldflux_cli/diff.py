"""Compare two configs after defaults are filled (the library behind `worldflux diff`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worldflux_cli.config.problems import jsonpath


@dataclass
class Change:
    path: tuple[Any, ...]
    kind: str  # "changed" | "added" | "removed"
    a: Any = None
    b: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"path": jsonpath(self.path), "kind": self.kind, "a": self.a, "b": self.b}


@dataclass
class DiffResult:
    a: str
    b: str
    changes: list[Change] = field(default_factory=list)
    params_a: int | None = None
    params_b: int | None = None

    @property
    def equal(self) -> bool:
        return not self.changes

    def to_json(self) -> dict[str, Any]:
        params = None
        if self.params_a is not None and self.params_b is not None:
            params = {"a": self.params_a, "b": self.params_b, "delta": self.params_b - self.params_a}
        return {"a": self.a, "b": self.b, "equal": self.equal, "changes": [c.to_json() for c in self.changes],
                "params": params}


def diff_values(a: dict[str, Any], b: dict[str, Any], prefix: tuple[Any, ...] = ()) -> list[Change]:
    """Changed, added (only in b) and removed (only in a) fields, by path, in a stable order."""
    out: list[Change] = []
    for key in list(a) + [k for k in b if k not in a]:
        path = prefix + (key,)
        if key not in b:
            out.append(Change(path, "removed", a=a[key]))
        elif key not in a:
            out.append(Change(path, "added", b=b[key]))
        elif isinstance(a[key], dict) and isinstance(b[key], dict):
            out.extend(diff_values(a[key], b[key], path))
        elif a[key] != b[key] or type(a[key]) is not type(b[key]) and not _same_number(a[key], b[key]):
            out.append(Change(path, "changed", a=a[key], b=b[key]))
    return out


def _same_number(x: Any, y: Any) -> bool:
    return isinstance(x, (int, float)) and isinstance(y, (int, float)) and x == y and \
        not isinstance(x, bool) and not isinstance(y, bool)
