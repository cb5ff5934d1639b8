"""A second topic shape for the simulator: another team's returns topic, as it already is.

The same seeded stream (every duplicate cause, malformed records, a late phase), written the
way many existing producers write: the id in `$.meta.id`, the time as epoch milliseconds in
`$.meta.ts`, the version in `$.meta.version`, and the entity key only in a header (the Kafka
key is empty). `MAPPING` is the [[ingest.mappings]] table that reads it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from kafka_dedup.kafka.truth import Record, Stream

KEY_HEADER = "return_id"
KEY_PREFIX = ("order-", "return-")
EVENT_TYPES = {
    "order.created": "return.requested",
    "order.paid": "return.approved",
    "order.shipped": "return.received",
}
MAPPING = """\
[[ingest.mappings]]
topic = "{topic}"
key = "header:return_id"
event_id = "$.meta.id"
event_time = "$.meta.ts"
event_time_format = "epoch_millis"
sequence = "$.meta.version"
event_type = "$.type"
producer_id = "$.meta.source"
payload = "$.data"
"""


def mapping_toml(topic: str) -> str:
    """The [[ingest.mappings]] table that reads this shape from `topic`."""
    return MAPPING.format(topic=topic)


def _millis(text: Any) -> Any:
    """ISO-8601 text -> epoch milliseconds; anything else is kept as it is (still invalid)."""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return text
    return round(moment.timestamp() * 1000)


def _body(envelope: dict[str, Any]) -> dict[str, Any]:
    meta = {
        "id": envelope.get("event_id"),
        "ts": _millis(envelope["event_time"]) if "event_time" in envelope else None,
        "version": envelope.get("sequence"),
        "source": envelope.get("producer_id"),
    }
    return {
        "meta": {name: value for name, value in meta.items() if value is not None},
        "type": EVENT_TYPES.get(envelope.get("event_type", ""), envelope.get("event_type")),
        "data": envelope.get("payload", {}),
    }


def _value(value: bytes | None) -> bytes | None:
    """The envelope's bytes in this shape; bytes that are not a JSON object stay as they are,
    Latin-1 bytes stay Latin-1 (the invalid_utf8 record)."""
    if value is None:
        return None
    for encoding in ("utf-8", "latin-1"):
        try:
            envelope = json.loads(value.decode(encoding))
        except (UnicodeDecodeError, ValueError):
            continue
        if not isinstance(envelope, dict):
            return value
        return json.dumps(_body(envelope), ensure_ascii=False).encode(encoding)
    return value


def _key(key: str | None) -> str | None:
    old, new = KEY_PREFIX
    return new + key[len(old) :] if key and key.startswith(old) else key


def _record(record: Record) -> Record:
    key = _key(record.key)
    headers = [(KEY_HEADER, key.encode())] if record.raw_key is not None and key else []
    return replace(
        record,
        key=key,
        raw_key=None,
        value=_value(record.value),
        headers=headers,
        event_type=EVENT_TYPES.get(record.event_type or "", record.event_type),
    )


def reshape(stream: Stream) -> Stream:
    """The stream in this shape, with its truth renamed alike (keys, event types)."""
    events = [
        {**event, "key": _key(event["key"]), "event_type": EVENT_TYPES[event["event_type"]]}
        for event in stream.events
    ]
    return Stream([_record(r) for r in stream.records], events, stream.start)
