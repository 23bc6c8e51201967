"""The MLflow model registry: how the scorer is stored, and who may be champion.

``store`` talks to MLflow (tracking URI, logging, versions, loading), ``promotion`` holds
the champion policy, ``pyfunc`` the MLflow wrapper around the scorer.
"""
