"""`python -m edgeemg` is the `edgeemg` command."""

import sys

from edgeemg.cli import main

sys.exit(main())
