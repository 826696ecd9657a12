"""Conversations end to end: a follow-up joins its conversation and is searched as a standalone
query (the heuristic in the extractive mode, the model through a fake OpenAI server otherwise,
which may fail or be late without failing the answer); each asker reads only their own
conversations; old answers stay readable when their document is deleted."""

import json

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from access.services import api_key_create
from documents.search.services import index_rebuild_request
from documents.ingest import document_ingest
from documents.services import document_create, document_delete
from querying.models import Conversation, Message
from tests.fake_vendors import Script
from tests.pdfs import text_pdf

# The extractive mode, the kettle manual and the fake OpenAI server of the endpoint tests.
from tests.test_query_endpoints import QUESTION, _answer_settings, fake_openai, kettle, kinds, stream_wsgi  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

# Asked on its own, "How long is it?" finds the toaster's cord ("long"); after the kettle's
# warranty question it must find the kettle's warranty page.
FOLLOW_UP = "How long is it?"


@pytest.fixture
def toaster(kettle):  # noqa: F811
    document = document_create(
        file=ContentFile(text_pdf(["Toaster T-5. The power cord is 80 cm long. It is long enough for most kitchens."]),
                         name="toaster.pdf"),
        title="Toaster T-5", enqueue=False,
    )
    assert document_ingest(document_id=document.pk, rebuild_index=False).status == "ready"
    index_rebuild_request(in_process=True)
    return document


def ask(client, question, conversation_id=None, path="/query", **extra):
    body = {"question": question, "top_k": 1}
    if conversation_id is not None:
        body["conversation_id"] = conversation_id
    return client.post(path, json.dumps(body), content_type="application/json", **extra)


def bearer(key):
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def test_a_follow_up_finds_what_the_conversation_is_about(client, kettle, toaster):  # noqa: F811
    alone = ask(client, FOLLOW_UP).json()
    assert alone["sources"][0]["document_id"] == toaster.pk  # the failure conversations fix
    assert alone["search_query"] == FOLLOW_UP

    first = ask(client, QUESTION).json()
    assert first["search_query"] == QUESTION and first["conversation_id"] != alone["conversation_id"]
    follow = ask(client, FOLLOW_UP, first["conversation_id"]).json()
    assert follow["conversation_id"] == first["conversation_id"]
    assert follow["search_query"].startswith(FOLLOW_UP) and "warranty" in follow["search_query"]
    assert (follow["sources"][0]["document_id"], follow["sources"][0]["page"]) == (kettle.pk, 2)
    assert "two years" in follow["answer"]

    thread = client.get(f"/api/conversations/{first['conversation_id']}/").json()
    assert thread["title"] == QUESTION and thread["message_count"] == 2
    assert [m["question"] for m in thread["messages"]] == [QUESTION, FOLLOW_UP]
    assert thread["messages"][1]["search_query"] == follow["search_query"]
    assert thread["messages"][1]["sources"][0]["removed"] is False
    assert thread["messages"][1]["answer"] == follow["answer"] and thread["messages"][1]["mode"] == "extractive"
    listed = client.get("/api/conversations/").json()
    assert [c["id"] for c in listed["results"]] == [first["conversation_id"], alone["conversation_id"]]


def test_the_stream_names_its_conversation_first_and_says_what_it_searched(client, kettle, toaster):  # noqa: F811
    _, (payloads, _, _) = stream_wsgi(client, {"question": QUESTION})
    conversation_id = payloads[0]["conversation_id"]
    assert payloads[1]["meta"]["search_query"] == QUESTION
    _, (payloads, _, _) = stream_wsgi(client, {"question": FOLLOW_UP, "conversation_id": conversation_id})
    assert kinds(payloads)[:2] == ["conversation_id", "meta"] and payloads[0]["conversation_id"] == conversation_id
    assert "warranty" in payloads[1]["meta"]["search_query"]
    assert payloads[-2]["sources"][0]["document_id"] == kettle.pk
    # Recorded before "done": a client that saw the end finds its answer stored.
    stored = Message.objects.filter(conversation_id=conversation_id).order_by("pk")
    assert [m.question for m in stored] == [QUESTION, FOLLOW_UP]
    assert stored[1].answer == "".join(p["token"] for p in payloads if "token" in p)


