# Sourced by the scripts: creates .venv with Python >= 3.11 and installs fieldguide with its test extras.
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "fieldguide needs Python >= 3.11; $PY is $("$PY" --version)" >&2; exit 2; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# --no-compile: pip would byte-compile every installed module (half of a fresh install's 80 s); Python compiles
# the ones it imports, once, on first use
.venv/bin/python -m pip install -q --disable-pip-version-check --no-compile -e '.[test]'
