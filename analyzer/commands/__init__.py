"""The commands behind the CLI: each runs the library (analyzer/api.py) over its inputs, writes
data to stdout or --output (analyzer/output.py) and its progress and one-line summary to stderr,
and returns an exit code (analyzer/errors.py). analyzer/cli.py only parses arguments."""
