# Sourced by scripts/demo.sh and scripts/test.sh: make .venv in the repo and install fastmed into it.
# Usage: FASTMED_EXTRAS="test,dicom" . scripts/env.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON_BIN="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON_BIN" -m venv .venv
fi
# shellcheck disable=SC1091
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first and pinned: an unpinned install (pulled in by monai/torchio) would fetch a multi-GB CUDA build.
if ! python -c "import torch" >/dev/null 2>&1; then
  python -m pip install -q "torch==2.13.0"
fi
python -m pip install -q "setuptools>=68" wheel "pybind11>=2.12"
# Build the extension against this venv (no isolated build env: it would need its own downloads).
python -m pip install -q --no-build-isolation -e ".[${FASTMED_EXTRAS:-dicom,augment}]"
