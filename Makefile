# Two commands a newcomer needs: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

DEMO_VIDEO := data/demo/demo.mp4

.PHONY: setup demo demo-lifting test bench build

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# mediapipe's own pins clash with bpy's numpy<2; its runtime needs are in requirements.txt.
	$(PY) -m pip install -q --no-deps mediapipe==0.10.21
	touch $@

setup: $(VENV)/.installed

$(DEMO_VIDEO): | $(VENV)/.installed
	$(PY) -m training.fetch_demo_video $@

demo: setup $(DEMO_VIDEO)
	$(PY) -m core.pipeline $(DEMO_VIDEO) --out output/demo

demo-lifting: setup
	$(PY) -m training.demo_lifting

test: setup $(DEMO_VIDEO)
	$(PY) -m pytest -q tests

bench: setup
	$(PY) -m training.bench_inference

build: setup
	$(PY) build.py --all-platforms
