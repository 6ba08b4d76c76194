# Sourced by the scripts: creates .venv with Python >= 3.11 and installs fieldguide with its test extras.
PY=${PYTHON:-python3}
"$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "fieldguide needs Python >= 3.11; $PY is $("$PY" --version)" >&2; exit 2; }
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test]'