def test_nobody_reads_or_continues_another_askers_conversation(kettle, django_user_model):  # noqa: F811
    alice, bob = (django_user_model.objects.create_user(name, password="pw") for name in ("alice", "bob"))
    alice_page, bob_page, anonymous, other_anonymous = Client(), Client(), Client(), Client()
    alice_page.force_login(alice)
    bob_page.force_login(bob)
    alice_key, alice_other_key = (api_key_create(user=alice, name=n)[1] for n in ("script", "other script"))
    bob_key = api_key_create(user=bob, name="script")[1]

    def conversation(client, **extra):
        response = ask(client, QUESTION, **extra)
        assert response.status_code == 200, response.content
        return response.json()["conversation_id"]

    owned = {
        "alice on the page": (alice_page, {}, conversation(alice_page)),
        "alice's key": (Client(), bearer(alice_key), conversation(Client(), **bearer(alice_key))),
        "an anonymous browser": (anonymous, {}, conversation(anonymous)),
    }
    strangers = {
        "bob on the page": (bob_page, {}), "bob's key": (Client(), bearer(bob_key)),
        "alice's other key": (Client(), bearer(alice_other_key)), "another anonymous browser": (other_anonymous, {}),
        "alice on the page": (alice_page, {}),
    }
    for owner, (owner_client, owner_headers, conversation_id) in owned.items():
        assert owner_client.get(f"/api/conversations/{conversation_id}/", **owner_headers).status_code == 200, owner
        assert ask(owner_client, FOLLOW_UP, conversation_id, **owner_headers).status_code == 200, owner
        for stranger, (client, headers) in strangers.items():
            if stranger == owner:
                continue
            url = f"/api/conversations/{conversation_id}/"
            refusals = [
                client.get(url, **headers),
                client.patch(url, json.dumps({"title": "mine now"}), content_type="application/json", **headers),
                client.delete(url, **headers),
                ask(client, FOLLOW_UP, conversation_id, **headers),
                ask(client, FOLLOW_UP, conversation_id, path="/query/stream", **headers),
            ]
            for response in refusals:
                assert response.status_code == 404, (owner, stranger, response.content)
                assert response["Content-Type"] == "application/json" and "detail" in response.json()
            listed = client.get("/api/conversations/", **headers).json()["results"]
            assert conversation_id not in [c["id"] for c in listed], (owner, stranger)
    assert Message.objects.count() == 2 * len(owned)  # no refused question was recorded anywhere
    assert Conversation.objects.get(pk=owned["alice's key"][2]).title == QUESTION


def test_an_unknown_conversation_is_a_404_and_nothing_is_created(client, kettle):  # noqa: F811
    for path in ("/query", "/query/stream"):
        response = ask(client, QUESTION, 10**9, path=path)
        assert response.status_code == 404 and response.json() == {"detail": "No conversation of yours has this id."}
    assert client.get("/api/conversations/2147483647/").status_code == 404
    assert not Conversation.objects.exists()


def test_reading_the_list_starts_no_session_so_a_first_question_asked_meanwhile_keeps_its_own(kettle):  # noqa: F811
    """The page lists the asker's conversations as it loads, and a quick asker asks at once. A
    list that made an anonymous owner would set a session cookie of its own; whichever response
    came last would set the browser's cookie, and the first conversation could be lost."""
    browser = Client()
    assert browser.get("/api/conversations/").json()["results"] == []
    assert browser.get("/api/conversations/1/").status_code == 404
    assert "sessionid" not in browser.cookies  # reads made no owner, and no session
    first = ask(browser, QUESTION).json()
    assert "sessionid" in browser.cookies
    assert [c["id"] for c in browser.get("/api/conversations/").json()["results"]] == [first["conversation_id"]]
    assert ask(browser, FOLLOW_UP, first["conversation_id"]).json()["conversation_id"] == first["conversation_id"]
    # Another browser that has made nothing yet reads nothing, not the anonymous conversations.
    assert Client().get("/api/conversations/").json()["results"] == []


