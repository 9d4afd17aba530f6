"""`python -m invariance_lab` runs the `invariance-lab` command."""

import sys

from .cli import main

sys.exit(main())
