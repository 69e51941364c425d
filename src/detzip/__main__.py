"""``python -m detzip``."""

import sys

from detzip.cli import main

sys.exit(main())
