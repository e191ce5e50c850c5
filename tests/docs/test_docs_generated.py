"""The generators behind the site's tables (docs/_ext/docs_gen.py) read the code's own sources."""

from __future__ import annotations

import dataclasses
import re
import sys

import pytest

from tests.conftest import ROOT
from worldflux_cli import errors
from worldflux_cli.config import DreamerV3Config, TDMPC2Config, WorldModelConfig
from worldflux_cli.config.presets import presets_of
from worldflux_cli.config.problems import CODES
from worldflux_cli.params import count_params

sys.path.insert(0, str(ROOT / "docs" / "_ext"))
import docs_gen  # noqa: E402

CLASSES = (WorldModelConfig, DreamerV3Config, TDMPC2Config)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_attributes_come_from_the_field_specs(cls):
    """One item per dataclass field, in order, with the field's type hint and its spec description verbatim."""
    section = docs_gen.attributes_section(cls).splitlines()
    assert section[0] == "Attributes:"
    items = section[1:]
    fields = dataclasses.fields(cls)
    assert len(items) == len(fields)
    for item, f in zip(items, fields, strict=True):
        name, type_, rest = re.fullmatch(r" {4}(\w+) \((.+?)\): (.*)", item).groups()
        assert (name, type_) == (f.name, f.type)
        assert rest.startswith(" ".join(f.metadata["description"].split()))


def test_field_facts_state_the_spec():
    tdmpc2 = {f.name: f for f in dataclasses.fields(TDMPC2Config)}
    assert "Range: ≥ 2, ≤ 64." in docs_gen.field_facts(tdmpc2["num_q_networks"])
    assert "Default: `5`." in docs_gen.field_facts(tdmpc2["num_q_networks"])
    assert "Derived: `latent_dim`" in docs_gen.field_facts(tdmpc2["deter_dim"])
    dreamer = {f.name: f for f in dataclasses.fields(DreamerV3Config)}
    assert 'One of `"auto"`, `"cnn"`, `"mlp"`.' in docs_gen.field_facts(dreamer["encoder_type"])
    assert "Fixed for this model family." in docs_gen.field_facts(dreamer["latent_type"])
    assert ("Keys: `reconstruction`, `reward`, `continue`, `kl`, `policy`, `value`, `repval`."
            in docs_gen.field_facts(dreamer["loss_scales"]))


@pytest.mark.parametrize(("family", "cls"), [("dreamer", DreamerV3Config), ("tdmpc2", TDMPC2Config)])
def test_preset_tables_hold_the_counters_numbers(family, cls):
    table = docs_gen.presets_table(family)
    for preset in presets_of(family).values():
        trainable = count_params(cls.from_dict(preset.config_values())).trainable
        row = next(line for line in table.splitlines() if line.startswith(f"| `{preset.id}` |"))
        assert f"({trainable:,})" in row
        for key, value in {**preset.dims, **preset.knobs}.items():
            assert f"`{key}={value}`" in row


def test_problem_codes_and_exit_codes_are_the_codes():
    table = docs_gen.problem_codes_table()
    assert [line.split("`")[1] for line in table.splitlines()[2:]] == list(CODES)
    groups = docs_gen.problem_code_groups()
    assert groups["WF001"] == "the file itself" and groups["WF101"] == "JSON Schema"
    assert [(name, value) for name, value, _ in docs_gen.exit_codes()] == [
        (name, getattr(errors, name)) for name in ("EXIT_OK", "EXIT_INVALID", "EXIT_FAILED", "EXIT_INTERNAL")]


def test_every_placeholder_of_the_pages_expands():
    pages = [p for p in (ROOT / "docs").rglob("*.md") if "_ext" not in p.parts]
    used = set()
    for page in pages:
        text = page.read_text(encoding="utf-8")
        used.update(m.group(1) for m in docs_gen.PLACEHOLDER.finditer(text))
        assert "<!-- worldflux:" not in docs_gen.expand(text), page
    assert used == set(docs_gen.GENERATORS)
    with pytest.raises(KeyError):
        docs_gen.expand("<!-- worldflux:no-such-table -->")


def test_markdown_escaping_keeps_code_spans():
    assert docs_gen.escape_md("a*b_c [x] <y> `k_*|`") == r"a\*b\_c \[x\] &lt;y> `k_*|`"
    assert docs_gen.escape_md("x | y") == r"x \| y"
