"""Which modules run compiled, and the guard that keeps a stale build from running.

The hot path (capture reading, TCP reassembly, TLS decoding, connection facts, rules, JSON) is
plain, fully typed Python that `setup.py` compiles with mypyc when a C compiler is at hand. The
compiled module then sits beside its source and Python imports it first. Two things must never
happen: running machine code built from an older source (someone edited a .py and did not
rebuild), and mixing compiled and interpreted copies of the hot path (compiled modules call each
other natively). So the build records the SHA-256 of every source it compiled, and on import the
whole set is checked: if any source differs, or `TLS_ANALYZER_PURE=1` is set, every listed module
is loaded from its .py instead. Same results either way (a test compares them), only slower.

What compiled code asks of the source, written down here once:
- A dataclass made for every message, segment or packet has a written `__init__` (`init=False`):
  mypyc compiles that one, while the one `dataclasses` generates runs interpreted, about 8x
  slower to call.
- Hot code narrows types with `isinstance` (not `__class__`) and calls methods on typed objects,
  never through bound methods kept in locals: both then compile to native attribute reads and
  calls. Header fields are read byte by byte (`buf[i] << 8 | buf[i + 1]`): `struct` boxes a
  tuple of ints per call, compiled indexing boxes nothing.
- Module constants and caches are `Final` (tuples unpacked one name per line): mypyc reads them
  as C statics or literals instead of looking each up in the module's globals. A name a test
  must swap stays without `Final`.
- A compiled class has no `__dict__`: no `functools.cached_property`, no attributes added later;
  per-run state lives in objects made for it (analysis/case.py, rulebook.Judge).
- Compiled code calls compiled functions natively, so monkeypatching a module attribute does not
  reach it: tests hand such objects in (a cache, a policy) instead of patching them.
- `except (A, B) as e` is typed by its first class: one name per clause where the types differ.
- A frozen dataclass compiled as a native class does not unpickle: what multiprocessing sends
  (analyzer/parallel.py) is defined in modules that are not compiled.

No import of the rest of the package here: setup.py reads MODULES from this file.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

# the modules setup.py compiles, as paths under analyzer/
MODULES = (
    "sources/pcap.py",
    "sources/shard.py",
    "net/decode.py",
    "net/fragments.py",
    "net/flows.py",
    "net/tcp.py",
    "tls/reader.py",
    "tls/connection.py",
    "tls/messages.py",
    "tls/decoders.py",
    "tls/extensions.py",
    "tls/events.py",
    "tls/detect.py",
    "tls/sslv2.py",
    "tls/openvpn.py",
    "model.py",
    "assemble.py",
    "pipeline.py",
    "analysis/fingerprints.py",
    "analysis/rulebook.py",
    "analysis/weakness.py",
    "analysis/findings.py",
    "analysis/certificates.py",
    "analysis/certinfo.py",
    "analysis/hostnames.py",
    "analysis/case.py",
    "analysis/policy.py",
    "analysis/policy_rules.py",
    "analysis/rules.py",
    "report/__init__.py",
    "report/build.py",
    "report/connection.py",
    "report/messages.py",
    "report/capture.py",
    "render/json.py",
    "registry/__init__.py",
    "registry/codes.py",
    "cache.py",
    "net/udp.py",
    "datagrams.py",
    "quic/wire.py",
    "quic/versions.py",
    "quic/keys.py",
    "quic/packet.py",
    "quic/frames.py",
    "quic/crypto_stream.py",
    "quic/handshake.py",
    "quic/events.py",
    "quic/connection.py",
    "dtls/versions.py",
    "dtls/events.py",
    "dtls/records.py",
    "dtls/detect.py",
    "dtls/handshake.py",
    "dtls/messages.py",
    "dtls/keys.py",
    "dtls/connection.py",
)
MANIFEST = "native-build.json"  # beside this file: {"analyzer/x.py": sha256 of the source compiled}
PURE_ENV = "TLS_ANALYZER_PURE"
PACKAGE_DIR = Path(__file__).resolve().parent


def module_name(path: str) -> str:
    """"tls/reader.py" -> "analyzer.tls.reader"; a package's __init__.py is the package."""
    parts = ["analyzer", *path[:-3].split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def source_digests(root: Path = PACKAGE_DIR) -> dict[str, str]:
    return {f"analyzer/{p}": hashlib.sha256((root / p).read_bytes()).hexdigest() for p in MODULES}


def _extension_of(source: Path) -> Path | None:
    stem = source.with_suffix("")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = stem.with_name(stem.name + suffix)
        if candidate.exists():
            return candidate
    return None


def check(root: Path = PACKAGE_DIR, environ: Mapping[str, str] = os.environ) -> str:
    """"compiled", or why the pure-Python modules run."""
    if environ.get(PURE_ENV, "") not in ("", "0"):
        return f"pure Python ({PURE_ENV} is set)"
    built = [p for p in MODULES if _extension_of(root / p) is not None]
    if not built:
        return "pure Python (not compiled: pip install compiles it where gcc and the Python headers are)"
    try:
        recorded = json.loads((root / MANIFEST).read_text())
    except (OSError, ValueError):
        return f"pure Python (compiled modules without {MANIFEST}: rebuild with pip install)"
    current = source_digests(root)
    changed = sorted(k for k in current if recorded.get(k) != current[k])
    if changed:
        return (f"pure Python (compiled modules are stale: {changed[0]} changed since the build; "
                "rebuild with pip install)")
    if len(built) != len(MODULES):
        return f"pure Python (compiled modules are stale: {len(built)} of {len(MODULES)} built; rebuild with pip install)"
    return "compiled"


class _SourceFirst:
    """Meta path finder: the listed modules from their .py files, even with an extension beside them."""

    def __init__(self) -> None:
        self.sources = {module_name(p): PACKAGE_DIR / p for p in MODULES}

    def find_spec(self, fullname: str, path: object = None, target: object = None):  # noqa: ANN201
        source = self.sources.get(fullname)
        if source is None:
            return None
        loader = importlib.machinery.SourceFileLoader(fullname, str(source))
        is_package = source.name == "__init__.py"
        return importlib.util.spec_from_file_location(
            fullname, source, loader=loader,
            submodule_search_locations=[str(source.parent)] if is_package else None)


STATUS = ""
if __name__ == "analyzer.native":  # not when setup.py reads MODULES
    STATUS = check()
    if STATUS != "compiled":
        sys.meta_path.insert(0, _SourceFirst())


def is_compiled(module: object) -> bool:
    """Was this module loaded from a compiled extension?"""
    return str(getattr(module, "__file__", "")).endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
