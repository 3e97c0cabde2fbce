"""Thin entry point: `python cli.py ...` behaves exactly like the installed `tls-analyzer`."""

from analyzer.cli import run

if __name__ == "__main__":
    run()
