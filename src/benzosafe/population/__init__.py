"""Population screening of dispensing records on DuckDB (default) or Apache Spark."""
