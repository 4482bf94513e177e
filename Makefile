# Two commands matter: `make run` (the main job: the daemon on the default CPU configuration)
# and `make test` (the test suite). Both bootstrap the machine first (idempotent).
VENV ?= .venv
CONFIG ?= deploy/config/cpu-default.yaml

.PHONY: bootstrap test test-daemon run round lint bench clean

bootstrap:
	bash scripts/bootstrap.sh

# The whole suite, the daemon's real-stack life and crash tests included (marker daemon_e2e);
# the slowest 25 tests are named at the end, so CI's log shows where its time goes.
test: bootstrap lint
	$(VENV)/bin/python -m pytest -q --durations=25

# The daemon's real-stack tests alone, with the slow extras `make test` leaves out.
test-daemon: bootstrap
	$(VENV)/bin/python -m pytest -q -m "daemon_e2e or daemon_extra" tests/daemon

run: bootstrap
	$(VENV)/bin/ssdd run --config $(CONFIG)

round: bootstrap
	$(VENV)/bin/ssd round --config $(CONFIG)

lint: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

bench: bootstrap
	$(VENV)/bin/python bench/sandbox_throughput.py
	$(VENV)/bin/python bench/sampling_throughput.py
	$(VENV)/bin/python bench/swap_latency.py
	$(VENV)/bin/python bench/lora_decode.py
	$(VENV)/bin/python bench/serving_during_round.py

clean:
	rm -rf $(VENV) .pytest_cache
