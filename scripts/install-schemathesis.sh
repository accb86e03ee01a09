#!/usr/bin/env bash
# Installs schemathesis, the property-based OpenAPI fuzzer `make test` runs
# against a live dais (tests/openapi_conformance.rs), into a Python venv of
# its own. Idempotent: with the pinned version present it prints one line.
# Usage: scripts/install-schemathesis.sh   (prints nothing else on success)
# The venv lives in $DAIS_TOOLS (default ~/.cache/dais); the test looks there.
set -euo pipefail

VERSION=4.32.5
TOOLS="${DAIS_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/dais}"
DIR="$TOOLS/schemathesis-$VERSION"

# The marker is written last: a half-done install is started again.
if [ -f "$DIR/.installed" ] && [ -x "$DIR/bin/schemathesis" ]; then
  echo "install-schemathesis: $VERSION present in $DIR"
  exit 0
fi

if ! python3 -m venv --help >/dev/null 2>&1; then
  echo "install-schemathesis: python3 -m venv is missing; run scripts/install-deps.sh" >&2
  exit 1
fi

echo "install-schemathesis: installing schemathesis $VERSION into $DIR"
rm -rf "$DIR"
mkdir -p "$TOOLS"
python3 -m venv "$DIR"
"$DIR/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$VERSION"
"$DIR/bin/schemathesis" --version
touch "$DIR/.installed"
