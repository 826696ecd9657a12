"""A state machine that tries to make ragsite show a document to someone who may not read it.

Random users (signed in or with API keys, some staff), groups, collections of every visibility,
grants given and taken back, keys narrowed and revoked, documents uploaded, moved between
collections and deleted; and in between, questions from every kind of asker on every path: POST
/query, POST /query/stream (every event), follow-ups in their conversations, the conversations
themselves, /files, /api/search/ and its status, /api/documents/. After each request, nothing in
the body (not a title, an id, a file name or a word only that document holds) may come from a
document its asker may not read at that moment, as an oracle written here, apart from
documents.readable, says. Run on both search backends (PostgreSQL with pgvector where there is
one: `make test`'s third stage).

EXAMPLES state machines of up to STEPS steps each, derandomised in CI."""

import json

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test import Client
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle, RuleBasedStateMachine, initialize, invariant, multiple, rule, run_state_machine_as_test,
)

from access.models import ApiKey
from access.services import api_key_create, api_key_revoke
from documents.models import GENERAL, Collection, Document, general_collection_id
from documents.services import document_delete
from querying.models import Conversation
from tests.collections_corpus import assert_no_leak, ingest_text, secrets_of
from tests.test_query_endpoints import _answer_settings  # noqa: F401
from tests.test_search_backends import EMBEDDED, POSTGRES, require_pgvector

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("no_throttles")]

EXAMPLES = 8
STEPS = 12
VISIBILITIES = [v.value for v in Collection.Visibility]
QUESTIONS = ["How long is the notice period?", "and what is the reference code?", "notice period weeks"]


class Asker:
    """Someone who asks: anonymous (a browser), a user signed in on the page, or an API key."""

    def __init__(self, label: str, client: Client, user: User | None = None, key: ApiKey | None = None, secret: str = ""):
        self.label, self.client, self.user, self.key = label, client, user, key
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"} if secret else {}
        self.conversation: int | None = None

    def post(self, path: str, body: dict):
        return self.client.post(path, json.dumps(body), content_type="application/json", **self.headers)

    def get(self, path: str):
        return self.client.get(path, **self.headers)


