"""``python -m serving --host H --port P [--scores PATH] [--insecure] [--model-version N]
[--workers N]``: the service launcher (:mod:`serving.launcher`); ``winback serve`` runs it."""

from serving.launcher import main

if __name__ == "__main__":
    raise SystemExit(main())
