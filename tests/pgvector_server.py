"""Start (or find running) a PostgreSQL 16 with pgvector from the pgserver wheel, and print its
DATABASE_URL base. Debian's PostgreSQL here has no pgvector package; the wheel bundles both.

    .venv/bin/python tests/pgvector_server.py [DATA_DIR]   ->  postgres://postgres@%2F...%2Fpgvector-data

The server keeps running after this exits (as `make services` leaves PostgreSQL running); a second
call finds it. `make test` uses it for the retrieval tests of the PostgreSQL search backend.
"""

import sys
from pathlib import Path
from urllib.parse import quote


def main() -> None:
    import pgserver  # pgserver==0.1.4 (requirements-dev.txt): PostgreSQL 16.2, pgvector 0.6.2

    data = Path(sys.argv[1] if len(sys.argv) > 1 else Path.home() / ".cache" / "ragsite-pgvector").resolve()
    data.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data, cleanup_mode=None)  # keep it running for later calls
    server.psql("CREATE EXTENSION IF NOT EXISTS vector;")
    print(f"postgres://postgres@{quote(str(data), safe='')}")


if __name__ == "__main__":
    main()
