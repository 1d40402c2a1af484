#!/usr/bin/env bash
# One command: set up .venv and run the main job on the built-in synthetic archive.
set -euo pipefail
FASTMED_EXTRAS="dicom,augment,annotations,store,train" . "$(dirname "$0")/env.sh"
exec fastmed demo "$@"
