# Set-up and everyday commands. Each target creates the virtual environment it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test test-slow demo chromium

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

test: install
	$(PY) -m pytest -q -m "not slow" -n 2 --dist loadfile

test-slow: install chromium
	$(PY) -m pytest -q -m slow

# Headless Chromium for the report page's render check (Debian package chromium; as root).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "note: apt-get not found; install Chromium at /usr/bin/chromium for the page render check"; fi

# Train the default preset on the embedded dataset (a few minutes on 2 CPU cores),
# print test metrics next to the single-modality baselines, export to saved_models/demo/.
demo: install
	$(PY) -m mmzoo.cli train --config configs/demo.yaml
