"""Ad-hoc duplicate forensics: SQL over the warehouse on Spark or DuckDB, and ready queries."""
