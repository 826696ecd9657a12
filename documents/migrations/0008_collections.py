"""Collections: every document belongs to one. Existing documents go to `general`, which is
public, so who reads what stays as it was (anonymous askers too, where anonymous questions are on)."""

import django.db.models.deletion
from django.db import migrations, models

import documents.models


def general_for_all(apps, schema_editor):
    Collection = apps.get_model("documents", "Collection")
    Document = apps.get_model("documents", "Document")
    general, _ = Collection.objects.get_or_create(slug="general", defaults={"name": "General", "visibility": "public"})
    Document.objects.filter(collection__isnull=True).update(collection=general)


class Migration(migrations.Migration):

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("documents", "0007_formats"),
    ]

    operations = [
        migrations.CreateModel(
            name="Collection",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("slug", models.SlugField(help_text="how the API, the page and the commands name it", max_length=64, unique=True)),
                ("name", models.CharField(max_length=200)),
                ("visibility", models.CharField(
                    choices=[("public", "anyone who may ask (anonymous askers too, where anonymous questions are on)"),
                             ("signed_in", "any signed-in user or API key"), ("groups", "members of its groups")],
                    default="groups", max_length=16)),
                ("description", models.TextField(blank=True)),
                ("groups", models.ManyToManyField(blank=True, help_text="who reads it when its visibility is 'groups'",
                                                  related_name="collections", to="auth.group")),
            ],
            options={"ordering": ["name", "slug"]},
        ),
        migrations.AddField(
            model_name="document",
            name="collection",
            field=models.ForeignKey(null=True, on_delete=django.db.models.deletion.PROTECT, related_name="documents",
                                    to="documents.collection"),
        ),
        migrations.RunPython(general_for_all, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="document",
            name="collection",
            field=models.ForeignKey(default=documents.models.general_collection_id,
                                    on_delete=django.db.models.deletion.PROTECT, related_name="documents",
                                    to="documents.collection"),
        ),
    ]
