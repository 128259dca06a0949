"""Storage: the LMDB journal and the Parquet archive. Never imports Textual."""
