# Two commands matter: `make round` (the main job on the default CPU configuration) and
# `make test` (the test suite). Both bootstrap the machine first (idempotent).
VENV ?= .venv
CONFIG ?= deploy/config/cpu-default.yaml

.PHONY: bootstrap test round bench clean

bootstrap:
	bash scripts/bootstrap.sh

test: bootstrap
	$(VENV)/bin/python -m pytest -q

round: bootstrap
	$(VENV)/bin/ssd round --config $(CONFIG)

bench: bootstrap
	$(VENV)/bin/python bench/sandbox_throughput.py
	$(VENV)/bin/python bench/sampling_throughput.py
	$(VENV)/bin/python bench/swap_latency.py

clean:
	rm -rf $(VENV) .pytest_cache
