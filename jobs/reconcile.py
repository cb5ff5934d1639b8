"""spark-submit entry point for the reconciliation job (same flags as `kafka-dedup reconcile`)."""

import sys

from kafka_dedup.cli import main

if __name__ == "__main__":
    sys.exit(main(["reconcile", *sys.argv[1:]]))
