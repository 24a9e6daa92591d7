"""`python -m playground.jobs list` / `stop RUN... | stop --all` (playground.jobs.cli)."""

import sys

from playground.jobs.cli import main

sys.exit(main())