class CollectionsMachine(RuleBasedStateMachine):
    askers = Bundle("askers")
    collections = Bundle("collections")

    def __init__(self):
        super().__init__()
        self.groups = [Group.objects.create(name=f"team-{n}") for n in range(2)]
        self.documents: dict[int, str] = {}  # id -> its marker, for every document that exists
        self.everyone: list[Asker] = []
        self.count = 0

    # --- the oracle: who may read what, from the rows as they are now, not through documents.readable
    def readable_collections(self, asker: Asker) -> set[int]:
        public = set(Collection.objects.filter(visibility="public").values_list("pk", flat=True))
        if asker.user is None:
            return public
        user = User.objects.get(pk=asker.user.pk)
        if asker.key is not None and ApiKey.objects.get(pk=asker.key.pk).revoked_at is not None:
            return set()
        mine = set(user.groups.values_list("pk", flat=True))
        readable = set()
        for collection in Collection.objects.prefetch_related("groups"):
            member = bool({g.pk for g in collection.groups.all()} & mine)
            if user.is_superuser or collection.visibility in ("public", "signed_in") or member:
                readable.add(collection.pk)
        if asker.key is not None and (narrowed := set(asker.key.collections.values_list("pk", flat=True))):
            readable &= narrowed
        return readable

    def check(self, asker: Asker, body, where: str) -> None:
        readable = self.readable_collections(asker)
        for document in Document.objects.filter(pk__in=list(self.documents)).exclude(collection_id__in=readable):
            assert_no_leak(body, secrets_of(document), self.documents[document.pk], f"{asker.label} {where}")

    # --- the scene every run starts from: a collection of each visibility with a document in it,
    # and askers of each kind (a member of each group, one of none, an anonymous browser, a key)
    @initialize(target=collections)
    def scene_collections(self):
        made = [Collection.objects.get(pk=general_collection_id())]
        for n, visibility in enumerate(["signed_in", "groups", "groups"]):
            made.append(Collection.objects.create(slug=f"s{n}", name=f"S{n}", visibility=visibility))
        made[2].groups.add(self.groups[0])
        made[3].groups.add(self.groups[1])
        for collection in made:
            self.upload(collection)
        return multiple(*made)

    @initialize(target=askers)
    def scene_askers(self):
        askers = [Asker("anonymous", Client())]
        for n, groups in enumerate([[0], [1], []]):
            user = User.objects.create_user(f"member{n}", is_staff=n != 1)
            user.groups.set([self.groups[g] for g in groups])
            client = Client()
            client.force_login(user)
            askers.append(Asker(f"user member{n}", client, user=user))
        key, secret = api_key_create(user=askers[1].user, name="scene key")
        askers.append(Asker(f"key {key.pk} of member0", Client(), user=askers[1].user, key=key, secret=secret))
        self.everyone.extend(askers)
        return multiple(*askers)

    # --- who is who
    @rule(target=collections, visibility=st.sampled_from(VISIBILITIES), groups=st.sets(st.integers(0, 1)))
    def add_collection(self, visibility, groups):
        self.count += 1
        collection = Collection.objects.create(slug=f"c{self.count}", name=f"C{self.count}", visibility=visibility)
        collection.groups.set([self.groups[n] for n in groups])
        return collection

    @rule(target=askers, staff=st.booleans(), groups=st.sets(st.integers(0, 1)))
    def add_user(self, staff, groups):
        self.count += 1
        user = User.objects.create_user(f"u{self.count}", is_staff=staff)
        user.groups.set([self.groups[n] for n in groups])
        client = Client()
        client.force_login(user)
        self.everyone.append(Asker(f"user u{self.count}", client, user=user))
        return self.everyone[-1]

    @rule(target=askers, owner=askers, narrowed=st.lists(collections, max_size=2))
    def add_key(self, owner, narrowed):
        if owner.user is None:
            return Asker("anonymous again", Client())
        key, secret = api_key_create(user=owner.user, name="k")
        key.collections.set(narrowed)
        self.everyone.append(Asker(f"key {key.pk} of {owner.user.username}", Client(), user=owner.user, key=key, secret=secret))
        return self.everyone[-1]

    @rule(asker=askers, group=st.integers(0, 1), member=st.booleans())
    def grant(self, asker, group, member):
        if asker.user is not None:
            (asker.user.groups.add if member else asker.user.groups.remove)(self.groups[group])

    @rule(collection=collections, visibility=st.sampled_from(VISIBILITIES), groups=st.sets(st.integers(0, 1)))
    def change_collection(self, collection, visibility, groups):
        Collection.objects.filter(pk=collection.pk).update(visibility=visibility)
        Collection.objects.get(pk=collection.pk).groups.set([self.groups[n] for n in groups])

    @rule(asker=askers)
    def revoke(self, asker):
        if asker.key is not None:
            api_key_revoke(api_key=asker.key)

    # --- the corpus
    @rule(collection=collections)
    def upload(self, collection):
        self.count += 1
        marker = f"MK{self.count:03d}X"
        text = f"The notice period is {self.count + 1} weeks. The reference code is {marker}."
        document = ingest_text(f"Folio T{self.count:03d}", text, collection=collection)
        self.documents[document.pk] = marker

    @rule(data=st.data(), collection=collections)
    def move(self, data, collection):
        if self.documents:
            document_id = data.draw(st.sampled_from(sorted(self.documents)))
            Document.objects.filter(pk=document_id).update(collection=collection)

    @rule(data=st.data())
    def delete(self, data):
        if self.documents:
            document_id = data.draw(st.sampled_from(sorted(self.documents)))
            document_delete(document=Document.objects.get(pk=document_id), in_process=True)
            del self.documents[document_id]

    # --- every path a document can leave by
    @rule(asker=askers, question=st.sampled_from(QUESTIONS), stream=st.booleans(), follow=st.booleans(),
          narrow=st.lists(collections, max_size=2), data=st.data())
    def ask(self, asker, question, stream, follow, narrow, data):
        body = {"question": question, "top_k": 5}
        if narrow:
            body["collections"] = [c.slug for c in narrow]
        if self.documents and data.draw(st.booleans()):
            body["document_ids"] = [data.draw(st.sampled_from(sorted(self.documents)))]
        if follow and asker.conversation:
            body["conversation_id"] = asker.conversation
        response = asker.post("/query/stream" if stream else "/query", body)
        content = b"".join(response) if stream and response.status_code == 200 else response.content
        self.check(asker, content, f"asking {body}")
        assert response.status_code in (200, 400, 401, 404), (response.status_code, content[:300])
        if response.status_code == 200 and not stream:
            asker.conversation = response.json()["conversation_id"]

    @rule(asker=askers)
    def read_conversations(self, asker):
        listed = asker.get("/api/conversations/")
        self.check(asker, listed.content, "listing conversations")
        if asker.conversation:
            self.check(asker, asker.get(f"/api/conversations/{asker.conversation}/").content, "reading a conversation")

    @rule(asker=askers, data=st.data())
    def read_file(self, asker, data):
        if not self.documents:
            return
        document = Document.objects.get(pk=data.draw(st.sampled_from(sorted(self.documents))))
        for path in (f"/files/{document.file.name}", f"/files/text/{document.file.name}"):
            response = asker.get(path)
            readable = document.collection_id in self.readable_collections(asker)
            assert (response.status_code == 200) == readable, (path, response.status_code, readable)
            if not readable:
                self.check(asker, response.content, f"GET {path}")

    @rule(asker=askers)
    def staff_reads(self, asker):
        for response, where in (
            (asker.post("/api/search/", {"query": "notice period reference code", "top_k": 20}), "searching"),
            (asker.get("/api/search/status/"), "the search status"),
            (asker.get("/api/documents/"), "the document list"),
        ):
            self.check(asker, response.content, where)
        status = asker.get("/api/search/status/")
        if status.status_code == 200:
            readable = self.readable_collections(asker)
            expected = sum(d.chunk_count for d in Document.objects.filter(pk__in=list(self.documents), collection_id__in=readable))
            if Collection.objects.exclude(pk__in=readable).exists():
                assert status.json()["chunk_count"] == expected

    @invariant()
    def after_every_step_every_asker_asks(self):
        """Whatever just changed, every asker asks at once (the page too, anonymously): a grant
        removed, a key revoked, a document moved holds from the next request on."""
        anonymous = Asker("anonymous page", Client())
        self.check(anonymous, anonymous.get("/").content, "the ask page")
        for asker in self.everyone:
            response = asker.post("/query", {"question": QUESTIONS[0], "top_k": 10})
            self.check(asker, response.content, "asking after the step")
            if response.status_code == 200:
                readable = self.readable_collections(asker)
                shown = {source["document_id"] for source in response.json()["sources"]}
                assert shown <= set(Document.objects.filter(collection_id__in=readable).values_list("pk", flat=True))

    def teardown(self):
        for document in Document.objects.all():
            document_delete(document=document, in_process=True)
        Conversation.objects.all().delete()
        ApiKey.objects.all().delete()
        User.objects.all().delete()
        Group.objects.all().delete()
        Collection.objects.exclude(slug=GENERAL).delete()


@pytest.fixture(params=["embedded", "postgres"])
def search_backend_for_machine(request, settings, transactional_db):
    settings.RAGSITE_RERANKER = {"BACKEND": "documents.search.rerank.DisabledReranker", "OPTIONS": {}}
    if request.param == "postgres":
        require_pgvector()
        from django.core.management import call_command
        import io

        settings.RAGSITE_SEARCH_BACKEND = POSTGRES
        call_command("search_fill", stdout=io.StringIO())
        yield request.param
        with connection.cursor() as cursor:  # a flush cannot truncate the chunks while this table points at them
            cursor.execute("DROP TABLE IF EXISTS ragsite_search_chunk")
    else:
        settings.RAGSITE_SEARCH_BACKEND = {**EMBEDDED, "OPTIONS": {**EMBEDDED["OPTIONS"]}}
        yield request.param


def test_no_asker_ever_sees_a_document_they_may_not_read(search_backend_for_machine):
    run_state_machine_as_test(
        CollectionsMachine,
        settings=settings(
            max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None, derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
