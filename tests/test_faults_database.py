"""PostgreSQL restarted under a running server: requests during the outage get 503 JSON with
Retry-After (not a 500), and the server answers again once the database is back, with no restart.

The cluster is a throw-away one of this test's own (Debian's PostgreSQL binaries, initdb into a
temporary folder, its own port): the shared one other tests use is never stopped."""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.processes import ROOT, free_port, process_env, running, wait_for, wait_http, web_args

PG_BIN_DIRS = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(Path(path).parent.name))


@dataclass
class Cluster:
    bindir: Path
    data: Path
    socket_dir: Path
    log: Path
    port: int
    run_as: list[str]

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run([*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args], check=True,
                       stdout=subprocess.DEVNULL, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.pg_ctl("-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")


@pytest.fixture
def own_postgres():
    """A PostgreSQL cluster of this test's own, started; stopped and removed afterwards."""
    if not PG_BIN_DIRS or not (Path(PG_BIN_DIRS[-1]) / "initdb").exists():
        pytest.skip("PostgreSQL's server binaries (/usr/lib/postgresql/*/bin/initdb) are not installed")
    # initdb and the server refuse to run as root: as root, they run as the postgres user.
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    work = Path(tempfile.mkdtemp(prefix="ragsite-pg-"))
    if run_as:
        shutil.chown(work, "postgres")
    cluster = Cluster(Path(PG_BIN_DIRS[-1]), work / "data", work, work / "server.log", free_port(), run_as)
    subprocess.run([*run_as, str(cluster.bindir / "initdb"), "-D", str(cluster.data), "-U", "postgres", "--auth=trust",
                    "-E", "UTF8", "--no-sync"], check=True, stdout=subprocess.DEVNULL, timeout=120)
    cluster.start()
    try:
        yield cluster
    finally:
        try:
            cluster.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(work, ignore_errors=True)


SETUP = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from django.contrib.auth import get_user_model
from access.services import api_key_create
user = get_user_model().objects.create_user("ops", is_staff=True)
print(api_key_create(user=user, name="restart test")[1])
"""


def test_requests_get_503_while_postgresql_restarts_and_the_server_recovers_by_itself(tmp_path, own_postgres):
    env = process_env(tmp_path, DATABASE_URL=own_postgres.url, settings={"RAGSITE_PRELOAD": False})
    key = subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True,
                         timeout=300).stdout.split()[-1]
    auth = {"Authorization": f"Bearer {key}"}
    port, log = free_port(), tmp_path / "server.log"
    with running(web_args(port), env, log):
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/api/schema/", log=log)
        assert httpx.get(f"{base}/api/documents/", headers=auth, timeout=10).status_code == 200
        # A stream's database calls run on the web process's thread pools (querying.offload),
        # not on the request's thread: they must come back after the restart too.
        assert httpx.post(f"{base}/query/stream", headers=auth, json={"question": "q"}, timeout=10).status_code == 200

        own_postgres.stop()
        for method, path in (("GET", "/api/documents/"), ("POST", "/query"), ("POST", "/query/stream")):
            response = httpx.request(method, base + path, headers=auth, json={"question": "q"}, timeout=10)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["Content-Type"] == "application/json" and int(response.headers["Retry-After"]) > 0
            assert response.json()["code"] == "database_unavailable"
        assert "database unavailable for GET /api/documents/" in log.read_text()

        own_postgres.start()
        back = time.monotonic()
        # The same server process, not restarted: the next request opens a new connection.
        seen = []

        def stream_status():
            response = httpx.post(f"{base}/query/stream", headers=auth, json={"question": "q"}, timeout=10)
            assert response.status_code != 200 or '"error"' not in response.text, response.text
            return response.status_code

        def answered():
            statuses = [
                httpx.get(f"{base}/api/documents/", headers=auth, timeout=10).status_code,
                stream_status(),
            ]
            seen.extend(statuses)
            return statuses == [200, 200]

        wait_for(answered, timeout=30, what="the server to answer again", log=log)
        assert set(seen) <= {200, 503} and time.monotonic() - back < 10
        for _ in range(5):  # and it stays answering: no pool thread is left on a broken connection
            assert answered(), seen
        assert "Traceback" not in log.read_text()
