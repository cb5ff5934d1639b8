"""Table maintenance beside a live ingest: compaction, VACUUM that keeps the time-travel window,
and the checks that the tables still read at their latest version and inside that window."""
