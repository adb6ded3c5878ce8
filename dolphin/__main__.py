"""python -m dolphin: the command line."""

from __future__ import annotations

import sys

from dolphin.cli import main

sys.exit(main())
