"""Sub-commands of `kafka-dedup`: argument parsing and wiring; the work lives in the library."""
