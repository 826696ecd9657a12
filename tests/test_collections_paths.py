"""Collections enforced on every path a passage, a title, a count or a file can leave by: POST
/query, POST /query/stream, /files, /api/search/ and its status, /api/documents/, conversations
and their follow-ups, and the errors of each. The public document and the HR one both answer
the question asked, so a filter that is missing anywhere shows."""

import io
import json

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from access.models import ApiKey
from access.services import api_key_create
from documents.models import Collection, Document
from tests.collections_corpus import assert_no_leak, ingest_text, secrets_of
from tests.fake_vendors import Script
from tests.test_query_endpoints import _answer_settings, fake_openai, parse_sse  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "How long is the notice period?"
MARKER = "ZQX-41"
PUBLIC_TEXT = "The notice period for returning a kettle is fourteen days from delivery."
HR_TEXT = f"The notice period for staff is three months. The staff reference code is {MARKER}."


@pytest.fixture
def corpus(db):
    team = Group.objects.create(name="hr-team")
    hr = Collection.objects.create(slug="hr", name="HR", visibility=Collection.Visibility.GROUPS)
    hr.groups.add(team)
    public = ingest_text("Kettle Returns", PUBLIC_TEXT, rebuild=False)
    secret = ingest_text("Confidential Staff Handbook", HR_TEXT, collection=hr)
    return {"team": team, "hr": hr, "public": public, "secret": secret, "secrets": secrets_of(secret)}


