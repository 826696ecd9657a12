"""Real server and worker processes for end-to-end tests, sharing the test database."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from django.conf import settings as django_settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class BearerAuth(httpx.Auth):
    """An API key, as httpx's `auth=`."""

    def __init__(self, key: str):
        self.key = key

    def auth_flow(self, request):
        request.headers["Authorization"] = f"Bearer {self.key}"
        yield request


def staff_api_key(django_user_model, username: str) -> BearerAuth:
    """A staff user of the test database and an API key for it."""
    from access.services import api_key_create

    user = django_user_model.objects.create_user(username, is_staff=True)
    return BearerAuth(api_key_create(user=user, name="end-to-end test")[1])


def test_database_url() -> str:
    """The URL of the database this test process is using (the test database, not the real one)."""
    params = connection.settings_dict
    if connection.vendor == "postgresql":
        user = params.get("USER") or "postgres"
        auth = f"{user}:{params['PASSWORD']}" if params.get("PASSWORD") else user
        return f"postgres://{auth}@{params.get('HOST') or '127.0.0.1'}:{params.get('PORT') or 5432}/{params['NAME']}"
    if connection.vendor == "sqlite":
        return f"sqlite:///{params['NAME']}"
    raise RuntimeError(f"no URL for database vendor {connection.vendor}")


def process_env(tmp_path: Path, *, settings: dict | None = None, **extra) -> dict:
    """The environment of a server or worker process sharing this test's database, and its data
    folder (media and index: tests/conftest.py puts this process's there too). `extra` are
    environment variables; `settings` are settings put over the product's (tests/settings.py)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        DATABASE_URL=test_database_url(),
        RAGSITE_DATA_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="tests.settings",
        RAGSITE_TEST_SETTINGS=json.dumps(settings or {}),
        PYTHONUNBUFFERED="1",
        DEBUG="false",
        SECRET_KEY="e2e-test-secret",
        # The models this test run fetched or exported already (the ONNX export of the embedding
        # model costs each fresh folder a few seconds of torch): a test of a fresh one names its own.
        RAGSITE_MODELS_DIR=os.environ.get("RAGSITE_MODELS_DIR") or str(django_settings.RAGSITE_MODELS_DIR),
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


@contextmanager
def running(args: list[str], env: dict, log: Path):
    """Run a process in its own process group; stop the whole group afterwards."""
    with log.open("ab") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen, sig=signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def self_signed_certificate(folder: Path) -> tuple[str, str]:
    """A certificate for 127.0.0.1 signed by its own key, for a test server speaking HTTPS (a
    client trusts it by naming the certificate file as its CA): (certificate file, key file)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ragsite test server")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    return str(cert_file), str(key_file)


def sweeps_every(seconds: float) -> dict:
    """A CELERY_BEAT_SCHEDULE whose sweeps (lost documents, pending index rebuilds) run this often."""
    from django.conf import settings

    return {name: {**entry, "schedule": seconds} for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}


def worker_args(*extra: str) -> list[str]:
    return [str(BIN / "celery"), "-A", "ragsite", "worker", "--loglevel=INFO", "--without-mingle", "--without-gossip", *extra]


def web_args(port: int) -> list[str]:
    return [str(BIN / "uvicorn"), "ragsite.asgi:application", "--host", "127.0.0.1", "--port", str(port)]


def wait_http(url: str, timeout: float = 60, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not come up in {timeout} s" + (f"; log:\n{log.read_text()[-3000:]}" if log else ""))


def wait_for(predicate, *, timeout: float, interval: float = 0.3, what: str = "condition", log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    tail = f"\nlog:\n{log.read_text()[-4000:]}" if log and log.exists() else ""
    raise AssertionError(f"timed out after {timeout} s waiting for {what}{tail}")


def require_production_services(redis_url: str) -> str:
    """Skip (or, in CI, fail) unless the test database is PostgreSQL and Redis answers at
    redis_url; that Redis database is emptied, so nothing is left from an earlier run."""
    import pytest
    import redis

    problems = []
    if connection.vendor != "postgresql":
        problems.append(f"the test database is {connection.vendor}, not PostgreSQL (set DATABASE_URL)")
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=2).flushdb()
    except redis.RedisError as exc:
        problems.append(f"Redis at {redis_url} is not reachable: {exc}")
    if problems:
        message = "production path needs PostgreSQL and Redis: " + "; ".join(problems)
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return redis_url


class RedisServer:
    """A throw-away redis-server of a test's own, on a free port: stopping it is a broker that
    really goes down, without touching the Redis other tests share."""

    def __init__(self, folder: Path):
        import shutil

        self.binary = shutil.which("redis-server")
        self.folder = folder
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redis

        self.folder.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.folder)]
        with (self.folder / "redis.log").open("ab") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: _pings(redis.Redis(port=self.port, socket_connect_timeout=0.5)), timeout=10, what="redis-server")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, sig=signal.SIGKILL)  # as a crash: nothing saved, connections cut
            self.proc = None


def _pings(client) -> bool:
    import redis

    try:
        return client.ping()
    except redis.RedisError:
        return False
