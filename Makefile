# Two commands a user needs: `make demo` and `make test`. Both create .venv if missing.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
# Re-install when the dependency list changes.
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
EXTRAS ?= train,formats,jit,tflite,devices,dev
PYTEST_ARGS ?=

.PHONY: demo test bench board-check firmware-test install clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "installing edgeemg[$(EXTRAS)] into $(VENV) (torch pinned to the 2.13.0 CPU wheel)..." >&2
	@$(PY) -m pip install -q --disable-pip-version-check "torch==2.13.0" -e ".[$(EXTRAS)]" \
		> $(VENV)/pip-install.log 2>&1 || { cat $(VENV)/pip-install.log; exit 1; }
	@rm -f $(VENV)/.installed-*
	@touch $@

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/edgeemg demo

firmware-test:
	$(MAKE) -C firmware_bridge test

test: $(STAMP) firmware-test
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) -m pytest -q benchmarks --benchmark-columns=min,median,max,rounds --benchmark-sort=name $(PYTEST_ARGS)

# The board side on emulated arm64 (Pi 4, Pi 5, Jetson-class cores) vs this host; slow, not part of `make test`.
# Run before a release and after changes to export, runtime, dsp or packaging. ARM_WORK keeps the set-up.
BOARD_CHECK_ARGS ?=
board-check: $(STAMP)
	$(PY) benchmarks/board_check/check.py $(BOARD_CHECK_ARGS)

clean:
	rm -rf $(VENV) firmware_bridge/build .pytest_cache .benchmarks
