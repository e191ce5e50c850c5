"""The generated parts of the documentation site, computed from the code at build time.

Every table that states a fact the code already holds is made here, from the one place that
holds it, so that the site cannot drift from the tool:

- the Attributes table of each config class: the field specs (``spec(default, "description", ...)``,
  i.e. each dataclass field's ``metadata``) and the type hints;
- the size-preset tables: presets/*.json through ``worldflux_cli.config.presets`` and the torch-free
  counter ``worldflux_cli.params.count_params`` (the source ``worldflux presets`` uses);
- the CLI reference: the click command behind the Typer app (what ``--help`` prints);
- the problem codes (``worldflux_cli.config.problems.CODES``), the exit codes
  (``worldflux_cli/errors.py``), the bench workloads and GPU peaks (``worldflux_cli.bench``) and
  the schema files (schemas/).

Pages ask for a table with a placeholder line, ``<!-- worldflux:NAME ARG... -->``, which the MkDocs
hook (docs/_ext/hooks.py) replaces through :func:`expand`. The griffe extension
(docs/_ext/griffe_fields.py) adds :func:`class_sections` to the config classes' docstrings. The tests
in tests/docs/ import this module too.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------------------- markdown


_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_MD_SPECIAL = re.compile(r"([\\*_\[\]|])")


def escape_md(text: str) -> str:
    """``text`` as literal Markdown: ``*``, ``_``, ``[``, ``]``, ``|``, ``\\`` and ``<`` escaped outside code spans."""
    out, pos = [], 0
    for match in _CODE_SPAN.finditer(text):
        out.append(_escape_plain(text[pos:match.start()]))
        out.append(match.group(0))
        pos = match.end()
    out.append(_escape_plain(text[pos:]))
    return "".join(out)


def _escape_plain(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text).replace("<", "&lt;")


def code(text: Any) -> str:
    """``text`` as one inline code span (backticks inside are fenced with a longer run)."""
    text = str(text)
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], align: str | None = None) -> str:
    """A Markdown table; cells are Markdown already (``align``: one of l, r, c per column)."""
    align = align or "l" * len(headers)
    marks = {"l": "---", "r": "--:", "c": ":-:"}
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(marks[a] for a in align) + "|"]
    lines += ["| " + " | ".join(cell.replace("\n", " ") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def json_value(value: Any) -> str:
    """A field value as it is written in a config file (JSON)."""
    return json.dumps(_plain(value))


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------- config attributes


def spec_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` declared with ``spec`` (those whose metadata has a description), in order."""
    if not dataclasses.is_dataclass(cls):
        return []
    return [f for f in dataclasses.fields(cls) if "description" in f.metadata]


#: The spec facts field_facts renders; a fact it does not know fails the build instead of going missing.
KNOWN_FACTS = {"description", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "enum", "pattern",
               "minItems", "maxItems", "item_minimum", "item_maximum", "keys", "derived", "const", "architecture"}


def field_facts(f: dataclasses.Field) -> str:
    """What a field's spec says besides its description: default, range, allowed values, derivation."""
    from worldflux_cli.config.fields import field_default

    meta, facts = f.metadata, []
    unknown = sorted(k for k, v in meta.items() if k not in KNOWN_FACTS and v not in (None, False))
    if unknown:
        raise ValueError(f"field {f.name}: spec facts {unknown} are not rendered; teach docs_gen.field_facts")
    if meta.get("derived"):
        facts.append(f"Derived: {code(meta['derived'])}, filled in when absent; when given it must agree.")
    else:
        facts.append(f"Default: {code(json_value(field_default(f)))}.")
    if meta.get("const"):
        facts.append("Fixed for this model family.")
    bounds = []
    for key, sign in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"), ("exclusiveMaximum", "<")):
        if meta.get(key) is not None:
            bounds.append(f"{sign} {_number(meta[key])}")
    if bounds:
        facts.append("Range: " + ", ".join(bounds) + ".")
    enum_values = meta.get("enum")
    if enum_values and not (meta.get("const") and len(enum_values) == 1):
        facts.append("One of " + ", ".join(code(json.dumps(v)) for v in enum_values) + ".")
    if meta.get("minItems") is not None or meta.get("maxItems") is not None:
        lo, hi = meta.get("minItems"), meta.get("maxItems")
        items = (f"{lo} to {hi} items" if lo is not None and hi is not None
                 else f"at least {lo} items" if lo is not None else f"at most {hi} items")
        each = [f"{sign} {meta[key]}" for key, sign in (("item_minimum", "≥"), ("item_maximum", "≤"))
                if meta.get(key) is not None]
        if each:
            items += ", each " + " and ".join(each)
        facts.append(items[0].upper() + items[1:] + ".")
    if meta.get("keys"):
        facts.append("Keys: " + ", ".join(code(k) for k in meta["keys"]) + ".")
    if meta.get("pattern"):
        facts.append(f"Pattern: {code(meta['pattern'])}.")
    if meta.get("architecture"):
        facts.append("Changes the model's shapes.")
    return " ".join(facts)


