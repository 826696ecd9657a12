"""Timing is no oracle: what a request about a document the asker may not read costs, beside the
same request about one that does not exist, on every path that takes a name or an id from the asker.

    .venv/bin/python bench/access.py [--requests 400] [--documents 2000] [--database-url URL] [--output DIR]

A throw-away database holds --documents documents, half in a public collection and half in one
of a group the asker (an API key of a staff user, no superuser) is not in. Each pair of requests below is
sent in random interleaved order through Django's test client, so both kinds meet the same state
of the machine; it prints p50 and p95 of each, and how far the p50s lie apart:

- POST /query naming a collection: one the asker may not read, and a slug that names none (404);
- POST /query naming a document id: one in that collection, and an id no document has (400);
- GET /files/<name>: the file of such a document, and a name no document has (404);
- GET /api/documents/<id>/: such a document, and an id none has (404).

Nothing is retrieved or answered in any of them: each is refused before the search, as it should be.
"""

import argparse
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.query import setup_django  # noqa: E402  (a throw-away database)


def corpus_make(documents: int) -> dict:
    """The collections, documents, user and key the requests ask about."""
    from django.contrib.auth.models import Group, User

    from access.services import api_key_create
    from documents.models import Collection, Document, general_collection_id

    hr = Collection.objects.create(slug="hr", name="HR", visibility=Collection.Visibility.GROUPS)
    hr.groups.add(Group.objects.create(name="hr-team"))
    general = general_collection_id()
    Document.objects.bulk_create(
        Document(title=f"Document {n}", file=f"documents/bench/doc-{n}.pdf", original_filename=f"doc-{n}.pdf",
                 sha256=f"{n:064x}", status=Document.Status.READY, collection_id=hr.pk if n % 2 else general)
        for n in range(documents)
    )
    unreadable = Document.objects.filter(collection=hr).order_by("?").first()
    user = User.objects.create_user("bench-reader", is_staff=True)  # the document API is staff's
    _, key = api_key_create(user=user, name="bench")
    missing_id = Document.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000
    return {"key": key, "unreadable": unreadable, "missing_id": missing_id}


def pairs(corpus: dict) -> dict:
    """For each path: (what the request looks like for an unreadable document, for a missing one)."""
    unreadable = corpus["unreadable"]
    question = "What does the handbook say about leave?"
    return {
        "query, collection": (("post", "/query", {"question": question, "collections": ["hr"]}, 404),
                              ("post", "/query", {"question": question, "collections": ["nowhere"]}, 404)),
        "query, document id": (("post", "/query", {"question": question, "document_ids": [unreadable.pk]}, 400),
                               ("post", "/query", {"question": question, "document_ids": [corpus["missing_id"]]}, 400)),
        "files": (("get", f"/files/{unreadable.file.name}", None, 404),
                  ("get", "/files/documents/bench/doc-none.pdf", None, 404)),
        "document API": (("get", f"/api/documents/{unreadable.pk}/", None, 404),
                         ("get", f"/api/documents/{corpus['missing_id']}/", None, 404)),
    }


def request_time(client, request, headers: dict) -> float:
    """Milliseconds for one request; the status must be the one expected."""
    method, path, body, status = request
    started = time.perf_counter()
    if method == "post":
        response = client.post(path, data=json.dumps(body), content_type="application/json", headers=headers)
    else:
        response = client.get(path, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != status:
        raise SystemExit(f"{method.upper()} {path}: {response.status_code}, expected {status}: {response.content[:200]!r}")
    return elapsed


def measure(corpus: dict, requests: int, seed: int = 7) -> dict:
    from django.test import Client

    client = Client()
    headers = {"Authorization": f"Bearer {corpus['key']}"}
    rng = random.Random(seed)
    figures = {}
    for name, (unreadable, missing) in pairs(corpus).items():
        for request in (unreadable, missing):  # warm both paths before timing either
            for _ in range(20):
                request_time(client, request, headers)
        order = ["unreadable", "missing"] * requests
        rng.shuffle(order)
        times = {"unreadable": [], "missing": []}
        for which in order:
            times[which].append(request_time(client, unreadable if which == "unreadable" else missing, headers))
        row = {}
        for which, values in times.items():
            values.sort()
            row[which] = {"p50_ms": round(statistics.median(values), 3),
                          "p95_ms": round(values[int(0.95 * (len(values) - 1))], 3)}
        row["p50_difference_ms"] = round(row["unreadable"]["p50_ms"] - row["missing"]["p50_ms"], 3)
        figures[name] = row
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="requests of each kind per path (default 400)")
    parser.add_argument("--documents", type=int, default=2000, help="documents in the database (default 2000)")
    parser.add_argument("--database-url", default="", help="PostgreSQL (a database this may create tables in); SQLite when absent")
    parser.add_argument("--output", type=Path, metavar="DIR", help="also write the figures to DIR (docs/results/)")
    args = parser.parse_args()

    os.environ["RAGSITE_THROTTLE_QUERY_USER"] = "off"  # 800 questions a path: the throttle is not what is measured
    workdir = Path(tempfile.mkdtemp(prefix="ragsite-bench-access-"))
    setup_django(workdir, args.database_url)
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client's hosts
    logging.getLogger("django.request").setLevel(logging.ERROR)  # a line for each of thousands of 404s
    call_command("migrate", verbosity=0)
    corpus = corpus_make(args.documents)
    figures = measure(corpus, args.requests)

    print(f"{args.requests} requests of each kind per path, {args.documents} documents, "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}; milliseconds")
    print(f"{'path':<20}{'unreadable p50':>16}{'missing p50':>13}{'unreadable p95':>16}{'missing p95':>13}{'p50 apart':>11}")
    for name, row in figures.items():
        print(f"{name:<20}{row['unreadable']['p50_ms']:>16.2f}{row['missing']['p50_ms']:>13.2f}"
              f"{row['unreadable']['p95_ms']:>16.2f}{row['missing']['p95_ms']:>13.2f}{row['p50_difference_ms']:>+11.2f}")
    if args.output is not None:
        from querying.management.results import Table, results_write

        rows = [[name, row["unreadable"]["p50_ms"], row["missing"]["p50_ms"], row["unreadable"]["p95_ms"],
                 row["missing"]["p95_ms"], row["p50_difference_ms"]] for name, row in figures.items()]
        report = {"requests": args.requests, "documents": args.documents,
                  "database": "postgresql" if args.database_url else "sqlite", "paths": figures}
        table = Table("Requests about an unreadable document and a missing one (ms)",
                      ["path", "unreadable p50", "missing p50", "unreadable p95", "missing p95", "p50 apart"], rows)
        for path in results_write(args.output, "bench-access", report, [table]):
            print(f"written: {path}")


if __name__ == "__main__":
    main()
