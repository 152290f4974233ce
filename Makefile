# Two commands a newcomer needs: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test bench build

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# mediapipe's own pins clash with bpy's numpy<2; its runtime needs are in requirements.txt.
	$(PY) -m pip install -q --no-deps mediapipe==0.10.21
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m training.demo_lifting

test: setup
	$(PY) -m pytest -q tests

bench: setup
	$(PY) -m training.bench_inference

build: setup
	$(PY) build.py
