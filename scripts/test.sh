#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: the linter, the documentation build, pytest. Extra
# arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/setup.sh
ruff check .
# The documentation site, strict: any warning, broken link or unresolved reference fails. Built into a
# temporary folder (nothing left in the repository); tests/docs/ checks the built pages there.
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
NO_MKDOCS_2_WARNING=1 mkdocs build --strict --site-dir "$site"
WORLDFLUX_DOCS_SITE="$site" python -m pytest -q "$@"
