# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install system-deps lint bench clean

run: install
	$(BIN)/triage init
	$(BIN)/triage demo

test: install
	$(BIN)/ruff check triage tests bench
	$(BIN)/mypy triage
	$(BIN)/python -m pytest

install: $(STAMP)

# torch first, pinned: the machine has a local CPU wheel of 2.13.0; anything else makes pip resolve a
# multi-GB CUDA build when sentence-transformers asks for torch.
$(STAMP): pyproject.toml
	$(MAKE) system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[st,dev]'
	touch $(STAMP)

# A CJK font so the confusion-matrix PNG shows category names; best effort (root + apt only).
system-deps:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && ! fc-list 2>/dev/null | grep -qi 'wenquanyi\|noto sans cjk'; then \
		(apt-get update -qq && apt-get install -y -qq fonts-wqy-microhei >/dev/null) \
		|| echo "note: could not install fonts-wqy-microhei; plots will show boxes for Chinese labels"; \
	fi

lint: install
	$(BIN)/ruff check triage tests bench
	$(BIN)/mypy triage

bench: install
	$(BIN)/python -m bench.core

clean:
	rm -rf $(VENV) build *.egg-info
