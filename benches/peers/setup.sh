#!/usr/bin/env bash
# Installs the peer harness's Python packages (benches/peers/requirements.txt) into
# benches/peers/.venv. Needs python3 with venv (Debian: apt-get install python3-venv) and
# access to PyPI. Several GB (PyTorch's CUDA dependencies); not run by CI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python3 -m venv "$here/.venv"
"$here/.venv/bin/pip" install --upgrade pip
"$here/.venv/bin/pip" install -r "$here/requirements.txt"
"$here/.venv/bin/python" -c 'import numpy, torch, jax, sklearn, matplotlib; print("numpy", numpy.__version__, "torch", torch.__version__, "jax", jax.__version__, "sklearn", sklearn.__version__)'
