"""Build: compile the hot path with mypyc when a C compiler is at hand, else install pure Python.

Everything else about the package is in pyproject.toml. The modules compiled are listed in
analyzer/native.py, which also records, in analyzer/native-build.json, the sources they were
built from (see its docstring for why). Without a compiler, with TLS_ANALYZER_PURE=1, or if the
build fails, the install goes on as pure Python, saying so: same results, about 2x slower.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
native = runpy.run_path(str(HERE / "analyzer" / "native.py"), run_name="analyzer_native_for_setup")


DIGESTS: dict[str, str] = {}  # source SHA-256s the compiled modules are built from


def say(text: str) -> None:
    print(f"tls-analyzer build: {text}", file=sys.stderr)


def extensions() -> list:
    if os.environ.get(native["PURE_ENV"], "") not in ("", "0"):
        say(f"{native['PURE_ENV']} is set: installing pure Python")
        return []
    try:
        from mypyc.build import mypycify
        # taken before mypyc reads the sources: a file edited during the build then mismatches
        # (pure Python runs), never the other way round
        DIGESTS.update(native["source_digests"](HERE / "analyzer"))
        return mypycify([f"analyzer/{p}" for p in native["MODULES"]], opt_level="3", group_name="tls_analyzer")
    except BaseException as exc:  # noqa: BLE001  mypyc missing or a type error: still installable
        say(f"not compiled ({type(exc).__name__}: {exc}); installing pure Python")
        return []


class BuildNative(build_ext):
    """Builds the extensions; on failure installs none of them (never half a compiled hot path)."""

    def run(self) -> None:
        if self.inplace:
            self._remove_strays()
        if not self.extensions:
            return
        try:
            super().run()
        except Exception as exc:  # noqa: BLE001  no compiler, no Python headers
            say(f"compiling failed ({type(exc).__name__}: {str(exc)[:160]}); installing pure Python")
            self._remove_outputs()
            return
        target = HERE / "analyzer" if self.inplace else Path(self.build_lib) / "analyzer"
        target.mkdir(parents=True, exist_ok=True)
        (target / native["MANIFEST"]).write_text(json.dumps(DIGESTS, indent=1, sort_keys=True) + "\n")
        say(f"compiled {len(native['MODULES'])} modules with mypyc")

    def _remove_strays(self) -> None:
        """In a source tree, compiled modules that are no longer listed would still be imported
        (ahead of their .py, and unchecked): remove them before building."""
        listed = {HERE / "analyzer" / p[:-3] for p in native["MODULES"]}
        for path in (HERE / "analyzer").rglob("*.so"):  # name.so, name.abi3.so, name.cpython-311-....so
            if path.parent / path.name.split(".", 1)[0] not in listed:
                say(f"removing {path.relative_to(HERE)}: no longer compiled")
                path.unlink()

    def _remove_outputs(self) -> None:
        """What this build made of a failed set (in the tree only when building in place: a
        regular install must not touch an editable install's modules there)."""
        base = HERE if self.inplace else Path(self.build_lib)
        for ext in self.extensions:
            path = base / self.get_ext_filename(ext.name)
            if path.exists():
                path.unlink()


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildNative})
