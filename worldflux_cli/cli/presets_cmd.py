"""`worldflux presets`: the size presets and what they fix."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.cli.options import Format, FormatOpt
from worldflux_cli.errors import WorldfluxError


@guarded
def presets(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this family (dreamer, tdmpc2).")] = None,
    format: FormatOpt = Format.text,
) -> None:
    """List size presets: nominal size, the real trainable count, and the dimensions they fix.

    Counts are at each preset's reference shapes (DreamerV3: 3x64x64 image, 4 discrete
    actions; TD-MPC2: 39-dim vector, 6 continuous actions).

    Examples:

      worldflux presets

      worldflux presets --model tdmpc2 --format json   # also lists the calibrated knobs
    """
    from worldflux_cli.config.presets import presets_of
    from worldflux_cli.config.registry import FAMILIES, MODEL_FAMILIES, canonical_family
    from worldflux_cli.params import count_params, human_count

    try:
        families = [canonical_family(model, allow_base=False)] if model else list(MODEL_FAMILIES)
    except ValueError as exc:  # unknown family: a usage error
        raise WorldfluxError(exc.message, "families: " + ", ".join(MODEL_FAMILIES)) from None
    rows = []
    for fam in families:
        for p in presets_of(fam).values():
            params = count_params(FAMILIES[fam].from_dict(p.config_values())).trainable
            rows.append({"family": fam, "preset": p.name, "id": p.id, "nominal_params": p.nominal_params,
                         "params": params, "reference": p.reference, "dims": p.dims, "knobs": p.knobs,
                         "note": p.note})
    if format is Format.json:
        typer.echo(json.dumps({"presets": rows}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="worldflux size presets (counts at the reference shapes)")
    for col in ("id", "nominal", "trainable", "off by", "dims"):
        table.add_column(col, overflow="fold", justify="left" if col in ("id", "dims") else "right")
    for r in rows:
        nominal = r["nominal_params"]
        off = f"{r['params'] / nominal - 1:+.1%}" if nominal else "-"
        table.add_row(r["id"], human_count(nominal) if nominal else "-", human_count(r["params"]), off,
                      _dims_text(r["dims"]))
    Console().print(table)


def _dims_text(dims: dict) -> str:
    """{'deter_dim': 2048, 'stoch_discrete': 16, 'stoch_classes': 16} -> 'deter 2048, stoch 16x16'."""
    dims = dict(dims)
    parts = []
    if "stoch_discrete" in dims:
        stoch = f"{dims.pop('stoch_discrete')}x{dims.pop('stoch_classes')}"
        parts.append(f"deter {dims.pop('deter_dim')}, stoch {stoch}")
    parts += [f"{k.removesuffix('_dim')} {v}" for k, v in dims.items()]
    return ", ".join(parts)
