"""spark-submit entry point for table maintenance (same flags as `kafka-dedup maintain`)."""

import sys

from kafka_dedup.cli import main

if __name__ == "__main__":
    sys.exit(main(["maintain", *sys.argv[1:]]))
