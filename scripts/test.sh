#!/usr/bin/env bash
# One command: set up .venv with every extra the tests use, then run the whole test suite.
set -euo pipefail
FASTMED_EXTRAS="test,dicom,augment,cuda,dali,store,bench,annotations,loader,train,lightning" . "$(dirname "$0")/env.sh"
# Two pytest-xdist workers (the 2-core machine's both cores; FASTMED_TEST_WORKERS=0 runs in one process). Whole
# files per worker (loadfile): session stores are built once per worker, and module fixtures (the shared MAE run)
# stay in one process; tests/conftest.py puts the longest files first.
exec python -m pytest -q -n "${FASTMED_TEST_WORKERS:-2}" --dist loadfile "$@"
