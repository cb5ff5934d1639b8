"""The config file of job runs: the local config with the deployment's warehouse and S3."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from kafka_dedup import config as config_mod
from kafka_dedup.config import Config, ConfigError, tomllib

FILE_NAME = "kafka-dedup.toml"
BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")
# Credentials never travel in the bundle: job runs get them from their role or Secrets Manager.
SECRET_WORDS = ("password", "secret", "token", "credential", "private")
LOCAL_ONLY_SPARK_KEYS = ("master", "jars_dir")


def job_sections(config: Config, warehouse: str, checkpoints: str, log_store: str, region: str):  # noqa: ANN201
    """{section: values} for the job runs; [broker] and [aws] stay on this machine."""
    spark = {
        k: v for k, v in dataclasses.asdict(config.spark).items() if k not in LOCAL_ONLY_SPARK_KEYS
    }
    s3: dict[str, Any] = {"region": region}
    if log_store:
        s3["dynamodb_log_store_table"] = log_store
    sections: dict[str, Any] = {
        "spark": spark,
        "kafka": dataclasses.asdict(config.kafka),
        "storage": {
            "warehouse": warehouse,
            "checkpoints": checkpoints,
            "database": config.storage.database,
        },
        "ingest": dataclasses.asdict(config.ingest),
        "s3": s3,
    }
    if config.reconcile:
        sections["reconcile"] = config.reconcile
    _refuse_secrets(sections)
    return sections


def render(sections: dict[str, Any]) -> str:
    """TOML text of the sections, checked by loading it back as a config."""
    lines: list[str] = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        tables = {k: v for k, v in values.items() if _is_table_list(v)}
        for key, value in values.items():
            if key not in tables:
                lines.append(f"{_key(key)} = {_value(value)}")
        for key, items in tables.items():
            for item in items:
                lines.append("")
                lines.append(f"[[{section}.{_key(key)}]]")
                lines.extend(f"{_key(k)} = {_value(v)}" for k, v in item.items())
        lines.append("")
    text = "\n".join(lines)
    config_mod.apply(Config(), tomllib.loads(text), "the job-run config")
    return text


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    return key if BARE_KEY_RE.match(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value), ensure_ascii=False)


def _holds_secret(key: str, value: Any) -> bool:
    """A credential-looking key, or a JAAS line with a password (MSK IAM's has none)."""
    if any(word in key.lower() for word in SECRET_WORDS):
        return True
    return "jaas" in key.lower() and "password" in str(value).lower()


def _refuse_secrets(sections: dict[str, Any], where: str = "") -> None:
    for key, value in sections.items():
        path = f"{where}.{key}" if where else key
        if isinstance(value, dict):
            _refuse_secrets(value, path)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    _refuse_secrets(item, path)
        if not isinstance(value, (dict, list)) and _holds_secret(key, value):
            raise ConfigError(
                f"{path} looks like a credential and would be uploaded with the job bundle; "
                "use MSK IAM auth or a Secrets Manager secret (KafkaSecretArn) instead"
            )
