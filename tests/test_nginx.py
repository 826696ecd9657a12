"""The nginx site of docs/deployment.md, run as written there under Debian's nginx: over HTTPS
(a certificate made here), in front of a real uvicorn and a real `celery worker` on the
production path (PostgreSQL + Redis). Only what a test must change is changed: ports, the
server name, the certificate and the media folder.

Issue 37: the site documented before had no client_max_body_size, so nginx refused every PDF
over 1 MB with an HTML 413 page of its own."""

import json
import os
import re
import shutil
import ssl
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests import pdfs
from tests.fake_vendors import FakeVendor, Script
from tests.processes import (
    free_port,
    process_env,
    require_production_services,
    running,
    self_signed_certificate,
    staff_api_key,
    wait_for,
    wait_http,
    web_args,
    worker_args,
)

ROOT = Path(__file__).resolve().parent.parent
DEPLOYMENT = ROOT / "docs" / "deployment.md"
REDIS_URL = os.environ.get("RAGSITE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

PAGES = [
    "Aurora kettle AK-2, user guide. Fill it with fresh water up to the MAX mark before use.",
    "Warranty. The Aurora kettle AK-2 has a warranty of five years from the date of purchase.",
    "Descaling. Descale the kettle every month with citric acid when the water is hard.",
]
TOKENS = ["The", " warranty", " lasts", " five", " years", " (page", " 2)", "."]
TOKEN_DELAY = 0.4  # seconds the fake model waits before each token


def documented_site() -> str:
    """The one ```nginx block of docs/deployment.md."""
    blocks = re.findall(r"```nginx\n(.*?)```", DEPLOYMENT.read_text(), re.S)
    assert len(blocks) == 1, f"docs/deployment.md has {len(blocks)} nginx blocks"
    return blocks[0]


def site_for_this_test(site: str, *, http_port: int, https_port: int, upstream_port: int, media: Path,
                       certificate: str, key: str) -> str:
    """The documented site with what must change for a test changed; each change must find what
    it replaces, so a rewritten block fails here instead of being tested half."""
    changes = [
        (r"listen 80;", f"listen 127.0.0.1:{http_port};"),
        (r"listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        (r"ssl_certificate \S+;", f"ssl_certificate {certificate};"),
        (r"ssl_certificate_key \S+;", f"ssl_certificate_key {key};"),
        (r"server_name rag\.example\.com;", "server_name 127.0.0.1;"),
        (r"http://127\.0\.0\.1:8000;", f"http://127.0.0.1:{upstream_port};"),
        (r"alias /srv/ragsite/media/;", f"alias {media}/;"),
    ]
    for pattern, replacement in changes:
        site, count = re.subn(pattern, replacement, site)
        assert count, f"the documented nginx block has no {pattern!r} any more: update this test"
    assert not re.search(r"rag\.example\.com|/srv/|:8000\b|letsencrypt", site), site
    return site


def nginx_conf(prefix: Path, site: str) -> str:
    """nginx.conf around the site, as Debian's /etc/nginx/nginx.conf wraps sites-enabled/, with
    every file nginx writes under `prefix`."""
    # Run by root, nginx's workers would be `nobody`, who cannot read the test's private folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {prefix / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (
        f"{user}worker_processes 1;\npid {prefix / 'nginx.pid'};\nerror_log {prefix / 'error.log'} info;\n"
        "events { worker_connections 256; }\n"
        "http {\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
        f"    access_log {prefix / 'access.log'};\n{temp}\n{site}}}\n"
    )


def read_events(response: httpx.Response) -> list[tuple[float, dict]]:
    """The stream's events as (when it arrived, its data), read from the socket as they come."""
    events, buffer = [], b""
    for piece in response.iter_raw():
        arrived = time.monotonic()
        buffer += piece
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            data = [line[len(b"data: "):] for line in event.split(b"\n") if line.startswith(b"data: ")]
            if data:
                events.append((arrived, json.loads(data[0])))
    return events


def body_limit_bytes(site: str) -> int:
    size = re.search(r"client_max_body_size (\d+)([kmg]?);", site, re.I)
    assert size, "the documented site sets no client_max_body_size: nginx would refuse bodies over 1 MB"
    return int(size.group(1)) * 1024 ** " kmg".index(size.group(2).lower() or " ")


@pytest.fixture
def production_services():
    return require_production_services(REDIS_URL)


@pytest.mark.production
@pytest.mark.django_db(transaction=True)
def test_the_documented_nginx_site_takes_a_big_upload_streams_answers_and_sends_the_pdfs(
    tmp_path, production_services, django_user_model, settings
):
    if not os.path.exists(NGINX):
        message = "nginx is not installed (make setup-dev installs Debian's)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    auth = staff_api_key(django_user_model, "nginx-staff")
    site = documented_site()
    assert body_limit_bytes(site) > settings.RAGSITE_MAX_UPLOAD_MB * 1024 * 1024  # the app decides, with a reason

    http_port, https_port, web_port = free_port(), free_port(), free_port()
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    certificate, key = self_signed_certificate(prefix)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, site_for_this_test(
        site, http_port=http_port, https_port=https_port, upstream_port=web_port, media=tmp_path / "var" / "media",
        certificate=certificate, key=key,
    )))
    nginx = [NGINX, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)]
    tested = subprocess.run([*nginx, "-t"], capture_output=True, text=True, timeout=30, check=False)
    assert tested.returncode == 0, tested.stderr + conf.read_text()

    log = tmp_path / "processes.log"
    with ExitStack() as stack:
        # The answers come from an OpenAI-compatible model that takes its time over each token,
        # so a stream that nginx held back would arrive all at once at the end.
        vendor = stack.enter_context(FakeVendor("openai", Script(tokens=TOKENS, delay=TOKEN_DELAY)))
        env = process_env(
            tmp_path, settings={"RAGSITE_SEARCH_BACKEND": {
                "BACKEND": "documents.search.embedded.EmbeddedIndexBackend", "OPTIONS": {"version_check_seconds": 0}}},
            CELERY_BROKER_URL=production_services, RAGSITE_RERANKER_MODEL="off",
            RAGSITE_LLM="openai", RAGSITE_LLM_BASE_URL=vendor.base_url("openai"), RAGSITE_LLM_MODEL="fake-model",
            RAGSITE_LLM_API_KEY="test-key",
            # The production environment of docs/deployment.md, for this host.
            ALLOWED_HOSTS="127.0.0.1", CSRF_TRUSTED_ORIGINS=f"https://127.0.0.1:{https_port}",
            RAGSITE_HTTPS="true", RAGSITE_PROXIES="1", RAGSITE_ANONYMOUS_QUERIES="false",
            RAGSITE_FILES_SENDFILE="X-Accel-Redirect",
        )
        stack.enter_context(running(worker_args("--concurrency=1"), env, log))
        stack.enter_context(running(web_args(web_port), env, log))
        stack.enter_context(running([*nginx, "-g", "daemon off;"], env, log))
        upstream = f"http://127.0.0.1:{web_port}"
        wait_http(upstream + "/api/schema/", timeout=120, log=log)
        wait_http(f"http://127.0.0.1:{http_port}/", timeout=30, log=prefix / "error.log")

        # Plain HTTP is sent to HTTPS by nginx itself.
        plain = httpx.get(f"http://127.0.0.1:{http_port}/api/documents/", timeout=10)
        assert plain.status_code == 301 and plain.headers["location"] == "https://127.0.0.1/api/documents/"

        client = stack.enter_context(httpx.Client(
            base_url=f"https://127.0.0.1:{https_port}", auth=auth, verify=ssl.create_default_context(cafile=certificate),
            timeout=httpx.Timeout(60, connect=10),
        ))

        # A 20 MB PDF goes through (nginx's default limit is 1 MB), and is ingested.
        data = pdfs.padded_pdf(PAGES, megabytes=20)
        uploaded = client.post("/api/documents/", files={"file": ("aurora-kettle.pdf", data, "application/pdf")})
        assert uploaded.status_code == 201, uploaded.text[:2000]
        # The app saw HTTPS through X-Forwarded-Proto (else RAGSITE_HTTPS would redirect), and
        # answers with nginx's request id.
        assert "max-age=31536000" in uploaded.headers["strict-transport-security"]
        assert re.fullmatch(r"[0-9a-f]{32}", uploaded.headers["x-request-id"])
        document_id = uploaded.json()["id"]

        def searchable():
            body = client.get(f"/api/documents/{document_id}/").json()
            assert body["status"] != "failed", body
            return body if body["status"] == "ready" and body["searchable"] else None

        document = wait_for(searchable, timeout=180, interval=1, what="the 20 MB PDF to be ingested and indexed", log=log)
        assert document["size_bytes"] == len(data) and document["page_count"] == 3

        # An answer streams through nginx event by event: each token arrives when the model sends it.
        with client.stream("POST", "/query/stream", json={"question": "How long is the Aurora kettle's warranty?"}) as response:
            assert response.status_code == 200, response.read()[:2000]
            assert response.headers["content-type"].startswith("text/event-stream")
            events = read_events(response)
        tokens = [(arrived, event["token"]) for arrived, event in events if "token" in event]
        assert "".join(token for _, token in tokens) == "".join(TOKENS), events
        # Held back, they would arrive within microseconds of each other; the median, so that
        # one token late on a busy machine (and the next on time) does not fail the test.
        gaps = sorted(later - earlier for (earlier, _), (later, _) in zip(tokens, tokens[1:]))
        assert gaps[len(gaps) // 2] > TOKEN_DELAY / 2, f"tokens arrived together: gaps {gaps}"
        assert events[-1][1]["done"] is True
        sources = next(event["sources"] for _, event in events if "sources" in event)
        assert sources and sources[0]["page"] == 2, sources

        # The PDF: the app checks who asks and names the file; nginx sends the bytes.
        file_url = document["file_url"]
        name = file_url.removeprefix("/files/")
        from_app = httpx.get(upstream + file_url, auth=auth, headers={"X-Forwarded-Proto": "https"}, timeout=10)
        assert from_app.status_code == 200 and from_app.content == b""
        assert from_app.headers["x-accel-redirect"] == f"/protected-files/{name}"
        fetched = client.get(file_url)
        assert fetched.status_code == 200 and fetched.content == data
        assert fetched.headers["content-type"] == "application/pdf"
        assert "x-accel-redirect" not in fetched.headers
        assert 'filename="aurora-kettle.pdf"' in fetched.headers["content-disposition"]
        part = client.get(file_url, headers={"Range": "bytes=1000-1999"})  # nginx's own file serving
        assert part.status_code == 206 and part.content == data[1000:2000]
        assert client.get(f"/protected-files/{name}").status_code == 404  # internal: never asked for directly
        assert client.get(file_url, auth=None).status_code in (401, 403)  # and the app still decides who

        # A body over the app's own limit (JSON, 5 MB) reaches the app, which refuses it in JSON.
        too_big = client.post("/query", content=b'{"question": "' + b"x" * (6 * 1024 * 1024) + b'"}',
                              headers={"Content-Type": "application/json"})
        assert too_big.status_code == 413 and too_big.headers["content-type"] == "application/json", too_big.text[:500]
        assert too_big.json()["detail"] == "The request body is larger than this server accepts."
