"""`worldflux presets`: the size presets and what they fix."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from worldflux_cli.cli.errors import guarded
from worldflux_cli.cli.options import Format, FormatOpt


@guarded
def presets(
    model: Annotated[str | None, typer.Option("--model", "-m", help="Only this family (dreamer, tdmpc2).")] = None,
    format: FormatOpt = Format.text,
) -> None:
    """List size presets: family, name, nominal size, real trainable count, dimensions.

    Counts are at each preset's reference shapes (DreamerV3: 3x64x64 image, 4 discrete
    actions; TD-MPC2: 39-dim vector, 6 continuous actions).

    Examples:

      worldflux presets

      worldflux presets --model tdmpc2 --format json
    """
    from worldflux_cli.config.registry import FAMILIES, MODEL_FAMILIES, canonical_family
    from worldflux_cli.params import count_params, human_count
    from worldflux_cli.presets import presets_of

    families = [canonical_family(model, allow_base=False)] if model else list(MODEL_FAMILIES)
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
    for col in ("id", "nominal", "trainable", "dims", "knobs"):
        table.add_column(col, overflow="fold")
    for r in rows:
        nominal = human_count(r["nominal_params"]) if r["nominal_params"] else "-"
        table.add_row(r["id"], nominal, human_count(r["params"]),
                      " ".join(f"{k}={v}" for k, v in r["dims"].items()),
                      " ".join(f"{k}={v}" for k, v in r["knobs"].items()))
    Console().print(table)
