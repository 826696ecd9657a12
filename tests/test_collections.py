"""Who reads which collection (documents.readable.collections_readable): the one rule."""

import pytest
from django.contrib.auth.models import AnonymousUser, Group

from access.services import api_key_create
from documents.models import Collection, Document, general_collection_id
from documents.readable import collections_readable

pytestmark = pytest.mark.django_db


@pytest.fixture
def collections(db):
    general = Collection.objects.get(pk=general_collection_id())
    staff_only = Collection.objects.create(slug="staff", name="Staff", visibility=Collection.Visibility.SIGNED_IN)
    hr = Collection.objects.create(slug="hr", name="HR", visibility=Collection.Visibility.GROUPS)
    legal = Collection.objects.create(slug="legal", name="Legal", visibility=Collection.Visibility.GROUPS)
    hr.groups.add(Group.objects.create(name="hr-team"))
    legal.groups.add(Group.objects.create(name="lawyers"))
    return {"general": general, "staff": staff_only, "hr": hr, "legal": legal}


def slugs(queryset):
    return sorted(queryset.values_list("slug", flat=True))


def test_the_migration_made_a_public_general_collection_and_new_documents_go_there(collections):
    assert collections["general"].visibility == Collection.Visibility.PUBLIC
    document = Document.objects.create(title="t", original_filename="t.pdf", sha256="0" * 64)
    assert document.collection.slug == "general"


def test_each_asker_reads_what_the_collections_visibility_and_their_groups_allow(collections, django_user_model):
    alice = django_user_model.objects.create_user("alice")
    alice.groups.add(Group.objects.get(name="hr-team"))
    bob = django_user_model.objects.create_user("bob")
    root = django_user_model.objects.create_user("root", is_superuser=True, is_staff=True)
    gone = django_user_model.objects.create_user("gone", is_active=False)
    gone.groups.add(Group.objects.get(name="hr-team"))

    assert slugs(collections_readable(user=None)) == ["general"]
    assert slugs(collections_readable(user=AnonymousUser())) == ["general"]
    assert slugs(collections_readable(user=bob)) == ["general", "staff"]
    assert slugs(collections_readable(user=alice)) == ["general", "hr", "staff"]
    assert slugs(collections_readable(user=root)) == ["general", "hr", "legal", "staff"]
    assert slugs(collections_readable(user=gone)) == ["general"]


def test_a_grant_removed_holds_on_the_next_read(collections, django_user_model):
    alice = django_user_model.objects.create_user("alice")
    team = Group.objects.get(name="hr-team")
    alice.groups.add(team)
    assert "hr" in slugs(collections_readable(user=alice))
    alice.groups.remove(team)
    assert "hr" not in slugs(collections_readable(user=alice))
    collections["staff"].visibility = Collection.Visibility.GROUPS
    collections["staff"].save()
    assert slugs(collections_readable(user=alice)) == ["general"]


def test_a_narrowed_key_reads_the_intersection_and_an_open_key_all_its_user_reads(collections, django_user_model):
    alice = django_user_model.objects.create_user("alice")
    alice.groups.add(Group.objects.get(name="hr-team"))
    open_key, _ = api_key_create(user=alice, name="all")
    narrow, _ = api_key_create(user=alice, name="hr and legal")
    narrow.collections.add(collections["hr"], collections["legal"])

    assert slugs(collections_readable(user=alice, api_key=open_key)) == ["general", "hr", "staff"]
    assert slugs(collections_readable(user=alice, api_key=narrow)) == ["hr"]  # legal: not alice's
    narrow.collections.set([collections["legal"]])
    assert slugs(collections_readable(user=alice, api_key=narrow)) == []
