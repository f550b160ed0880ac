# Two entry points for a fresh machine (see README): `make run` and `make test`.
# Both create ./.venv and install torch first: the pinned CPU wheel here, while the
# project's own requirement stays a range so GPU machines keep their CUDA build.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DOCS ?= $(wildcard tests/data/*.pdf tests/data/eval/*.pdf tests/data/eval/*.docx tests/data/eval/*.html)
QUERY ?= Kiedy zaniechano poboru podatku dochodowego od spółek?

.PHONY: run demo test install lint ocr-packages browser-packages

# The service: HTTP API over the collections in ./indexes (embedded FAISS index).
run: $(VENV)/.installed-run
	$(BIN)/polrag serve --host $(HOST) --port $(PORT)

# Without the server: ingest DOCS and search them (a file that fails is reported, the rest stays).
demo: $(VENV)/.installed-run
	-$(BIN)/polrag ingest $(DOCS)
	$(BIN)/polrag search "$(QUERY)"

test: $(VENV)/.installed-test ocr-packages browser-packages
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/pip install -q ruff mypy
	$(BIN)/ruff check rag ingest api tests bench
	$(BIN)/mypy rag ingest api

install: $(VENV)/.installed-run

# Tesseract + Polish model for the OCR tests, where this machine allows it (root with apt).
ocr-packages:
	-.ci/install-ocr

# Debian's Chromium for the web page's browser tests (Playwright drives it; it downloads nothing).
browser-packages:
	-.ci/install-browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e '.[cpu]'
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e '.[cpu,test]'
	touch $@
