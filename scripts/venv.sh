#!/usr/bin/env bash
# The project's venv, with no root and no apt: what `make lint` and `make format` need.
# --system-site-packages lets it see Debian's bcc (python3-bpfcc) once setup.sh installed it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    printf 'venv: creating .venv\n' >&2
    /usr/bin/python3 -m venv --system-site-packages .venv
fi
stamp=.venv/.bpftop-installed
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    printf 'venv: installing bpftop into .venv\n' >&2
    .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'
    touch "$stamp"
fi
