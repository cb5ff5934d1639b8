"""Helpers shared by sub-commands: config loading from --config, env and flags."""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from kafka_dedup import config as config_mod
from kafka_dedup.config import Config


def load_config(args: argparse.Namespace, flag_map: Mapping[str, tuple[str, str]]) -> Config:
    """Config from --config, the environment, then the flags named in flag_map (dest -> key)."""
    overrides: dict[str, dict[str, object]] = {}
    flag_map = {"master": ("spark", "master"), **flag_map}  # --master of the Spark commands
    for dest, (section, key) in flag_map.items():
        value = getattr(args, dest, None)
        if value is not None:
            overrides.setdefault(section, {})[key] = value
    return config_mod.load(getattr(args, "config", None), flags=overrides)