def field_type(f: dataclasses.Field) -> str:
    """The field's type hint as written in the class (``int | None``, ``tuple[int, ...]``, ``LatentType``)."""
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", repr(f.type))


def attributes_section(cls: type) -> str:
    """A Google-style ``Attributes:`` section for ``cls``: one item per spec field, with its type hint.

    The description is the spec's, followed by the facts of :func:`field_facts`; nothing is written
    twice in the source.
    """
    lines = ["Attributes:"]
    for f in spec_fields(cls):
        text = " ".join(f.metadata["description"].split())
        lines.append(f"    {f.name} ({field_type(f)}): {text} {field_facts(f)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- presets


@dataclasses.dataclass(frozen=True)
class PresetRow:
    """One preset with its real trainable count at its reference shapes."""

    preset: Any  # worldflux_cli.config.presets.Preset
    trainable: int
    frozen: int


def preset_rows(family: str) -> list[PresetRow]:
    """Every preset of ``family`` with the counter's trainable and frozen counts (as `worldflux presets`)."""
    from worldflux_cli.config.presets import presets_of
    from worldflux_cli.config.registry import FAMILIES
    from worldflux_cli.params import count_params

    rows = []
    for p in presets_of(family).values():
        counts = count_params(FAMILIES[family].from_dict(p.config_values()))
        rows.append(PresetRow(p, counts.trainable, counts.frozen_total))
    return rows


def _human(n: int) -> str:
    from worldflux_cli.params import human_count

    return human_count(n)


def _count(n: int) -> str:
    return f"{_human(n)} ({n:,})"


def _reference_text(reference: dict[str, Any]) -> str:
    return ", ".join(f"{code(k)} = {code(json_value(v))}" for k, v in reference.items())


def presets_table(family: str) -> str:
    """The presets of ``family``: nominal size, real trainable count, how far off, and what each fixes."""
    rows = preset_rows(family)
    if not rows:
        return f"No size presets for `{family}`."
    references = {json.dumps(r.preset.reference, sort_keys=True) for r in rows}
    headers = ["preset", "nominal", "trainable", "off by", "what it fixes: dimensions, then calibrated knobs"]
    if len(references) > 1:
        headers.append("reference shapes")
    body = []
    for r in rows:
        p = r.preset
        nominal = p.nominal_params
        cells = [code(p.id), _human(nominal) if nominal else "–", _count(r.trainable),
                 f"{r.trainable / nominal - 1:+.2%}" if nominal else "–",
                 _assignments(p.dims) + (f"<br>{_assignments(p.knobs)}" if p.knobs else "")]
        if len(references) > 1:
            cells.append(_reference_text(p.reference))
        body.append(cells)
    text = table(headers, body, "lrrrl" + "l" * (len(headers) - 5))
    if len(references) == 1:
        text = f"Counted at the reference shapes {_reference_text(rows[0].preset.reference)}.\n\n" + text
    return text


def _assignments(values: dict[str, Any]) -> str:
    return " ".join(code(f"{k}={json_value(v)}") for k, v in values.items()) or "–"


def presets_notes(family: str) -> str:
    """Each preset's note from presets/<family>.json: why its knobs have the values they have."""
    return "\n".join(f"- {code(r.preset.id)}: {escape_md(r.preset.note)}" for r in preset_rows(family)
                     if r.preset.note)


def presets_section(cls: type) -> str:
    """A ``Size presets:`` admonition for a config class's docstring ("" when the family has none)."""
    from worldflux_cli.config.names import MODEL_FAMILIES
    from worldflux_cli.config.presets import presets_of

    family = getattr(cls, "family", None)
    if family not in MODEL_FAMILIES or not presets_of(family):
        return ""
    body = (f"Use them with `{cls.__name__}.from_size(NAME)` or `worldflux new --size NAME`. Trainable "
            "counts come from the torch-free counter (tests hold it equal to the built model); EMA copies "
            "are not trainable and not counted.\n\n" + presets_table(family))
    return "Size presets:\n" + "\n".join(f"    {line}" if line else "" for line in body.splitlines())


def class_sections(cls: type) -> str:
    """The generated docstring sections of a config class: its size presets and its Attributes."""
    return "\n\n".join(s for s in (presets_section(cls), attributes_section(cls)) if s)


# ----------------------------------------------------------------------- problems and exit codes

def problem_code_groups() -> dict[str, str]:
    """Code -> the group it is listed under: the comment above it in ``CODES`` (worldflux_cli/config/problems.py)."""
    import worldflux_cli.config.problems as problems

    source = Path(problems.__file__).read_text(encoding="utf-8")
    body = source[source.index("CODES: dict[str, str] = {"):]
    groups, group = {}, ""
    for line in body.splitlines()[1:]:
        line = line.strip()
        if line.startswith("}"):
            break
        if line.startswith("#"):
            group = line.lstrip("# ").strip()
        elif line.startswith('"WF'):
            groups[line.split('"')[1]] = group
    if list(groups) != list(problems.CODES):  # the text read must be the module's list
        raise RuntimeError(f"could not read the groups of CODES from {problems.__file__}")
    return groups


def problem_codes_table() -> str:
    """Every problem code of ``worldflux_cli.config.problems.CODES``, with the group it is listed under."""
    from worldflux_cli.config.problems import CODES

    groups = problem_code_groups()
    rows = [[code(c), escape_md(text), escape_md(groups[c])] for c, text in CODES.items()]
    return table(["code", "meaning", "group"], rows)


_EXIT_LINE = re.compile(r"^(EXIT_\w+)\s*=\s*(\d+)\s*#:\s*(.+)$", re.M)


def exit_codes() -> list[tuple[str, int, str]]:
    """(name, value, meaning) of each exit code, read from worldflux_cli/errors.py where they are defined."""
    import worldflux_cli.errors as errors

    source = Path(errors.__file__).read_text(encoding="utf-8")
    found = [(name, int(value), meaning.strip()) for name, value, meaning in _EXIT_LINE.findall(source)]
    for name, value, _ in found:  # the text read must be the module's values
        if getattr(errors, name) != value:
            raise RuntimeError(f"{name} in {errors.__file__} is {getattr(errors, name)}, not {value}")
    if not found:
        raise RuntimeError(f"no exit codes found in {errors.__file__}")
    return found


def exit_codes_table() -> str:
    rows = [[code(value), escape_md(meaning), code(f"worldflux_cli.errors.{name}")]
            for name, value, meaning in exit_codes()]
    return table(["exit code", "meaning", "constant"], rows)


# ---------------------------------------------------------------------------------------- bench


def workloads_table() -> str:
    """What one step of each bench workload includes (the text every bench result records)."""
    from worldflux_cli.bench.workloads import DEFAULT_BATCH, DEFAULT_SEQ, DEFAULT_WORKLOADS, FAMILY_TITLE, INCLUDES

    rows = []
    for (family, name), includes in INCLUDES.items():
        default = "yes" if name in DEFAULT_WORKLOADS[family] else "no"
        batch = f"B = {DEFAULT_BATCH[(family, name)]}"
        if family in DEFAULT_SEQ:
            batch += f", T = {DEFAULT_SEQ[family]}"
        rows.append([FAMILY_TITLE[family], code(name), escape_md(includes), default, batch])
    return table(["family", "workload", "one step =", "run by default", "default batch"], rows)


def gpu_peaks_table() -> str:
    """The dense peak TFLOP/s the utilisation column divides by, per known GPU and dtype."""
    from worldflux_cli.bench.devices import PEAK_TFLOPS

    dtypes = list(dict.fromkeys(d for peaks in PEAK_TFLOPS.values() for d in peaks))
    rows = [[gpu, *(_number(peaks[d]) if d in peaks else "–" for d in dtypes)] for gpu, peaks in PEAK_TFLOPS.items()]
    return table(["GPU", *map(code, dtypes)], rows, "l" + "r" * len(dtypes))


# -------------------------------------------------------------------------------------- schemas


def schema_files() -> list[Path]:
    """The committed JSON Schema files (schemas/*.schema.json), published under /schemas/ in the site."""
    from worldflux_cli.paths import data_dir

    return sorted(data_dir("schemas").glob("*.schema.json"))


def schemas_table(prefix: str = "../schemas/") -> str:
    rows = []
    for path in schema_files():
        schema = json.loads(path.read_text(encoding="utf-8"))
        name = path.name.removesuffix(".schema.json")
        rows.append([code(name), f"[`/schemas/{path.name}`]({prefix}{path.name})", code(schema.get("$id", "")),
                     escape_md(schema.get("title", "")),
                     str(sum(1 for key in schema.get("properties", {}) if key != "$schema"))])
    return table(["schema", "file in this site", "`$id`", "title", "fields"], rows)


# ------------------------------------------------------------------------------------------ CLI


@dataclasses.dataclass(frozen=True)
class ParamDoc:
    """One argument or option as the click command declares it."""

    kind: str  # "argument" | "option"
    names: tuple[str, ...]
    type: str
    default: str | None
    required: bool
    help: str


@dataclasses.dataclass(frozen=True)
class CommandDoc:
    """One command of the CLI: its name, panel, usage, help text and parameters."""

    path: str  # "worldflux new"
    panel: str | None
    usage: str
    help: str
    params: tuple[ParamDoc, ...]


def root_command() -> Any:
    """The click command behind ``worldflux`` (typer.main.get_command of the Typer app)."""
    import typer.main

    from worldflux_cli.cli.app import app

    return typer.main.get_command(app)


def cli_commands() -> list[CommandDoc]:
    """The root command and every subcommand, in the order ``worldflux --help`` lists them."""
    root = root_command()
    root_ctx = _context(root, "worldflux", None)
    docs = [_command_doc(root, root_ctx, None)]
    for name in root.list_commands(root_ctx):
        cmd = root.get_command(root_ctx, name)
        if cmd is None or cmd.hidden:
            continue
        docs.append(_command_doc(cmd, _context(cmd, name, root_ctx), getattr(cmd, "rich_help_panel", None)))
    return docs


def _context(cmd: Any, name: str, parent: Any) -> Any:
    """The context ``--help`` renders in: the command's own settings (``help_option_names``, ...)."""
    return cmd.context_class(cmd, info_name=name, parent=parent, **cmd.context_settings)


def shown(text: str, markup_mode: str | None) -> str:
    """``text`` as ``--help`` displays it: Typer's "rich" markup mode reads ``[...]`` as Rich markup."""
    if markup_mode == "rich" and "[" in text:
        from rich.text import Text

        return Text.from_markup(text).plain
    return text


def _command_doc(cmd: Any, ctx: Any, panel: str | None) -> CommandDoc:
    mode = getattr(cmd, "rich_markup_mode", None)
    params = tuple(_param_doc(p, ctx, mode) for p in cmd.get_params(ctx) if not getattr(p, "hidden", False))
    help_text = "\n\n".join(shown(p, mode) for p in inspect.cleandoc(cmd.help or "").split("\n\n"))
    return CommandDoc(path=ctx.command_path, panel=panel,
                      usage=" ".join([ctx.command_path, *cmd.collect_usage_pieces(ctx)]),
                      help=help_text, params=params)


def _param_doc(param: Any, ctx: Any, markup_mode: str | None) -> ParamDoc:
    if param.param_type_name == "argument":
        metavar = param.type.get_metavar(param=param, ctx=ctx) or f"<{param.type.name}>"
    else:
        metavar = param.make_metavar(ctx=ctx)
    if "bool" in metavar.lower():  # flags: --help shows no type
        metavar = ""
    describe = getattr(param.type, "_describe_range", None)
    if describe and param.param_type_name == "option" and describe():
        metavar += f" [{describe()}]"
    names = sorted((*param.opts, *param.secondary_opts), key=lambda n: not n.startswith("--"))  # long first
    return ParamDoc(kind=param.param_type_name, names=tuple(names), type=metavar,
                    default=_default_text(param, ctx), required=bool(param.required),
                    help=" ".join(shown(getattr(param, "help", None) or "", markup_mode).split()))


def _default_text(param: Any, ctx: Any) -> str | None:
    """The default as ``--help`` shows it (Typer's own rendering), or None when it shows none."""
    extract = getattr(param, "_extract_default_help_str", None)
    render = getattr(param, "_get_default_string", None)
    show_is_str = isinstance(getattr(param, "show_default", None), str)
    if extract is None or render is None:  # not a Typer parameter: click's rule
        if show_is_str:
            return param.show_default
        return None if param.default is None or not param.show_default else str(param.default)
    value = extract(ctx=ctx)
    if not (show_is_str or (value is not None and (param.show_default or ctx.show_default))):
        return None
    return render(ctx=ctx, show_default_is_str=show_is_str, default_value=value) or None


def split_help(text: str) -> tuple[list[str], list[str]]:
    """A command's help text -> (prose paragraphs with line breaks joined, example command lines)."""
    text = inspect.cleandoc(text).partition("\f")[0]
    prose, _, examples = text.partition("\nExamples:\n")
    if prose.rstrip().endswith("Examples:"):
        prose, examples = prose.rstrip().removesuffix("Examples:"), ""
    paragraphs = [" ".join(p.split()) for p in prose.split("\n\n") if p.strip()]
    return paragraphs, [line.strip() for line in examples.splitlines() if line.strip()]


def _anchor(path: str) -> str:
    return path.replace(" ", "-")


def cli_reference() -> str:
    """The CLI reference: an index of the commands, then each command's help, usage, parameters, examples."""
    commands = cli_commands()
    root, subs = commands[0], commands[1:]
    out = ["Generated at build time from the click command behind the Typer app, so it says what "
           "`worldflux COMMAND --help` says.", ""]
    panels: dict[str, list[CommandDoc]] = {}
    for c in subs:
        panels.setdefault(c.panel or "Commands", []).append(c)
    index = [[f"[{code(c.path)}](#{_anchor(c.path)})", panel, escape_md(split_help(c.help)[0][0])]
             for panel, cs in panels.items() for c in cs]
    out += [table(["command", "group", "what it does"], index), ""]
    for c in [root, *subs]:
        out += _command_section(c)
    return "\n".join(out)


def _command_section(c: CommandDoc) -> list[str]:
    paragraphs, examples = split_help(c.help)
    out = [f"## {c.path} {{ #{_anchor(c.path)} }}", ""]
    out += [f"{escape_md(p)}\n" for p in paragraphs]
    out += [f"**Usage:** {code(c.usage)}", ""]
    for kind, title in (("argument", "Arguments"), ("option", "Options")):
        params = [p for p in c.params if p.kind == kind]
        if not params:
            continue
        rows = [[", ".join(code(n) for n in p.names), code(p.type) if p.type else "",
                 "required" if p.required else (code(p.default) if p.default else ""), escape_md(p.help)]
                for p in params]
        out += [f"**{title}**", "", table([title[:-1].lower(), "type", "default", "description"], rows), ""]
    if examples:
        out += ["**Examples**", "", "```bash", *examples, "```", ""]
    return out


# --------------------------------------------------------------------------------- placeholders

GENERATORS: dict[str, Callable[..., str]] = {
    "cli-reference": cli_reference,
    "presets": presets_table,
    "preset-notes": presets_notes,
    "problem-codes": problem_codes_table,
    "exit-codes": exit_codes_table,
    "bench-workloads": workloads_table,
    "gpu-peaks": gpu_peaks_table,
    "schemas": schemas_table,
}

PLACEHOLDER = re.compile(r"^<!-- worldflux:([\w-]+)((?: [^ >]+)*) -->$", re.M)


def expand(markdown: str) -> str:
    """Replace every ``<!-- worldflux:NAME ARG... -->`` line of a page with what GENERATORS[NAME](*ARGS) makes."""

    def one(match: re.Match) -> str:
        name, args = match.group(1), match.group(2).split()
        if name not in GENERATORS:
            raise KeyError(f"unknown docs generator {name!r} (known: {', '.join(GENERATORS)})")
        return GENERATORS[name](*args)

    return PLACEHOLDER.sub(one, markdown)
