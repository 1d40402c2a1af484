#!/usr/bin/env bash
# One command: set up .venv with every extra the tests use, then run the whole test suite.
set -euo pipefail
FASTMED_EXTRAS="test,dicom,augment,cuda,dali,store,bench,annotations,loader,train" . "$(dirname "$0")/env.sh"
exec python -m pytest -q "$@"
