"""The config file of job runs: the local config with the deployment's warehouse and S3."""

from __future__ import annotations

import dataclasses
from typing import Any

import tomli_w

from kafka_dedup import config as config_mod
from kafka_dedup.config import Config, ConfigError, to_table, tomllib

FILE_NAME = "kafka-dedup.toml"
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
        "maintain": dataclasses.asdict(config.maintain),
    }
    reconcile = to_table(config.reconcile)
    if reconcile:
        sections["reconcile"] = reconcile
    _refuse_secrets(sections)
    return sections


def render(sections: dict[str, Any]) -> str:
    """TOML text of the sections, checked by loading it back as a config."""
    text = tomli_w.dumps(sections)
    config_mod.apply(Config(), tomllib.loads(text), "the job-run config")
    return text


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
