# `make demo` and `make test` set everything up on a fresh machine (Python >= 3.10 needed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# llama.cpp built portably: the native build (AVX-512/AMX detected) crashes in decode on
# some of our machines; these flags build everywhere with AVX2 and run fast on 2 cores.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
  -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_OPENMP=OFF

.PHONY: setup demo test lab bench lint notebooks docs clean browser-deps postgres-deps \
  vendor-sdks

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[local,dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/python scripts/demo.py

# the browser test drives JupyterLab in Debian's Chromium (no browser download)
browser-deps:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium for the browser test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# the team-ledger tests start their own PostgreSQL server from Debian's package
postgres-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian's postgresql for the team-ledger tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

# the zhipuai SDK, for the tests that run its code beside our drop-in: it pins PyJWT 2.8 while
# zai-sdk (a dev dependency) needs 2.9+, so it lives outside the venv, without its dependencies
VENDOR_SDKS := build/vendor-sdks
$(VENDOR_SDKS)/zhipuai: | setup
	$(BIN)/python -m pip install -q --no-deps --target $(VENDOR_SDKS) zhipuai==2.1.5.20250825

vendor-sdks: $(VENDOR_SDKS)/zhipuai

test: setup browser-deps postgres-deps vendor-sdks
	mkdir -p build && (git status --porcelain 2>/dev/null || true) > build/tree-before.txt
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	rm -f build/reliability.json
	$(BIN)/python -m pytest -q -p no:cacheprovider tests
	$(BIN)/python scripts/reliability.py
	mkdir -p build && rm -f build/nb-ledger.sqlite*
	env -u ZHIPUAI_API_KEY -u ZHIPUAI_BASE_URL -u OPENAI_API_KEY -u QIANFAN_AK -u DASHSCOPE_API_KEY \
	  GLM_MAGIC_LEDGER=$(CURDIR)/build/nb-ledger.sqlite \
	  $(BIN)/python -m pytest -q -p no:cacheprovider --nbval-lax notebooks
	$(MAKE) docs
	@(git status --porcelain 2>/dev/null || true) > build/tree-after.txt; \
	  cmp -s build/tree-before.txt build/tree-after.txt || { \
	    echo "make test changed files git tracks or sees (generated files must be ignored or"; \
	    echo "regenerated identically):"; diff build/tree-before.txt build/tree-after.txt; exit 1; }

# the docs site, built offline into build/site: the README, docs/, the tutorials executed on
# the local model and FakeGLM (outputs included), and the API reference from the docstrings
docs: setup
	rm -rf build/site-src build/site build/docs-ledger.sqlite* && mkdir -p build/site-src
	sed -e 's#](docs/#](#g' -e 's#](notebooks/#](#g' -e 's#](bench/README.md)#](benchmarks.md)#g' \
	  README.md > build/site-src/index.md
	cp docs/*.md docs/*.png notebooks/*.ipynb notebooks/*.glm-cache.sqlite build/site-src/
	cp bench/README.md build/site-src/benchmarks.md
	env -u ZHIPUAI_API_KEY -u ZHIPUAI_BASE_URL -u OPENAI_API_KEY -u QIANFAN_AK -u DASHSCOPE_API_KEY \
	  NO_MKDOCS_2_WARNING=1 GLM_MAGIC_LEDGER=$(CURDIR)/build/docs-ledger.sqlite \
	  $(BIN)/mkdocs build -q --strict
	@test -s build/site/index.html && echo "docs site: build/site/index.html"

lab: setup
	$(BIN)/jupyter lab $$( [ "$$(id -u)" = 0 ] && echo --allow-root ) notebooks/

# peers (openai, zhipuai, litellm) live in the `bench` extra, never in the runtime deps
bench: setup vendor-sdks
	$(BIN)/python -m pip install -q -e '.[local,dev,bench]'
	PYTHONPATH=$(VENDOR_SDKS) $(BIN)/python bench/run.py

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports

# the tutorials are written as percent-format .py files; this writes the paired .ipynb
notebooks: setup
	$(BIN)/jupytext --sync notebooks/*.py

clean:
	rm -rf build .pytest_cache
