"""MkDocs hooks: fill the generated tables into the pages, and publish the JSON Schemas at /schemas/.

Registered in mkdocs.yml (``hooks: [docs/_ext/hooks.py]``). The tables come from docs_gen, beside this
file; the schema files are the committed schemas/*.schema.json, copied unchanged.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import docs_gen  # noqa: E402


def on_files(files: Any, config: Any, **kwargs: Any) -> Any:
    """Add each schemas/*.schema.json as schemas/NAME in the site (so pages can link to it, checked)."""
    from mkdocs.structure.files import File

    for path in docs_gen.schema_files():
        files.append(File.generated(config, f"schemas/{path.name}", abs_src_path=str(path)))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any, **kwargs: Any) -> str:
    """Replace the page's ``<!-- worldflux:NAME ARG... -->`` lines with the generated Markdown."""
    return docs_gen.expand(markdown)
