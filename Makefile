# The README's two commands are `make demo` and `make test`; both run `make install` first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTHON ?= python3.11
# Debian packages for the real RTSP server (GStreamer's gst-rtsp-server, driven by /usr/bin/python3)
DEBS := gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
        gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly python3-gi
GST_CHECK := /usr/bin/python3 -c "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer" 2>/dev/null
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test check lint typecheck clean train-deps bench-deps

install: $(STAMP)

# A second run is quick: nothing is redone unless pyproject.toml changed.
$(STAMP): pyproject.toml
	@if ! $(GST_CHECK); then \
	  echo "installing Debian packages for the RTSP server: $(DEBS)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(DEBS) >/dev/null; \
	fi
	@$(GST_CHECK) || { echo "GStreamer RTSP server still missing: apt-get install $(DEBS)"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,faces]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import matthan.edge.cli" || { echo "install failed"; exit 1; }
	@touch $(STAMP)

demo: install
	$(VENV)/bin/matthan demo

# Everything CI checks: the test suite (integration tests against the real broker and RTSP
# server included, and training smoke tests, hence the train extra), then ruff and mypy.
test: train-deps
	$(PY) -m pytest -q -ra
	$(MAKE) --no-print-directory check

check: lint typecheck

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy cannot follow setuptools' editable-install hook that maps edge/ -> matthan.edge, so it
# reads the same folders through a tree of symbolic links under .build/mypy.
typecheck: install
	@mkdir -p .build/mypy/matthan
	@for d in edge recognizers integration benchmarks models; do ln -sfn ../../../$$d .build/mypy/matthan/$$d; done
	MYPYPATH=.build/mypy $(VENV)/bin/mypy -p matthan

# Training the plate models (CPU torch 2.13.0) and the plate-reader baselines (RapidOCR, EasyOCR).
TRAIN_STAMP := $(VENV)/.installed-train

train-deps: $(TRAIN_STAMP)

# The test suite includes training smoke tests, so `make test` installs this extra too.
$(TRAIN_STAMP): $(STAMP) Makefile
	@$(PY) -m pip install -q --disable-pip-version-check -e '.[dev,faces,train]' 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import torch" || { echo "torch 2.13.0 (CPU) did not install"; exit 1; }
	@# the ultralytics baseline (recognizers/plates/train_yolo.py): torchvision first and without its
	@# requirements (they would replace the CPU torch with a CUDA build), then ultralytics, whose own
	@# requirements are then met
	@$(PY) -m pip install -q --disable-pip-version-check --no-deps torchvision==0.28.0 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -m pip install -q --disable-pip-version-check ultralytics==8.4.190 2>&1 | grep -v "^WARNING: Location" || true
	@$(PY) -c "import importlib.util as u; assert u.find_spec('ultralytics')" || { echo "ultralytics did not install"; exit 1; }
	@touch $(TRAIN_STAMP)

bench-deps: train-deps
	$(PY) -m pip install -q -e '.[dev,faces,train,bench]'
	$(PY) -m pip install -q --no-deps easyocr==1.7.2 torchvision==0.28.0

clean:
	rm -rf $(VENV) .build var
