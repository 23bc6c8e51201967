"""The marketer's HTML report: one self-contained page built from scores, list and campaigns."""
