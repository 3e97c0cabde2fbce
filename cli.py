"""Thin entry point: `python cli.py ...` behaves exactly like the installed `tls-analyzer`."""

import sys

from analyzer.cli import main

if __name__ == "__main__":
    sys.exit(main())
