"""The model card (README.md) of a saved or pushed model. Torch-free."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

_SIZES = {"float32": 4, "float16": 2, "bfloat16": 2}
_PAPERS = {
    "dreamer": ("DreamerV3", "https://arxiv.org/abs/2301.04104", "dreamerv3"),
    "tdmpc2": ("TD-MPC2", "https://arxiv.org/abs/2310.16828", "tdmpc2"),
}


def _value(v: Any) -> str:
    if isinstance(v, (list, tuple)):
        return " × ".join(map(str, v)) if v else "()"
    return json.dumps(v) if isinstance(v, (dict, bool)) else str(v)


def key_dimensions(config: Any) -> list[tuple[str, str]]:
    """(field, value) rows: the observation/action spaces, then every field that sets a tensor shape."""
    values = config.to_dict()
    rows = [("model_type", values["model_type"]), ("model_name", values["model_name"]),
            ("obs_shape", _value(values["obs_shape"])),
            ("action_dim", f"{values['action_dim']} ({values['action_type']})")]
    for f in dataclasses.fields(config):
        if f.metadata.get("architecture") and f.name not in ("obs_shape", "action_dim"):
            rows.append((f.name, _value(values[f.name])))
    rows.append(("dtype", values["dtype"]))
    return rows


def render_card(config: Any, repo_id: str | None = None) -> str:
    """README.md text: YAML front matter (library_name: worldflux, tags), dimensions, parameters, usage."""
    from worldflux_cli.params import count_params, human_count

    family = config.family
    title, paper, tag = _PAPERS.get(family, (config.family_title, "", family))
    counts = count_params(config)
    repo = repo_id or "ORG/NAME"
    folder = repo.split("/")[-1]
    tags = ["world-model", "reinforcement-learning", family] + ([tag] if tag != family else [])
    lines = ["---", "library_name: worldflux", "tags:"]
    lines += [f"- {t}" for t in tags]
    lines += ["---", "", f"# {config.model_name} ({title})", ""]
    intro = f"A {title} world model"
    if paper:
        intro = f"A [{title}]({paper}) world model"
    lines += [f"{intro} saved with [worldflux](https://pypi.org/project/worldflux/): a validated "
              "`config.json` and its weights in `model.safetensors` (safetensors only, no pickle).", ""]
    lines += ["## Key dimensions", "", "| field | value |", "|---|---|"]
    lines += [f"| `{name}` | {value} |" for name, value in key_dimensions(config)]
    lines += ["", "## Parameters", "", "| component | parameters |", "|---|---:|"]
    lines += [f"| {name} | {n:,} |" for name, n in counts.components.items()]
    lines += [f"| **trainable total** | **{counts.trainable:,}** ({human_count(counts.trainable)}) |"]
    for name, n in counts.frozen.items():
        lines += [f"| {name} (EMA copy, not trained by gradients) | {n:,} |"]
    size = counts.total * _SIZES.get(config.dtype, 4)
    lines += ["", f"`model.safetensors` holds the model's full `state_dict`: every parameter, the EMA copies "
              f"included, and the persistent buffers ({counts.total:,} parameters, about "
              f"{size / 1e6:.1f} MB in {config.dtype}), so a loaded model resumes exactly.", ""]
    lines += ["## Usage", "", "```bash", f"worldflux pull {repo} -o {folder}",
              f"worldflux validate {folder}/config.json", f"worldflux bench {folder}/config.json", "```", "",
              "```python", "from worldflux_cli.hub import load_pretrained", "",
              f'model, config = load_pretrained("{repo}")', "```", ""]
    return "\n".join(lines)
