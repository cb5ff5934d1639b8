"""spark-submit entry point for the ingestion job (same flags as `kafka-dedup ingest`)."""

import sys

from kafka_dedup.cli import main

if __name__ == "__main__":
    sys.exit(main(["ingest", *sys.argv[1:]]))
