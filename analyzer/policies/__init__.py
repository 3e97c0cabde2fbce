"""The built-in profiles: one TOML file each here, the Mozilla ones reading the guidelines' JSON
beside them. Import-cheap on purpose: the command line lists the names at start-up."""

from pathlib import Path

POLICY_DIR = Path(__file__).resolve().parent
PROFILES = ("default", "mozilla-modern", "mozilla-intermediate", "mozilla-old")  # as `--profile` lists them
