"""`python -m matthan.edge` is the `matthan` command."""

import sys

from matthan.edge.cli import main

sys.exit(main())
