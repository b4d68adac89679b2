#!/usr/bin/env python3
"""The access-changes report (see docs/reports.md): `python scripts/report_access_changes.py --help`."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from authledger.reports.run import main

if __name__ == "__main__":
    sys.exit(main("access-changes"))