def test_a_conversation_is_renamed_and_deleted_by_its_owner(client, kettle):  # noqa: F811
    conversation_id = ask(client, QUESTION).json()["conversation_id"]
    url = f"/api/conversations/{conversation_id}/"
    renamed = client.patch(url, json.dumps({"title": "Kettle questions"}), content_type="application/json")
    assert renamed.status_code == 200 and renamed.json()["title"] == "Kettle questions"
    assert client.get("/api/conversations/").json()["results"][0]["title"] == "Kettle questions"
    assert client.patch(url, json.dumps({"title": 5}), content_type="application/json").status_code == 400
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404 and not Message.objects.exists()


def test_deleting_a_document_leaves_old_answers_readable_with_their_sources_marked_removed(client, kettle, toaster):  # noqa: F811
    first = ask(client, QUESTION).json()
    ask(client, "How long is the toaster's power cord?", first["conversation_id"])
    document_delete(document=kettle)
    messages = client.get(f"/api/conversations/{first['conversation_id']}/").json()["messages"]
    assert messages[0]["answer"] == first["answer"] and "two years" in messages[0]["answer"]
    assert messages[0]["sources"][0]["text"] == first["sources"][0]["text"]
    assert [s["removed"] for s in messages[0]["sources"]] == [True]
    assert [s["removed"] for s in messages[1]["sources"]] == [False]


def test_a_language_model_rewrites_the_follow_up_and_sees_the_earlier_turn(client, kettle, toaster, fake_openai):  # noqa: F811
    fake_openai.script = Script(tokens=["kettle", " warranty", " period", "\n", "Two years [1]."])
    first = ask(client, QUESTION).json()
    fake_openai.requests.clear()
    follow = ask(client, FOLLOW_UP, first["conversation_id"]).json()
    assert follow["search_query"] == "kettle warranty period"
    assert follow["sources"][0]["document_id"] == kettle.pk
    rewrite, answer = (request["json"] for request in fake_openai.requests)
    assert "standalone search query" in rewrite["messages"][0]["content"]
    assert QUESTION in rewrite["messages"][1]["content"] and FOLLOW_UP in rewrite["messages"][1]["content"]
    # The answer's model gets the earlier turn as messages before the question.
    assert [m["role"] for m in answer["messages"]] == ["system", "user", "assistant", "user"]
    assert answer["messages"][1]["content"] == QUESTION and answer["messages"][-1]["content"] == FOLLOW_UP


def test_a_rewrite_that_fails_or_is_late_falls_back_to_the_heuristic_and_the_answer_goes_on(
    client, kettle, toaster, fake_openai, settings,  # noqa: F811
):
    first = ask(client, QUESTION).json()
    # Late: the model takes 0.4 s a token, the rewrite may take 0.3 s; the answer may take its time.
    settings.RAGSITE_LLM = {**settings.RAGSITE_LLM, "OPTIONS": {**settings.RAGSITE_LLM["OPTIONS"], "rewrite_seconds": 0.3}}
    fake_openai.script = Script(tokens=["Two", " years", " [1]."], delay=0.4)
    follow = ask(client, FOLLOW_UP, first["conversation_id"])
    assert follow.status_code == 200 and follow.json()["answer"] == "Two years [1]."
    assert "warranty" in follow.json()["search_query"] and follow.json()["search_query"].startswith(FOLLOW_UP)
    # Down: the rewrite's failure is the heuristic's turn; the answer's own failure is reported as ever.
    fake_openai.stop()
    follow = ask(client, FOLLOW_UP, first["conversation_id"], path="/query/stream")
    payloads = [json.loads(line[6:]) for line in b"".join(follow).decode().splitlines() if line.startswith("data: ")]
    assert "warranty" in payloads[1]["meta"]["search_query"]
    assert payloads[-2]["error"]["code"] == "connection_error" and "done" in payloads[-1]


def test_the_list_takes_limit_and_offset_once_each_as_integers(client, kettle):  # noqa: F811
    for _ in range(3):
        ask(client, QUESTION)
    page = client.get("/api/conversations/?limit=2&offset=1").json()
    assert page["count"] == 3 and len(page["results"]) == 2
    for query in ("limit=", "offset=1&offset=2", "limit=abc", "limit=0", "limit=1001"):
        response = client.get(f"/api/conversations/?{query}")
        assert response.status_code == 400 and response["Content-Type"] == "application/json", query
