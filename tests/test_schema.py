"""The JSON contract: real output validates against the published schema, and is stable."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from analyzer.api import json_document

from conftest import CAPTURES

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "analyzer/schema/tls-analyzer-1.schema.json").read_text())


@pytest.mark.parametrize("capture", sorted(p.name for p in CAPTURES.glob("*.pcap*")))
def test_output_of_every_fixture_validates(capture: str) -> None:
    doc = json.loads(json_document(str(CAPTURES / capture)))
    jsonschema.validate(doc, SCHEMA)


def test_output_is_byte_stable_and_keys_are_sorted() -> None:
    first = json_document(str(CAPTURES / "tls13-hrr.pcap"))
    assert first == json_document(str(CAPTURES / "tls13-hrr.pcap"))

    def sorted_keys(obj) -> bool:  # noqa: ANN001
        if isinstance(obj, dict):
            return list(obj) == sorted(obj) and all(sorted_keys(v) for v in obj.values())
        if isinstance(obj, list):
            return all(sorted_keys(v) for v in obj)
        return True

    assert sorted_keys(json.loads(first))


def test_schema_rejects_what_the_contract_forbids() -> None:
    doc = json.loads(json_document(str(CAPTURES / "tls13.pcap")))
    doc["connections"][0]["messages"][0]["from"] = "middlebox"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


def test_timestamps_round_exactly_as_round_does() -> None:
    """The JSON's "ts" takes a fast path around round(ts, 6): it must never differ from it."""
    import math
    import random

    from analyzer.report.messages import micro_round

    rng = random.Random(6)
    values = [0.0, -0.0, 1e-300, 5e-7, 1.5e-6, 2.5e-6, -1.25, 2**51 / 1e6, 1e12, math.inf, -math.inf]
    for _ in range(50_000):
        sec = rng.randrange(2**32)
        values += [sec + rng.randrange(10**6) * 1e-6,  # pcap microseconds
                   sec + rng.randrange(10**9) * 1e-9,  # pcap nanoseconds
                   (sec * 10**6 + rng.randrange(10**6) + 0.5) / 1e6,  # halfway: round() decides
                   rng.uniform(0, 5e9)]
    for ts in values:
        fast, slow = micro_round(ts), round(ts, 6)
        assert (fast, math.copysign(1, fast)) == (slow, math.copysign(1, slow)), ts
    assert math.isnan(micro_round(math.nan))
