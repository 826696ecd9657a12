"""The admin for staff who are no superusers: they see and manage the documents (and passages) of
the collections they may read, with the model permissions they were given; superusers all."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from documents.models import Collection, Document
from tests.collections_corpus import ingest_text

pytestmark = pytest.mark.django_db

MARKER = "ZQX-77"


@pytest.fixture
def setup(django_user_model):
    team = Group.objects.create(name="hr-team")
    hr = Collection.objects.create(slug="hr", name="HR", visibility=Collection.Visibility.GROUPS)
    hr.groups.add(team)
    public = ingest_text("Kettle Returns", "Kettles may be returned within fourteen days.", rebuild=False)
    secret = ingest_text("Confidential Staff Handbook", f"The staff reference code is {MARKER}.", collection=hr)
    perms = Permission.objects.filter(
        content_type__app_label="documents", codename__in=["view_document", "change_document", "add_document",
                                                           "view_chunk", "view_collection", "change_collection"]
    )

    def staff(name, *groups):
        user = django_user_model.objects.create_user(name, is_staff=True)
        user.user_permissions.set(perms)
        user.groups.set(groups)
        client = Client()
        client.force_login(user)
        return client

    return {"public": public, "secret": secret, "hr": hr, "outsider": staff("otto"), "member": staff("hanna", team)}


def test_staff_see_and_open_only_the_documents_of_collections_they_read(setup):
    outsider, member, secret = setup["outsider"], setup["member"], setup["secret"]
    listing = outsider.get("/admin/documents/document/").content.decode()
    assert "Kettle Returns" in listing and secret.title not in listing
    assert outsider.get(f"/admin/documents/document/{secret.pk}/change/").status_code == 302  # "does not exist"
    live = outsider.get(f"/admin/documents/document/live/?id={secret.pk}&id={setup['public'].pk}").json()
    assert list(live["documents"]) == [str(setup["public"].pk)]
    chunks = outsider.get("/admin/documents/chunk/").content.decode()
    assert MARKER not in chunks and secret.title not in chunks
    assert secret.title in member.get("/admin/documents/document/").content.decode()
    assert member.get(f"/admin/documents/document/{secret.pk}/change/").status_code == 200
    assert MARKER in member.get("/admin/documents/chunk/").content.decode()


def test_the_collection_filter_the_upload_form_and_the_collection_list_offer_only_readable_collections(setup):
    outsider, member = setup["outsider"], setup["member"]
    assert "?collection__id__exact=" in member.get("/admin/documents/document/").content.decode()
    form = outsider.get("/admin/documents/document/add/").content.decode()
    assert 'name="collection"' in form and ">HR<" not in form and ">General<" in form
    assert ">HR<" in member.get("/admin/documents/document/add/").content.decode()
    collections = outsider.get("/admin/documents/collection/").content.decode()
    assert "General" in collections and ">HR<" not in collections
    assert outsider.get(f"/admin/documents/collection/{setup['hr'].pk}/change/").status_code == 302
    change = member.get(f"/admin/documents/collection/{setup['hr'].pk}/change/").content.decode()
    assert 'id="id_groups"' in change and "selectfilter" in change  # groups edited in place, filter_horizontal


def test_moving_a_document_offers_only_collections_the_staff_member_reads(setup):
    outsider = setup["outsider"]
    public = setup["public"]
    response = outsider.post(f"/admin/documents/document/{public.pk}/change/", {"title": public.title, "collection": setup["hr"].pk})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert Document.objects.get(pk=public.pk).collection.slug == "general"


def test_a_conversation_in_the_admin_shows_staff_only_answers_from_documents_they_read(setup, django_user_model):
    from querying.models import Conversation, Message

    conversation = Conversation.objects.create(title="codes")
    for document in (setup["public"], setup["secret"]):
        Message.objects.create(
            conversation=conversation, question=f"about {document.pk}",
            answer=f"It says {MARKER}" if document == setup["secret"] else "It says fourteen days",
            sources=[{"n": 1, "document_id": document.pk, "title": document.title, "text": "..."}],
        )
    view = Permission.objects.filter(codename__in=["view_conversation", "view_message"])
    for name in ("otto", "hanna"):
        django_user_model.objects.get(username=name).user_permissions.add(*view)
    url = f"/admin/querying/conversation/{conversation.pk}/change/"
    outsider = setup["outsider"].get(url).content.decode()
    assert f"about {setup['public'].pk}" in outsider and MARKER not in outsider
    assert MARKER in setup["member"].get(url).content.decode()
