"""The documentation's examples run: every ```python and ```bash block of docs/, and the docstring examples.

Conventions in docs/*.md (an HTML comment on the line before a fenced block, invisible on the site):

- every ```python block runs in a subprocess, every ```bash block line by line in bash (``worldflux``
  is the installed command), in one fresh folder per page, in page order; each must exit 0, except a
  bash line whose comment says ``# exits N``;
- ``<!-- docs-test: skip REASON -->``: not run (it needs the Hub, a GPU, or the reader's set-up);
- ``<!-- docs-test: file NAME -->``: the block is written to NAME in the page's folder (for later blocks);
- ``<!-- docs-test: output -->``: the block must equal what the previous block printed;
- every ```json block must parse, and every ```yaml block too (when PyYAML is installed).

Nothing here reaches the network: HF_HUB_OFFLINE=1 and a private HOME / HF_HOME; examples that
talk to the Hub are marked skip.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_ext" not in p.relative_to(DOCS).parts)
RUNNABLE = ("python", "bash")
MARKER = re.compile(r"^<!-- docs-test: (skip|file|output)\b ?(.*?) ?-->$")
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
EXITS = re.compile(r"#\s*exits (\d+)\b")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    marker: str | None = None  # skip | file | output
    arg: str = ""

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks_of(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, each with the docs-test marker on the line before it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, fence = len(match["indent"]), match["fence"]
        lang = (match["info"].strip().split() or [""])[0].lstrip(".").lower()
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][indent:] if lines[j][:indent].strip() == "" else lines[j])
            j += 1
        previous = next((lines[k].strip() for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        block = Block(page, i + 1, lang, "\n".join(body) + "\n")
        marker = MARKER.match(previous)
        if marker:
            block.marker, block.arg = marker.group(1), marker.group(2).strip()
        elif previous.startswith("<!-- docs-test"):
            raise AssertionError(f"{block.where()}: unknown marker {previous!r}")
        out.append(block)
        i = j + 1
    return out


def _env(home: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "HF_HOME": str(home / "hf"),
            "HF_HUB_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "120", "PYTHONPATH": str(ROOT),
            "PYTHON": sys.executable, "LANG": "C.UTF-8"}


def run_python(code: str, cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    script = cwd / "_example.py"
    script.write_text(code, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    script.unlink()
    return proc.returncode, proc.stdout + proc.stderr


def run_bash(code: str, cwd: Path, env: dict[str, str]) -> list[tuple[str, int, str]]:
    """Each command line of ``code`` in one bash process: (line, exit code, stdout) for each."""
    lines = [line for line in code.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    prelude = 'command -v worldflux >/dev/null || worldflux() { "$PYTHON" -m worldflux_cli "$@"; }\n'
    script = prelude + "".join(f"{line}\necho \"@@rc $? {i}\"\n" for i, line in enumerate(lines))
    proc = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    results, rest = [], proc.stdout
    for i, line in enumerate(lines):
        before, _, rest = rest.partition("@@rc ")
        code_index, _, rest = rest.partition("\n")
        rc, index = map(int, code_index.split())
        assert index == i, proc.stdout
        results.append((line, rc, before))
    results.append(("stderr", 0, proc.stderr))  # kept for failure messages
    return results


def check_page(page: Path, tmp_path: Path) -> None:
    """Run the page's examples in page order, in one fresh folder, as a reader would (AssertionError on failure)."""
    env = _env(tmp_path)
    cwd = tmp_path / "work"
    cwd.mkdir()
    last_output: str | None = None
    for block in blocks_of(page):
        if block.marker == "skip":
            assert block.arg, f"{block.where()}: a skipped block needs a reason"
            continue
        if block.marker == "file":
            assert re.fullmatch(r"[\w.-]+", block.arg), f"{block.where()}: bad file name {block.arg!r}"
            (cwd / block.arg).write_text(block.code, encoding="utf-8")
        if block.marker == "output":
            assert last_output is not None, f"{block.where()}: no block ran before this output"
            assert last_output.rstrip() == block.code.rstrip(), f"{block.where()}: the output differs:\n{last_output}"
            continue
        if block.lang == "json":
            json.loads(block.code)
        elif block.lang == "yaml":
            try:
                import yaml
            except ImportError:  # PyYAML comes with the docs extra; without it only this check is left out
                continue
            yaml.safe_load(block.code)
        elif block.lang == "python":
            rc, output = run_python(block.code, cwd, env)
            assert rc == 0, f"{block.where()}: exit code {rc}\n{output}"
            last_output = output
        elif block.lang == "bash":
            results = run_bash(block.code, cwd, env)
            stderr = results.pop()[2]
            for line, rc, output in results:
                want = EXITS.search(line)
                expected = int(want.group(1)) if want else 0
                assert rc == expected, f"{block.where()}: {line!r} exited {rc}, not {expected}\n{output}\n{stderr}"
            last_output = results[-1][2] if results else ""


