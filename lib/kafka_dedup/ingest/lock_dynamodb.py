"""The ingest lease for checkpoints on S3: one item in the stack's DynamoDB table.

Plain S3 offers neither an atomic rename nor put-if-absent, so the lease is an item in the
table Delta's S3DynamoDBLogStore already uses (`s3.dynamodb_log_store_table`), under a key
no Delta table path can take. Every change is a conditional PutItem that compares with the
item last read (compare-and-swap), so two runs can never both hold it; the job role needs
only the GetItem and PutItem it already has for the log store.
"""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from kafka_dedup.config import Config, ConfigError
from kafka_dedup.ingest.lock import Holder
from kafka_dedup.ingest.lock_file import LOCK_FILE

KEY_PREFIX = "kafka-dedup/ingest-lock/"  # no Delta table path starts like this
TTL_AFTER_S = 86_400  # the table's TTL (expireTime) removes a lease a day after it ended


class DynamoDbLeaseStore:
    """Compare-and-swap on one item: (tablePath, fileName) = (prefix + checkpoints, lock)."""

    def __init__(self, client: Any, table: str, checkpoints: str) -> None:
        self.client = client
        self.table = table
        self.where = checkpoints.rstrip("/")
        self.key = {"tablePath": {"S": KEY_PREFIX + self.where}, "fileName": {"S": LOCK_FILE}}

    @classmethod
    def from_config(cls, config: Config) -> DynamoDbLeaseStore:
        import boto3

        table = config.s3.dynamodb_log_store_table
        if not table:
            raise ConfigError(
                f"storage.checkpoints = {config.storage.checkpoints!r} is on S3, where runs are "
                "kept apart by a DynamoDB lease: set s3.dynamodb_log_store_table (the stack's "
                "log-store table)"
            )
        client = boto3.client(
            "dynamodb",
            region_name=config.s3.region or None,
            endpoint_url=config.s3.dynamodb_endpoint or None,
        )
        return cls(client, table, config.storage.checkpoints)

    def _read(self) -> Holder | None:
        item = self.client.get_item(TableName=self.table, Key=self.key, ConsistentRead=True)
        found = item.get("Item")
        if not found:
            return None
        return Holder(
            run_id=found["run_id"]["S"],
            host=found["host"]["S"],
            pid=int(found["pid"]["N"]),
            since=float(found["since"]["N"]),
            expires=float(found["expires"]["N"]),
        )

    def _put(self, me: Holder, expected: Holder | None) -> bool:
        """Write `me` if the item is still `expected` (absent when None); False if it moved."""
        item = {
            **self.key,
            "run_id": {"S": me.run_id},
            "host": {"S": me.host},
            "pid": {"N": str(me.pid)},
            "since": {"N": repr(me.since)},
            "expires": {"N": repr(me.expires)},
            "expireTime": {"N": str(int(me.expires) + TTL_AFTER_S)},
        }
        if expected is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(tablePath)"}
        else:
            condition = {
                "ConditionExpression": "run_id = :run AND expires = :expires",
                "ExpressionAttributeValues": {
                    ":run": {"S": expected.run_id},
                    ":expires": {"N": repr(expected.expires)},
                },
            }
        try:
            self.client.put_item(TableName=self.table, Item=item, **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def try_acquire(self, me: Holder) -> Holder | None:
        current = self._read()
        if current is not None and current.run_id != me.run_id and current.is_live(time.time()):
            return current
        if self._put(me, current):
            return None
        return self._read() or me  # another run won the swap just now

    def renew(self, me: Holder) -> bool:
        current = self._read()
        if current is None or current.run_id != me.run_id:
            return False
        return self._put(me, current)

    def release(self, me: Holder) -> None:
        current = self._read()
        if current is not None and current.run_id == me.run_id:
            # Expired rather than deleted: PutItem is all the job role may do on this table.
            self._put(Holder(me.run_id, me.host, me.pid, me.since, 0.0), current)
