"""A real second writer for commit-race tests: a UDF that commits with delta-rs mid-write."""

from __future__ import annotations

import os
from typing import Any

from pyspark.sql import functions as F
from pyspark.sql import types as T


def append_once(path: str, marker: str, row: dict[str, Any]) -> Any:
    """An identity UDF (on a string column) whose first call anywhere commits `row` to the
    Delta table at `path` with delta-rs (the `deltalake` package): Spark's write that is
    running then loses its commit to it. `marker` (a file) makes the append happen once."""

    def identity(value: str) -> str:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return value
        import pyarrow as pa
        from deltalake import DeltaTable, write_deltalake

        schema = pa.schema(DeltaTable(path).schema().to_arrow())
        write_deltalake(path, pa.Table.from_pylist([row], schema=schema), mode="append")
        return value

    return F.udf(identity, T.StringType())
