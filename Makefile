# Two commands a newcomer needs: `make demo` and `make test`. Both set everything up first.
# Python 3.11 (bpy 5.0 and 4.2 are built for it). `make demo` needs about 0.4 GB of disk
# (.venv-runtime); `make test` about 2.4 GB more (.venv with torch and bpy, .venv-blender42).
PYTHON ?= python3
RUNTIME := .venv-runtime
VENV := .venv
PY := $(VENV)/bin/python
RUN_PY := $(RUNTIME)/bin/python
# CPU-only torch (the package index's default Linux build brings about 3 GB of CUDA libraries).
# For CUDA: make test TORCH_INDEX=
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu

DEMO_VIDEO := data/demo/demo.mp4
BLENDER42 := .venv-blender42

.PHONY: setup setup-runtime demo demo-lifting test bench build

# A virtual environment in $(1) from the requirements file $(2), then mediapipe $(3) without its own
# dependencies: its pins clash with bpy's numpy<2, and what it needs at run time is in $(2).
# $(4): a step before the requirements (torch from its own index).
define make_venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install -q --upgrade pip
	$(4)
	$(1)/bin/python -m pip install -q -r $(2)
	$(1)/bin/python -m pip install -q --no-deps mediapipe==$(3)
	touch $@
endef

# What the pipeline needs and nothing more: numpy, OpenCV, mediapipe (no torch, no bpy).
$(RUNTIME)/.installed: requirements-runtime.txt
	$(call make_venv,$(RUNTIME),requirements-runtime.txt,0.10.21,)

# Everything: training, Blender as a module, tests.
$(VENV)/.installed: requirements.txt requirements-runtime.txt
	$(call make_venv,$(VENV),requirements.txt,0.10.21,$(PY) -m pip install -q --retries 1 --no-deps torch==2.13.0 $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)))

# Blender 4.2 LTS as a module, for running the Blender-side tests a second time.
$(BLENDER42)/.installed: requirements-blender42.txt
	$(call make_venv,$(BLENDER42),requirements-blender42.txt,0.10.21,)

# The bundled pose models (mediapipe Tasks API), assembled from the mediapipe wheel's files and, for
# the heavy model, the npm package @mediapipe/pose (skipped with a note where npm is missing).
POSE_TASK := core/weights/pose_landmarker_full.task
$(POSE_TASK): training/pose_models.py | $(RUNTIME)/.installed
	$(RUN_PY) -m training.pose_models

# mediapipe 1.x (what the add-on bundles for Python 3.11 and 3.13), to run the detector tests on it too.
MEDIAPIPE1 := .venv-mediapipe1
$(MEDIAPIPE1)/.installed: requirements-mediapipe1.txt
	$(call make_venv,$(MEDIAPIPE1),requirements-mediapipe1.txt,1.2.3,)

setup-runtime: $(RUNTIME)/.installed $(POSE_TASK)
setup: $(VENV)/.installed $(POSE_TASK)

$(DEMO_VIDEO): | $(RUNTIME)/.installed
	$(RUN_PY) -m training.fetch_demo_video $@

demo: setup-runtime $(DEMO_VIDEO)
	$(RUN_PY) -m core.pipeline $(DEMO_VIDEO) --out output/demo

demo-lifting: setup
	$(PY) -m training.demo_lifting

test: setup $(BLENDER42)/.installed $(MEDIAPIPE1)/.installed $(DEMO_VIDEO)
	$(PY) -m pytest -q tests
	$(BLENDER42)/bin/python -m pytest -q tests/test_blender_bake.py tests/test_blender_addon.py tests/test_rig_corpus.py tests/test_build.py
	$(MEDIAPIPE1)/bin/python -m pytest -q tests/test_detectors.py tests/test_detector_3d.py

bench: setup
	$(PY) -m training.bench_inference

build: setup
	$(PY) build.py --all-platforms
