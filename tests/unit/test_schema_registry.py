"""The registry client's reading of /schemas/ids answers, its cache and its errors, against a
real HTTP server on loopback (the integration tests use a real registry)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kafka_dedup.ingest.job import IngestError, _explain
from kafka_dedup.ingest.schemas import (
    RegistryUnreachableError,
    SchemaRegistry,
    WriterSchema,
    from_registry,
)

RECORD = {
    "type": "record",
    "name": "R",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "n", "type": "long"},
    ],
}
ANSWERS: dict[str, tuple[int, Any]] = {
    "/subjects": (200, ["a-value"]),
    "/schemas/ids/1": (200, {"schema": json.dumps(RECORD)}),
    "/schemas/ids/2": (200, {"schema": "{}", "schemaType": "PROTOBUF"}),
}


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
        path = self.path.removeprefix("/api")
        self.seen.append((path, self.headers.get("Authorization")))
        status, body = ANSWERS.get(path, (404, {"error_code": 40403}))
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.seen = []
    try:
        yield f"http://u%40x:s3cret@127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()


def test_a_record_schema_names_its_required_fields() -> None:
    schema = from_registry(7, {"schema": json.dumps(RECORD)})
    assert schema == WriterSchema(
        7,
        text=json.dumps(RECORD),
        required=("id", "n"),
        fields=("id", "note", "n"),
        is_record=True,
        complex=True,
    )
    assert schema.usable


@pytest.mark.parametrize(
    ("body", "problem", "complex_"),
    [
        ({"schema": '"string"'}, "", False),
        ({"schema": '["null", "long"]'}, "", False),
        ({"schema": '["string", "long"]'}, "", True),
        ({"schema": '{"type": "array", "items": "long"}'}, "", True),
        ({"schema": "{", "schemaType": "AVRO"}, "schema id 3 is not valid JSON", False),
        ({"schema": "x", "schemaType": "JSON"}, "schema id 3 is JSON, not Avro", False),
        (
            {"schema": '"string"', "references": [{"name": "a", "subject": "b", "version": 1}]},
            "schema id 3 uses schema references, which are not resolved",
            False,
        ),
    ],
)
def test_what_each_answer_becomes(body: dict[str, Any], problem: str, complex_: bool) -> None:
    schema = from_registry(3, body)
    assert (schema.problem, schema.complex) == (problem, complex_)


def test_schemas_are_fetched_once_with_basic_auth_from_the_url(server_url: str) -> None:
    checked: list[str] = []
    registry = SchemaRegistry(server_url, validate=lambda text: checked.append(text) or "")
    registry.check()
    found = registry.schemas([1, 2, 1, 404])
    again = registry.schema(1)

    assert registry.url == server_url.replace("u%40x:s3cret@", "")
    assert sorted(found) == [1, 2, 404]
    assert found[1] is again and found[1].required == ("id", "n")
    assert found[2].problem == "schema id 2 is PROTOBUF, not Avro"
    assert (found[404].unknown, found[404].problem) == (
        True,
        "schema id 404 is not in the registry",
    )
    assert checked == [json.dumps(RECORD)]  # validated once, only the usable Avro schema
    auth = "Basic " + base64.b64encode(b"u@x:s3cret").decode()
    assert _Handler.seen == [
        ("/subjects", auth),
        ("/schemas/ids/1", auth),
        ("/schemas/ids/2", auth),
        ("/schemas/ids/404", auth),
    ]


def test_a_schema_spark_cannot_read_is_a_problem_not_an_error(server_url: str) -> None:
    registry = SchemaRegistry(server_url, validate=lambda text: "recursive")
    assert registry.schema(1).problem == "schema id 1: recursive"


def test_an_unreachable_registry_is_one_line_naming_the_url_and_fix() -> None:
    registry = SchemaRegistry("http://127.0.0.1:9", attempts=2, first_backoff_s=0.01)
    with pytest.raises(RegistryUnreachableError) as raised:
        registry.schema(1)
    message = str(raised.value)
    assert message.startswith("schema registry at http://127.0.0.1:9 did not answer (")
    assert message.endswith("): start it, or fix kafka.schema_registry_url")
    assert "\n" not in message


def test_a_registry_failure_inside_a_batch_stops_ingest_with_its_own_line() -> None:
    raised_in_batch = RuntimeError(
        "[STREAM_FAILED] Query [id = 1] terminated with exception: An exception was raised "
        'by the Python Proxy.\nTraceback (most recent call last):\n  File "batches.py"\n'
        "kafka_dedup.ingest.schemas.RegistryUnreachableError: schema registry at "
        "http://sr:8081 did not answer (timed out): start it, or fix "
        "kafka.schema_registry_url\n\tat org.apache.spark.sql.execution..."
    )
    explained = _explain(raised_in_batch)  # type: ignore[arg-type]
    assert isinstance(explained, IngestError)
    assert str(explained) == (
        "schema registry at http://sr:8081 did not answer (timed out): start it, or fix "
        "kafka.schema_registry_url"
    )
