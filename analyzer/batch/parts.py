"""Parquet part files: one per table and capture, named by the capture's content hash.

A part is written in row groups to a hidden temporary file beside its final name, flushed to
disk, then renamed over the final name (atomic on one file system), so a reader or a later run
sees a whole part or none. Hidden names (leading dot) are skipped by DuckDB's `*.parquet` globs
and by pyarrow/pandas datasets. The `captures/` part is written last: it is the capture's done
marker, and a capture without one is analysed again, its parts replaced, never duplicated.
"""

from __future__ import annotations

import glob
import hashlib
import os
import uuid
from typing import Any, Final

from analyzer.batch.columns import TABLES, arrow_schema

ROW_GROUP: Final = 5000  # rows held before they are written: bounds a worker's memory on a large capture
DONE_TABLE: Final = "captures"


def part_path(out: str, table: str, name: str) -> str:
    return os.path.join(out, table, name + ".parquet")


def is_done(out: str, sha256: str) -> bool:
    return os.path.exists(part_path(out, DONE_TABLE, sha256))


def done_marker(out: str, sha256: str) -> dict[str, Any]:
    """The row of a capture's done marker (its file time in ns, as done_files gives it)."""
    import pyarrow.parquet as pq

    table = pq.read_table(part_path(out, DONE_TABLE, sha256))
    table = table.set_column(table.schema.get_field_index("file_mtime"), "file_mtime",
                             table.column("file_mtime").cast("int64"))
    return table.to_pylist()[0]


def error_name(path: str) -> str:
    """Errors are kept per path (a capture that cannot be read may have no content hash)."""
    return "path-" + hashlib.sha256(os.fsencode(path)).hexdigest()


def make_dirs(out: str) -> None:
    for table in TABLES:
        os.makedirs(os.path.join(out, table), exist_ok=True)


def remove(out: str, table: str, name: str) -> None:
    try:
        os.unlink(part_path(out, table, name))
    except FileNotFoundError:
        pass


def remove_stale(out: str, name: str) -> None:
    """Temporary files a killed worker left for this capture."""
    for table in TABLES:
        for tmp in glob.glob(os.path.join(glob.escape(os.path.join(out, table)), f".{name}.*.tmp")):
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass


class Part:
    """One table's rows of one capture, written as they come."""

    def __init__(self, out: str, table: str, name: str) -> None:
        self.out, self.table, self.name = out, table, name
        self.final = part_path(out, table, name)
        self.tmp = os.path.join(out, table, f".{name}.{uuid.uuid4().hex}.tmp")
        self.pending: list[dict[str, Any]] = []
        self.writer: Any = None
        self.rows = 0

    def extend(self, rows: list[dict[str, Any]]) -> None:
        self.pending += rows
        if len(self.pending) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = arrow_schema(self.table)
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, schema, compression="zstd")
        columns = {name: [row[name] for row in self.pending] for name in schema.names}  # 5x from_pylist's speed
        self.writer.write_table(pa.Table.from_pydict(columns, schema=schema))
        self.rows += len(self.pending)
        self.pending.clear()

    def publish(self, durable: bool = True) -> int:
        """Make the part visible under its final name (no rows: no file). Returns the rows.

        `durable`: on disk before it is named, so that a power cut cannot leave an empty part behind
        a done marker. The marker itself needs no such care: lost, it only means the capture is
        analysed again (and the journal orders its creation after the renames before it)."""
        self._flush()
        if self.writer is None:
            remove(self.out, self.table, self.name)  # one a crashed run may have left
            return 0
        self.writer.close()
        self.writer = None
        if durable:
            with open(self.tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(self.tmp, self.final)
        return self.rows

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        try:
            os.unlink(self.tmp)
        except FileNotFoundError:
            pass


def write(out: str, table: str, name: str, rows: list[dict[str, Any]]) -> None:
    """A whole part at once, not synced to disk: the done marker, an error (losing either in a
    power cut only means the capture is read again)."""
    part = Part(out, table, name)
    try:
        part.extend(rows)
        part.publish(durable=False)
    except BaseException:
        part.abort()
        raise


def done_files(out: str) -> set[tuple[str, int, int]]:
    """(path, size, mtime in ns) of every capture done in `out`: the driver skips these unread."""
    import pyarrow.dataset as ds

    folder = os.path.join(out, DONE_TABLE)
    if not os.path.isdir(folder) or not glob.glob(os.path.join(glob.escape(folder), "*.parquet")):
        return set()
    table = ds.dataset(folder, format="parquet", schema=arrow_schema(DONE_TABLE)).to_table(
        columns=["capture_path", "file_size", "file_mtime"])
    paths, sizes = table.column("capture_path").to_pylist(), table.column("file_size").to_pylist()
    mtimes = table.column("file_mtime").cast("int64").to_pylist()
    return set(zip(paths, sizes, mtimes))
