"""`tls-analyzer batch`: many captures to Parquet tables, one Dask task per capture.

Layout: `adapter` (the one place that asks the analyzer for a capture's JSON), `rows` (that JSON
to table rows, pure), `columns` (the tables' columns: names, types, meanings), `parts` (Parquet
part files published atomically), `task` (one capture, run on a worker), `driver` (inputs,
cluster, retries, resume), `progress` (the stderr bar or summary line).

dask, distributed and pyarrow come with the `batch` extra; nothing outside this package imports
them, and `require` turns their absence into a one-line error (exit 3).
"""

from __future__ import annotations

import importlib

from analyzer.errors import BackendUnavailable

NEEDED = ("dask", "distributed", "pyarrow")
INSTALL_HINT = "install them with: pip install 'tls-analyzer[batch]'"


def require() -> None:
    """Raise BackendUnavailable (exit 3) naming what `batch` needs and is not installed."""
    missing = []
    for name in NEEDED:
        try:
            importlib.import_module(name)
        except ImportError:  # absent, or installed broken: the same remedy
            missing.append(name)
    if missing:
        raise BackendUnavailable(f"batch needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} "
                                 "not installed", INSTALL_HINT)
