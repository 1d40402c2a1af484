"""``python -m fastmed`` runs the command line."""

import sys

from fastmed.cli import main

sys.exit(main())