def client_for(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def post(client, path, body, **extra):
    return client.post(path, json.dumps(body), content_type="application/json", **extra)


@pytest.fixture
def member(corpus, django_user_model):
    user = django_user_model.objects.create_user("hanna")
    user.groups.add(corpus["team"])
    return user


def test_an_asker_outside_the_collection_gets_nothing_of_it_from_either_endpoint(corpus, django_user_model):
    outsider = django_user_model.objects.create_user("otto")
    for client in (client_for(), client_for(outsider)):
        answer = post(client, "/query", {"question": QUESTION, "top_k": 5})
        assert answer.status_code == 200
        assert [s["document_id"] for s in answer.json()["sources"]] == [corpus["public"].pk]
        assert_no_leak(answer.content, corpus["secrets"], MARKER, "/query")
        stream = post(client, "/query/stream", {"question": QUESTION, "top_k": 5})
        events = b"".join(stream)
        assert stream.status_code == 200 and b'"sources"' in events
        assert_no_leak(events, corpus["secrets"], MARKER, "/query/stream")


def test_a_member_reads_it_and_may_narrow_a_question_to_it(corpus, member):
    client = client_for(member)
    both = post(client, "/query", {"question": QUESTION, "top_k": 5}).json()
    assert {s["document_id"] for s in both["sources"]} == {corpus["public"].pk, corpus["secret"].pk}
    narrowed = post(client, "/query", {"question": QUESTION, "top_k": 5, "collections": ["hr"]}).json()
    assert [s["document_id"] for s in narrowed["sources"]] == [corpus["secret"].pk]
    payloads, _, _ = parse_sse(b"".join(post(client, "/query/stream", {"question": QUESTION, "collections": ["hr"]})))
    kinds = [next(iter(p)) for p in payloads]
    assert kinds[0] == "conversation_id" and kinds[-1] == "done" and "sources" in kinds  # the SSE contract holds
    sources = next(p for p in payloads if "sources" in p)["sources"]
    assert [s["document_id"] for s in sources] == [corpus["secret"].pk]


def test_a_collection_one_may_not_read_is_refused_as_one_that_does_not_exist(corpus, django_user_model):
    outsider = client_for(django_user_model.objects.create_user("otto"))
    for path in ("/query", "/query/stream"):
        hidden = post(outsider, path, {"question": QUESTION, "collections": ["hr"]})
        missing = post(outsider, path, {"question": QUESTION, "collections": ["hr-archive"]})
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == {"detail": "No collection named 'hr'."}
        assert missing.json() == {"detail": "No collection named 'hr-archive'."}
    for bad in ("hr", [5], ["\x00"], ["\ud800"], ["a" * 65]):
        refused = post(outsider, "/query", {"question": QUESTION, "collections": bad})
        assert refused.status_code == 400 and "collections" in refused.json(), bad


def test_a_document_id_one_may_not_read_is_refused_as_one_that_does_not_exist(corpus, django_user_model):
    outsider = client_for(django_user_model.objects.create_user("otto"))
    secret_id, unknown_id = corpus["secret"].pk, corpus["secret"].pk + 1000
    for path in ("/query", "/query/stream"):
        hidden = post(outsider, path, {"question": QUESTION, "document_ids": [secret_id]})
        missing = post(outsider, path, {"question": QUESTION, "document_ids": [unknown_id]})
        assert hidden.status_code == missing.status_code == 400
        assert hidden.json() == {"document_ids": [f"No documents with the ids {secret_id}."]}
        assert missing.json() == {"document_ids": [f"No documents with the ids {unknown_id}."]}


def test_files_are_served_only_to_those_who_may_read_them(corpus, member, django_user_model):
    url = "/files/" + corpus["secret"].file.name
    nowhere = "/files/documents/no-such-file.md"
    for client in (client_for(), client_for(django_user_model.objects.create_user("otto"))):
        hidden, missing = client.get(url), client.get(nowhere)
        assert hidden.status_code == missing.status_code == 404 and hidden.content == missing.content
        text_view = client.get("/files/text/" + corpus["secret"].file.name)
        assert text_view.status_code == 404
        assert_no_leak(text_view.content, corpus["secrets"], MARKER, "/files/text")
    assert client_for(member).get(url).status_code == 200
    assert MARKER.encode() in client_for(member).get("/files/text/" + corpus["secret"].file.name).content


def test_staff_search_and_its_counts_cover_only_the_collections_they_read(corpus, django_user_model):
    staff = django_user_model.objects.create_user("sam", is_staff=True)
    client = client_for(staff)
    found = post(client, "/api/search/", {"query": "notice period staff reference code", "top_k": 10})
    assert found.status_code == 200 and [r["document_id"] for r in found.json()["results"]] == [corpus["public"].pk]
    assert_no_leak(found.content, corpus["secrets"], MARKER, "/api/search/")
    status = client.get("/api/search/status/").json()
    assert status["chunk_count"] == corpus["public"].chunk_count
    root = client_for(django_user_model.objects.create_user("root", is_staff=True, is_superuser=True))
    assert root.get("/api/search/status/").json()["chunk_count"] == corpus["public"].chunk_count + corpus["secret"].chunk_count


def test_the_document_api_lists_and_takes_uploads_only_in_readable_collections(corpus, django_user_model):
    staff = django_user_model.objects.create_user("sam", is_staff=True)
    client = client_for(staff)
    listed = client.get("/api/documents/").json()
    assert [d["id"] for d in listed["results"]] == [corpus["public"].pk] and listed["results"][0]["collection"] == "general"
    assert_no_leak(listed, corpus["secrets"], MARKER, "GET /api/documents/")
    assert client.get(f"/api/documents/{corpus['secret'].pk}/").status_code == 404
    assert client.delete(f"/api/documents/{corpus['secret'].pk}/").status_code == 404
    assert Document.objects.filter(pk=corpus["secret"].pk).exists()

    def upload(collection, content=b"# Memo\n\nA memo about the canteen.\n"):
        data = {"file": SimpleUploadedFile("memo.md", content)}
        return client.post("/api/documents/", {**data, "collection": collection} if collection else data)

    before = Document.objects.count()
    hidden, missing = upload("hr"), upload("no-such")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == {"detail": "No collection named 'hr'."}
    assert Document.objects.count() == before
    created = upload(None)
    assert created.status_code == 201 and created.json()["collection"] == "general"
    duplicate = upload("general", f"# Confidential Staff Handbook\n\n{HR_TEXT}\n".encode())
    assert duplicate.status_code == 409 and "duplicate_of" not in duplicate.json()
    assert_no_leak(duplicate.content, corpus["secrets"], MARKER, "a duplicate's 409")


def test_a_narrowed_api_key_reads_only_its_collections_and_a_revoked_one_nothing(corpus, member):
    open_key = api_key_create(user=member, name="all")[1]
    narrow_row, narrow_key = api_key_create(user=member, name="public only")
    narrow_row.collections.add(Collection.objects.get(slug="general"))

    def sources(key):
        response = Client().post("/query", json.dumps({"question": QUESTION}), content_type="application/json",
                                 HTTP_AUTHORIZATION=f"Bearer {key}")
        return response.status_code, {s["document_id"] for s in response.json().get("sources", [])}

    assert sources(open_key) == (200, {corpus["public"].pk, corpus["secret"].pk})
    assert sources(narrow_key) == (200, {corpus["public"].pk})
    narrow_row.collections.set([corpus["hr"]])
    assert sources(narrow_key) == (200, {corpus["secret"].pk})  # taken into account at once
    ApiKey.objects.filter(pk=narrow_row.pk).update(revoked_at="2026-01-01T00:00Z")
    assert sources(narrow_key)[0] == 401


def test_a_grant_removed_withholds_old_answers_and_keeps_follow_ups_from_reading_them(corpus, member):
    client = client_for(member)
    first = post(client, "/query", {"question": "What is the staff reference code?", "top_k": 1}).json()
    assert first["sources"][0]["document_id"] == corpus["secret"].pk and MARKER in first["answer"]
    conversation = first["conversation_id"]

    member.groups.remove(corpus["team"])  # the next request reads the grants again

    shown = client.get(f"/api/conversations/{conversation}/").json()
    assert shown["messages"][0]["sources"][0]["removed"] is True
    assert_no_leak(shown, corpus["secrets"], MARKER, "a conversation")
    follow = post(client, "/query", {"question": "and for managers?", "conversation_id": conversation}).json()
    assert_no_leak(follow, corpus["secrets"], MARKER, "a follow-up")
    assert_no_leak(client.get("/api/conversations/").content, corpus["secrets"], MARKER, "the list")
    # Given back, the old answer shows again.
    member.groups.add(corpus["team"])
    assert MARKER in client.get(f"/api/conversations/{conversation}/").json()["messages"][0]["answer"]


def test_a_model_rewriting_a_follow_up_never_reads_an_answer_from_a_document_no_longer_readable(
    corpus, member, fake_openai  # noqa: F811
):
    client = client_for(member)
    fake_openai.script = Script(tokens=[f"The staff reference code is {MARKER} [1]."])
    first = post(client, "/query", {"question": "What is the staff reference code?", "top_k": 1}).json()
    assert MARKER in first["answer"]
    member.groups.remove(corpus["team"])
    fake_openai.requests.clear()
    fake_openai.script = Script(tokens=["notice period for managers", "\n", "Fourteen days [1]."])

    follow = post(client, "/query", {"question": "and for managers?", "conversation_id": first["conversation_id"]})

    assert follow.status_code == 200
    assert_no_leak(follow.content, corpus["secrets"], MARKER, "the follow-up")
    assert len(fake_openai.requests) == 2  # the rewrite, then the answer
    for request in fake_openai.requests:  # neither the rewrite nor the answer's history holds the old answer
        assert MARKER not in json.dumps(request["json"])
        assert "What is the staff reference code?" in json.dumps(request["json"])  # the asker's own question stays


def test_the_page_offers_only_readable_documents_and_a_picker_when_there_is_a_choice(corpus, member):
    anonymous = client_for().get("/")
    assert anonymous.status_code == 200 and 'name="collections"' not in anonymous.content.decode()
    assert_no_leak(anonymous.content.decode(), corpus["secrets"], MARKER, "the page")
    page = client_for(member).get("/").content.decode()
    assert 'name="collections"' in page and '<option value="hr">HR</option>' in page
    assert corpus["secret"].title in page


def test_ingest_goes_into_a_collection_and_creates_one_only_when_asked(corpus, tmp_path):
    path = tmp_path / "memo.md"
    path.write_text("# Legal memo\n\nThe contract renews every spring.\n")
    with pytest.raises(CommandError, match="no collection 'legal'.*--create"):
        call_command("ingest", str(path), "--collection", "legal", "--no-progress", stdout=io.StringIO())
    out = io.StringIO()
    call_command("ingest", str(path), "--collection", "legal", "--create", "--no-progress", stdout=out)
    legal = Collection.objects.get(slug="legal")
    assert legal.visibility == Collection.Visibility.GROUPS and "only superusers read it" in out.getvalue()
    assert Document.objects.get(title="Legal memo").collection == legal
    with pytest.raises(CommandError, match="Enter a valid"):
        call_command("ingest", str(path), "--collection", "no spaces!", "--create", stdout=io.StringIO())


def test_apikey_create_prints_the_key_once_and_revoke_stops_it(corpus, member):
    out, err = io.StringIO(), io.StringIO()
    call_command("apikey", "create", "--user", "hanna", "--name", "hr bot", "--collection", "hr", stdout=out, stderr=err)
    key = out.getvalue().strip()
    row = ApiKey.objects.get(name="hr bot")
    assert key.startswith("rag_") and key not in err.getvalue() and "narrowed to hr" in err.getvalue()
    assert list(row.collections.values_list("slug", flat=True)) == ["hr"]
    with pytest.raises(CommandError, match="no collection named 'nope'"):
        call_command("apikey", "create", "--user", "hanna", "--name", "x", "--collection", "nope", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no user 'ghost'"):
        call_command("apikey", "create", "--user", "ghost", "--name", "x", stdout=io.StringIO())
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    assert Client().post("/query", json.dumps({"question": QUESTION}), content_type="application/json", **auth).status_code == 200
    call_command("apikey", "revoke", str(row.pk), stdout=io.StringIO())
    assert Client().post("/query", json.dumps({"question": QUESTION}), content_type="application/json", **auth).status_code == 401
