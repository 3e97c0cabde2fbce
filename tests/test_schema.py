"""The JSON contract: real output validates against the published schema, and is stable."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from analyzer.report import json_document

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
