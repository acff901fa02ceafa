# Shared by scripts/demo and scripts/test: one virtual environment in .venv with the engine
# installed editable; re-installs only when pyproject.toml changed.
ensure_python_env() {
    local base=${PYTHON:-python3}
    local extras=${1:-}
    if [[ ! -x .venv/bin/python ]]; then
        "$base" -m venv .venv
    fi
    PY=.venv/bin/python
    local stamp=".venv/.installed${extras:+-$extras}"
    if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
        "$PY" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
        "$PY" -m pip install -q --disable-pip-version-check -e ".${extras:+[$extras]}"
        touch "$stamp"
    fi
    export PY
}
