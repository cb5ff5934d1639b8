"""Writer schemas of Avro topics: fetched by id from a Confluent-compatible schema registry.

Only the driver talks to the registry, once per schema id a micro-batch holds (kept for the
run); the executors decode with the schema text their tasks carry. A schema the registry does
not hold, or one Spark cannot decode with, quarantines its records with a reason rather than
stopping the stream; a registry that does not answer stops the batch before anything is
written, so its records are read again by the next run.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kafka_dedup.errors import UserError

ACCEPT = "application/vnd.schemaregistry.v1+json, application/json"
TIMEOUT_S = 10.0
ATTEMPTS = 3
FIRST_BACKOFF_S = 1.0


class RegistryUnreachableError(UserError):
    """The schema registry did not answer; the message names the URL and the fix."""


@dataclass(frozen=True)
class WriterSchema:
    """One schema id as the registry gave it; `problem` says why it cannot decode (or '')."""

    schema_id: int
    text: str = ""  # the Avro schema's JSON, as from_avro takes it
    problem: str = ""
    unknown: bool = False  # the registry does not hold the id
    required: tuple[str, ...] = ()  # top-level record fields that can never be null
    fields: tuple[str, ...] = ()  # every top-level field of a record schema
    is_record: bool = False
    complex: bool = False  # Spark reads it as a struct, array or map (else as one value)

    @property
    def usable(self) -> bool:
        return not self.problem


def _complex(avro_type: Any) -> bool:
    """Whether Spark reads this Avro type as a struct, array or map (not a single value)."""
    if isinstance(avro_type, list):  # a union: [null, X] is X, any other union a struct
        members = [t for t in avro_type if t != "null"]
        return len(members) != 1 or _complex(members[0])
    if isinstance(avro_type, dict):
        return avro_type.get("type") in ("record", "array", "map")
    return False


def _nullable(field_type: Any) -> bool:
    return field_type == "null" or (isinstance(field_type, list) and "null" in field_type)


def from_registry(schema_id: int, body: dict[str, Any]) -> WriterSchema:
    """A /schemas/ids/{id} answer as a WriterSchema (the JSON parse is checked here; whether
    Spark can decode with it is checked by SchemaRegistry's validate hook)."""
    schema_type = str(body.get("schemaType") or "AVRO").upper()
    if schema_type != "AVRO":
        return WriterSchema(schema_id, problem=f"schema id {schema_id} is {schema_type}, not Avro")
    if body.get("references"):
        return WriterSchema(
            schema_id,
            problem=f"schema id {schema_id} uses schema references, which are not resolved",
        )
    text = str(body.get("schema", ""))
    try:
        parsed = json.loads(text)
    except ValueError:
        return WriterSchema(schema_id, problem=f"schema id {schema_id} is not valid JSON")
    if isinstance(parsed, dict) and parsed.get("type") == "record":
        fields = [f for f in parsed.get("fields", []) if isinstance(f, dict)]
        return WriterSchema(
            schema_id,
            text=text,
            required=tuple(f["name"] for f in fields if not _nullable(f.get("type"))),
            fields=tuple(f["name"] for f in fields),
            is_record=True,
            complex=True,
        )
    return WriterSchema(schema_id, text=text, complex=_complex(parsed))


def _split_credentials(url: str) -> tuple[str, str | None]:
    """The URL without user:secret@, and the Basic authorization value when it had them."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None:
        return url.rstrip("/"), None
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    bare = urllib.parse.urlunsplit(parts._replace(netloc=netloc)).rstrip("/")
    secret = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    return bare, "Basic " + base64.b64encode(secret.encode()).decode()


class SchemaRegistry:
    """Schemas by id, cached; `validate(text)` returns a problem Spark would have with one."""

    def __init__(
        self,
        url: str,
        validate: Callable[[str], str] | None = None,
        attempts: int = ATTEMPTS,
        first_backoff_s: float = FIRST_BACKOFF_S,
    ) -> None:
        self.url, self._auth = _split_credentials(url)
        self._validate = validate
        self._attempts = attempts
        self._first_backoff_s = first_backoff_s
        self._cache: dict[int, WriterSchema] = {}

    def _get(self, path: str) -> tuple[int, Any]:
        """(HTTP status, JSON body) of one GET, retried with backoff while it cannot connect."""
        request = urllib.request.Request(self.url + path, headers={"Accept": ACCEPT})
        if self._auth:
            request.add_header("Authorization", self._auth)
        backoff = self._first_backoff_s
        for attempt in range(1, self._attempts + 1):
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                    return response.status, json.loads(response.read() or b"null")
            except urllib.error.HTTPError as exc:
                if exc.code < 500:
                    return exc.code, None
                problem = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError, ValueError) as exc:
                problem = str(getattr(exc, "reason", exc))
            if attempt < self._attempts:
                time.sleep(backoff)
                backoff *= 2
        raise RegistryUnreachableError(
            f"schema registry at {self.url} did not answer ({problem}): start it, or fix "
            "kafka.schema_registry_url"
        )

    def check(self) -> None:
        """Fail fast when the registry does not answer its subject list."""
        status, _ = self._get("/subjects")
        if status == 401 or status == 403:
            raise RegistryUnreachableError(
                f"schema registry at {self.url} refused the request (HTTP {status}): put "
                "user:secret@ in kafka.schema_registry_url"
            )
        if status != 200:
            raise RegistryUnreachableError(
                f"{self.url} is not a Confluent-compatible schema registry (GET /subjects gave "
                f"HTTP {status}): fix kafka.schema_registry_url"
            )

    def schema(self, schema_id: int) -> WriterSchema:
        cached = self._cache.get(schema_id)
        if cached is not None:
            return cached
        status, body = self._get(f"/schemas/ids/{schema_id}")
        if status == 404:
            found = WriterSchema(
                schema_id, problem=f"schema id {schema_id} is not in the registry", unknown=True
            )
        elif status != 200 or not isinstance(body, dict):
            raise RegistryUnreachableError(
                f"schema registry at {self.url} answered HTTP {status} for schema id "
                f"{schema_id}: check its logs, or fix kafka.schema_registry_url"
            )
        else:
            found = from_registry(schema_id, body)
            if found.usable and self._validate is not None:
                problem = self._validate(found.text)
                if problem:
                    found = WriterSchema(schema_id, problem=f"schema id {schema_id}: {problem}")
        self._cache[schema_id] = found
        return found

    def schemas(self, schema_ids: Iterable[int]) -> dict[int, WriterSchema]:
        return {schema_id: self.schema(schema_id) for schema_id in sorted(set(schema_ids))}