def _outcome(job, *args) -> str | None:
    """None when ``job(*args)`` passes, else its failure as text."""
    import traceback

    try:
        job(*args)
    except AssertionError as exc:
        return str(exc)
    except Exception:  # a broken collector fails its own test, not every test of the module
        return traceback.format_exc()
    return None


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str | None]:
    """Every page's examples and the docstring examples, run at once on a few workers (each in its own
    processes and folders), so the whole check stays fast: page name (or "docstrings") -> failure or None."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = {str(p.relative_to(DOCS)): (check_page, p) for p in PAGES}
    jobs["docstrings"] = (check_docstring_examples,)
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2))) as pool:
        futures = {name: pool.submit(_outcome, job[0], *job[1:], tmp_path_factory.mktemp("docs"))
                   for name, job in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(DOCS)) for p in PAGES])
def test_page_examples_run(page: Path, outcomes: dict[str, str | None]) -> None:
    """The page's python and bash blocks run (see the module docstring for the conventions)."""
    failure = outcomes[str(page.relative_to(DOCS))]
    assert failure is None, failure


def test_the_conventions_are_in_use() -> None:
    """The collector finds the pages' examples: many run, each skip has a reason, outputs follow a run."""
    blocks = [b for page in PAGES for b in blocks_of(page)]
    run = [b for b in blocks if b.lang in RUNNABLE and b.marker != "skip"]
    assert len(run) >= 15, [b.where() for b in run]
    assert {b.lang for b in run} == {"python", "bash"}
    assert all(b.arg for b in blocks if b.marker == "skip")
    hub = [b for b in blocks if b.lang == "bash" and re.search(r"worldflux (push|pull)\b", b.code)]
    assert hub and all(b.marker == "skip" for b in hub), "Hub examples must not run"


# ----------------------------------------------------------------------------- docstring examples

API_PAGES = sorted((DOCS / "reference").glob("*.md"))
DIRECTIVE = re.compile(r"^::: ([\w.]+)[ \t]*\n((?:[ \t]+\S.*\n)*)", re.M)
MEMBERS = re.compile(r"^\s+members: \[([\w, ]*)\]", re.M)
PY_FENCE = re.compile(r"^( *)```python\n(.*?)^\1```", re.M | re.S)


def documented_objects() -> list[str]:
    """The import paths of the objects the API pages render: each ``::: path``, and for a module rendered
    with ``members: [...]``, those members."""
    paths = []
    for page in API_PAGES:
        for match in DIRECTIVE.finditer(page.read_text(encoding="utf-8")):
            paths.append(match.group(1))
            members = MEMBERS.search(match.group(2))
            if members:
                paths += [f"{match.group(1)}.{m.strip()}" for m in members.group(1).split(",") if m.strip()]
    return paths


def _resolve(path: str):
    """The object at an import path: a module, or an attribute of one."""
    import importlib

    try:
        return importlib.import_module(path)
    except ModuleNotFoundError:
        module_name, _, name = path.rpartition(".")
        return getattr(importlib.import_module(module_name), name)


def _docstring_examples() -> list[tuple[str, str]]:
    """(object path, code) of every ```python block in the docstrings of the documented objects and their
    public members (worldflux's own, inherited ones included)."""
    import inspect

    examples, seen = [], set()
    for path in documented_objects():
        obj = _resolve(path)
        members = [(path, obj)]
        if inspect.isclass(obj):
            for attr in dir(obj):
                member = inspect.getattr_static(obj, attr)
                func = getattr(member, "__func__", member)
                if attr.startswith("_") or not callable(func):
                    continue
                if (getattr(func, "__module__", None) or "").startswith("worldflux_cli"):
                    members.append((f"{path}.{attr}", func))
        for where, member in members:
            doc = inspect.getdoc(member) or ""
            for _, code in PY_FENCE.findall(doc):
                if (where.rpartition(".")[2], code) not in seen:  # an inherited docstring is run once
                    seen.add((where.rpartition(".")[2], code))
                    examples.append((where, textwrap.dedent(code)))
    return examples


DRIVER = """
import json, os, sys, tempfile, traceback
failures = []
for where, code in json.load(open(sys.argv[1])):
    os.chdir(tempfile.mkdtemp(dir=sys.argv[2]))
    try:
        exec(compile(code, where, "exec"), {"__name__": "__main__"})
    except BaseException:
        failures.append(where + "\\n" + traceback.format_exc())
print(json.dumps(failures))
"""


def test_docstring_examples_run(outcomes: dict[str, str | None]) -> None:
    """The ```python examples of the rendered docstrings run, each in its own fresh folder (one process)."""
    assert outcomes["docstrings"] is None, outcomes["docstrings"]


def check_docstring_examples(tmp_path: Path) -> None:
    """Run every docstring example in one subprocess (torch is imported once), each in a fresh folder."""
    examples = _docstring_examples()
    wheres = {w for w, _ in examples}
    for name in ("WorldModelConfig", "DreamerV3Config", "TDMPC2Config", "ConfigurationError", "build_model",
                 "save_pretrained", "from_size", "from_dict"):
        assert any(w.endswith(name) for w in wheres), f"no docstring example for {name}: {sorted(wheres)}"
    (tmp_path / "examples.json").write_text(json.dumps(examples), encoding="utf-8")
    env = _env(tmp_path)
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(tmp_path / "examples.json"), str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    failures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not failures, "\n\n".join(failures)
