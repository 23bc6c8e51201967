"""Training and out-of-time evaluation: snapshots, the scorer's fit, the MLflow training run.

``evaluation`` is the out-of-time harness (labels, baselines, candidates' metrics),
``metrics`` the dormancy and spend measures, ``fit`` the snapshot training of the scorer,
``run`` one training run logged to MLflow, ``plots`` its diagnostic figures.
"""
