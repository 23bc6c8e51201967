"""Data contract and feature rules: transactions in, one row per customer at an as-of date."""
