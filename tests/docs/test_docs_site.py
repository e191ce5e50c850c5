"""The built site: every field, preset and method of the config classes on the Config API page, the CLI
reference, the generated tables, the schemas at /schemas/, and nothing fetched from the internet.

scripts/test.sh builds the site once with ``mkdocs build --strict`` and passes its folder in
WORLDFLUX_DOCS_SITE; run alone, these tests build it themselves (skipped only when the docs extra,
``pip install -e ".[docs]"``, is not installed).
"""

from __future__ import annotations

import dataclasses
import html
import importlib.util
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from worldflux_cli.config import ConfigurationError, DreamerV3Config, DynamicsType, LatentType, TDMPC2Config
from worldflux_cli.config import WorldModelConfig as Base
from worldflux_cli.config.presets import presets_of
from worldflux_cli.config.problems import CODES
from worldflux_cli.params import count_params

CONFIG_CLASSES = (Base, DreamerV3Config, TDMPC2Config)
PAGE_OBJECTS = (*CONFIG_CLASSES, LatentType, DynamicsType, ConfigurationError)


@pytest.fixture(scope="module")
def site() -> Path:
    given = os.environ.get("WORLDFLUX_DOCS_SITE")
    if given and (Path(given) / "index.html").is_file():
        return Path(given)
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("the docs extra is not installed (pip install -e '.[docs]')")
    import tempfile

    out = Path(tempfile.mkdtemp(prefix="worldflux-site-"))
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"}, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


def _text(fragment: str) -> str:
    """Visible text of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _page(site: Path, name: str) -> str:
    return (site / name / "index.html").read_text(encoding="utf-8")


def _sections(page: str) -> dict[str, str]:
    """The Config API page split at each documented object's heading: class name -> its HTML."""
    starts = sorted((page.index(f'id="worldflux_cli.config.{cls.__name__}"'), cls.__name__) for cls in PAGE_OBJECTS)
    bounds = [*(s for s, _ in starts[1:]), len(page)]
    return {name: page[start:end] for (start, name), end in zip(starts, bounds, strict=True)}


def _public_methods(cls: type) -> list[str]:
    return [name for name, member in inspect.getmembers(cls) if not name.startswith("_")
            and (inspect.isfunction(member) or inspect.ismethod(member))
            and member.__module__.startswith("worldflux_cli")]


@pytest.fixture(scope="module")
def config_sections(site: Path) -> dict[str, str]:
    return _sections(_page(site, "reference/config"))


@pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda c: c.__name__)
def test_every_attribute_is_in_its_class_table(config_sections, cls):
    """Each field: a row of the class's Attributes table, with its type hint and its spec's description."""
    section = config_sections[cls.__name__]
    table = section[section.index(">Attributes:<"):]
    text = _text(table)
    for f in dataclasses.fields(cls):
        assert f'title="worldflux_cli.config.{cls.__name__}.{f.name}">{f.name}</span>' in table, f.name
        assert " ".join(f.metadata["description"].split()) in text, f.name
    assert _text(table).count("Default:") + _text(table).count("Derived:") >= len(dataclasses.fields(cls))


@pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda c: c.__name__)
def test_every_preset_with_its_real_count(config_sections, cls):
    text = _text(config_sections[cls.__name__])
    presets = presets_of(cls.family)
    if cls is Base:
        assert not presets and "Size presets" not in text
        return
    assert presets and "Size presets" in text
    for preset in presets.values():
        trainable = count_params(cls.from_dict(preset.config_values())).trainable
        assert f"{preset.id} " in text and f"{trainable:,}" in text, preset.id
        for value in preset.dims.values():
            assert str(value) in text


@pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda c: c.__name__)
def test_every_method_with_its_sections(config_sections, cls):
    section = config_sections[cls.__name__]
    methods = _public_methods(cls)
    assert {"to_dict", "from_dict", "save", "load", "from_size", "field_names"} <= set(methods)
    for name in methods:
        start = section.index(f'id="worldflux_cli.config.{cls.__name__}.{name}"')
        nxt = [section.find(f'id="worldflux_cli.config.{cls.__name__}.{m}"', start + 1) for m in methods]
        end = min([i for i in nxt if i > start] or [len(section)])
        body = _text(section[start:end])
        params = [p for p in inspect.signature(getattr(cls, name)).parameters if p not in ("self", "cls")]
        if params:
            assert "Parameters:" in body, name
        assert "Returns:" in body or name == "save", name
    for name in ("from_dict", "load", "from_size", "save"):
        start = section.index(f'id="worldflux_cli.config.{cls.__name__}.{name}"')
        assert "Raises:" in _text(section[start:start + 20000]), name


def test_enums_and_the_error(config_sections):
    for enum_cls in (LatentType, DynamicsType):
        text = _text(config_sections[enum_cls.__name__])
        for member in enum_cls:
            assert member.name in text and member.value in text
    error = _text(config_sections["ConfigurationError"])
    assert "problems" in error and "Parameters:" in error


def test_cli_reference_lists_every_option(site: Path):
    import typer.main

    from worldflux_cli.cli.app import app

    text = _text(_page(site, "reference/cli"))
    root = typer.main.get_command(app)
    for name, cmd in root.commands.items():
        assert f"worldflux {name}" in text
        for param in cmd.params:
            for opt in param.opts:
                assert opt in text, (name, opt)


def test_generated_guide_tables(site: Path):
    codes = _text(_page(site, "guides/problem-codes"))
    for code, meaning in CODES.items():
        assert f"{code} {meaning}" in codes
    presets = _text(_page(site, "guides/presets"))
    for family in ("dreamer", "tdmpc2"):
        for preset in presets_of(family).values():
            cls = {"dreamer": DreamerV3Config, "tdmpc2": TDMPC2Config}[family]
            assert f"{count_params(cls.from_dict(preset.config_values())).trainable:,}" in presets, preset.id
    quickstart = _text(_page(site, "guides/quickstart"))
    assert "worldflux_cli.errors.EXIT_INTERNAL" in quickstart


def test_schemas_are_published_unchanged(site: Path):
    committed = sorted((ROOT / "schemas").glob("*.schema.json"))
    assert committed
    for path in committed:
        assert (site / "schemas" / path.name).read_bytes() == path.read_bytes()


def test_nothing_is_fetched_and_only_what_exists_is_documented(site: Path):
    import worldflux_cli.config

    pages = list(site.rglob("*.html"))
    assert len(pages) >= 10
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "fonts.googleapis.com" not in text and "fonts.gstatic.com" not in text, page
        if "TrainingConfig" not in worldflux_cli.config.__all__:  # no promise of an API that is not there
            assert "TrainingConfig" not in text, page
