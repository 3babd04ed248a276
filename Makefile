# The two commands of the README: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test install system-deps lint bench clean

# Train and register the default model when there is none, create an admin key when there is none (printed
# once, last line), then serve the API and the review pages on 127.0.0.1:8000 (TRIAGE_PORT to change).
run: install
	$(BIN)/triage init
	$(BIN)/triage keys create --role admin --name admin --if-none
	$(BIN)/triage serve

test: install
	$(BIN)/ruff check triage training serving tests bench
	$(BIN)/mypy triage training serving
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

install: $(STAMP)

# torch first, pinned: the machine has a local CPU wheel of 2.13.0; anything else makes pip resolve a
# multi-GB CUDA build when sentence-transformers asks for torch.
$(STAMP): pyproject.toml
	$(MAKE) system-deps
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[train,serve,st,spark,dev]'
	touch $(STAMP)

# Debian packages: a CJK font (category names in plots and screenshots), Chromium (the browser test drives it
# through Playwright, which must not download a browser of its own), wrk (the HTTP load of `python -m bench`) and a
# Java runtime (PySpark: `triage backtest --engine spark` and its tests).
# Best effort: root + apt only.
system-deps:
	@missing=""; \
	fc-list 2>/dev/null | grep -qi 'wenquanyi' || missing="$$missing fonts-wqy-microhei"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	if [ -n "$$missing" ]; then \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
			|| echo "note: could not install$$missing"; \
		else echo "note: please install$$missing (Debian packages)"; fi; \
	fi

lint: install
	$(BIN)/ruff check triage training serving tests bench
	$(BIN)/mypy triage training serving
	$(BIN)/lint-imports

bench: install
	$(BIN)/python -m bench.core

clean:
	rm -rf $(VENV) build *.egg-info
