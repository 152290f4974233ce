# Two commands a newcomer needs: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

DEMO_VIDEO := data/demo/demo.mp4
BLENDER42 := .venv-blender42

.PHONY: setup demo demo-lifting test bench build

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# mediapipe's own pins clash with bpy's numpy<2; its runtime needs are in requirements.txt.
	$(PY) -m pip install -q --no-deps mediapipe==0.10.21
	touch $@

# Blender 4.2 LTS as a module, for running the Blender-side tests a second time.
$(BLENDER42)/.installed: requirements-blender42.txt
	$(PYTHON) -m venv $(BLENDER42)
	$(BLENDER42)/bin/python -m pip install -q --upgrade pip
	$(BLENDER42)/bin/python -m pip install -q -r requirements-blender42.txt
	$(BLENDER42)/bin/python -m pip install -q --no-deps mediapipe==0.10.21
	touch $@

setup: $(VENV)/.installed

$(DEMO_VIDEO): | $(VENV)/.installed
	$(PY) -m training.fetch_demo_video $@

demo: setup $(DEMO_VIDEO)
	$(PY) -m core.pipeline $(DEMO_VIDEO) --out output/demo

demo-lifting: setup
	$(PY) -m training.demo_lifting

test: setup $(BLENDER42)/.installed $(DEMO_VIDEO)
	$(PY) -m pytest -q tests
	$(BLENDER42)/bin/python -m pytest -q tests/test_blender_bake.py tests/test_blender_addon.py tests/test_build.py

bench: setup
	$(PY) -m training.bench_inference

build: setup
	$(PY) build.py --all-platforms
