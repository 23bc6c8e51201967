"""Batch scoring: the champion scores a feature table into the scores Parquet file.

``batch`` scores on DuckDB, ``spark`` the same scorer in Spark's ``mapInPandas``, ``table``
reads and writes the scores file and its metadata.
"""
