from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("access", "0001_initial"),
        ("documents", "0008_collections"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="collections",
            field=models.ManyToManyField(
                blank=True, related_name="api_keys", to="documents.collection",
                help_text="the key reads only these of the collections its user reads; none: all its user reads",
            ),
        ),
    ]
