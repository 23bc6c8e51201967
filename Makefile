# winback: two commands for a new user.
#   make demo   run the whole pipeline on the bundled CDNOW data into out/
#   make test   run the test suite
# Both bootstrap what they need: uv (installed with pip into .tools/ if missing) and .venv
# from the lockfile.

PYTHON ?= python3.11
TOOLS := .tools
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(TOOLS)/bin/uv
endif
VENV := .venv
export BENTOML_DO_NOT_TRACK := true
export MPLBACKEND := Agg

.PHONY: demo test lint bench bench-small bench-decisions bench-email bento serve clean help

help:
	@echo "make demo   - run winback end to end on the bundled CDNOW data (outputs in out/)"
	@echo "make test   - run the test suite"
	@echo "make lint   - ruff check"
	@echo "make bench  - benchmarks against the references: RESULTS.md, SERVING.md (wrk), RANK.md"
	@echo "make bench-small - the same at 20k customers, a quick smoke run"
	@echo "make bench-decisions - learned uplift lists vs the oracle on the simulator (benchmarks/DECISIONS.md)"
	@echo "make bench-email - campaign learn vs the standard uplift learners, Hillstrom-shaped (benchmarks/EMAIL_CAMPAIGN.md)"
	@echo "make bento  - package the service as a Bento serving the champion's version, pinned"

$(TOOLS)/bin/uv:
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@# uv compiles the dependencies, not the editable project: without this every command
	@# recompiles winback's own modules when PYTHONDONTWRITEBYTECODE is set (issue 18).
	$(VENV)/bin/python -m compileall -q -j 0 features models pipelines serving >/dev/null
	@touch $@

demo: $(VENV)/.synced
	$(VENV)/bin/winback demo

test: $(VENV)/.synced
	$(VENV)/bin/python -m pytest

lint: $(VENV)/.synced
	$(VENV)/bin/ruff check .

bento: $(VENV)/.synced | $(UV)
	$(VENV)/bin/python -m serving.bento_build

bench: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.run --size full
	$(VENV)/bin/python -m benchmarks.serving_wrk
	$(VENV)/bin/python -m benchmarks.rank_latency

bench-small: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.run --size small

bench-decisions: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.decisions

bench-email: $(VENV)/.synced
	$(VENV)/bin/python -m benchmarks.email_campaign

clean:
	rm -rf out .pytest_cache .ruff_cache
