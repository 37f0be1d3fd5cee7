"""`python -m mesaprobe`."""

import sys

from mesaprobe.cli import main

sys.exit(main())
