from django.conf import settings
from django.db import models

from documents.storage import document_storage, document_upload_to

SKIPPED_LISTED = 100
# The largest id a row can have (BigAutoField): API input is bounded by it, so an id out of
# range is a validation error rather than an overflow deep in the search or the database.
ID_MAX = 2**63 - 1
GENERAL = "general"  # the collection documents go to when none is named (migration 0008 made it)


class Collection(models.Model):
    """A set of documents read by the same people. Who may read which collection is decided in one
    place, documents.readable.collections_readable; superusers read every collection."""

    class Visibility(models.TextChoices):
        PUBLIC = "public", "anyone who may ask (anonymous askers too, where anonymous questions are on)"
        SIGNED_IN = "signed_in", "any signed-in user or API key"
        GROUPS = "groups", "members of its groups"

    slug = models.SlugField(max_length=64, unique=True, help_text="how the API, the page and the commands name it")
    name = models.CharField(max_length=200)
    visibility = models.CharField(max_length=16, choices=Visibility.choices, default=Visibility.GROUPS)
    groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="collections", help_text="who reads it when its visibility is 'groups'"
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name", "slug"]

    def __str__(self):
        return self.name


def general_collection_id() -> int:
    """The default collection's id (Document.collection's default), made again if it is gone
    (a test database flushed): everything uploaded without a collection goes there. Reads only
    the id and the slug: migration 0008 calls it, when later columns may not exist yet."""
    pk = Collection.objects.filter(slug=GENERAL).values_list("pk", flat=True).first()
    if pk is None:
        pk = Collection.objects.get_or_create(
            slug=GENERAL, defaults={"name": "General", "visibility": Collection.Visibility.PUBLIC}
        )[0].pk
    return pk


class Document(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    class Format(models.TextChoices):
        PDF = "pdf", "PDF"
        DOCX = "docx", "Word"
        HTML = "html", "HTML"
        MARKDOWN = "markdown", "Markdown"
        TEXT = "text", "plain text"

    title = models.CharField(max_length=255)
    # Who may read it (documents.readable); a collection that holds documents cannot be deleted.
    collection = models.ForeignKey(
        Collection, on_delete=models.PROTECT, related_name="documents", default=general_collection_id
    )
    # Told by the file's content at upload (documents.formats.detect); it picks the extractor.
    format = models.CharField(max_length=16, choices=Format.choices, default=Format.PDF)
    file = models.FileField(upload_to=document_upload_to, storage=document_storage, db_index=True)
    original_filename = models.CharField(max_length=255, db_index=True)
    sha256 = models.CharField(max_length=64, unique=True)
    size_bytes = models.PositiveBigIntegerField(default=0)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    # Locations: a PDF's pages, the sections of the other formats (counted when they are read).
    page_count = models.PositiveIntegerField(null=True, blank=True)
    pages_done = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    empty_pages = models.JSONField(default=list, blank=True, help_text="1-based pages with no text layer")
    failed_pages = models.JSONField(default=list, blank=True, help_text="1-based pages that could not be read")
    ocr_pages = models.JSONField(default=list, blank=True, help_text="1-based pages whose text was recognised by OCR")
    error = models.TextField(blank=True)
    # What a running ingest is doing, for people watching ("OCR: page 3 of 40"); "" when idle.
    progress_note = models.CharField(max_length=200, blank=True)

    # Chunks of the current generation are the document's chunks (0: none yet); an ingest writes
    # a new generation and swaps it in with one transaction (documents.ingest.document_ingest).
    # While a re-ingest runs, or after it failed, the previous generation stays searchable.
    generation = models.PositiveIntegerField(default=0)
    # The highest generation handed out: each claimed ingest run writes under a number of its own.
    last_generation = models.PositiveIntegerField(default=0)
    # Set by the claim of an ingest run; every write of that run is fenced on it, so a run whose
    # claim was taken over (its worker looked dead) can no longer change the row or its chunks.
    ingest_token = models.CharField(max_length=32, blank=True)
    # A re-ingest asked for while a run is processing: that run queues the document again when it ends.
    reingest_requested = models.BooleanField(default=False)
    # Passages dropped from the current generation at ingest (the embedding model failed on
    # them), and passages stored but left out of the current search index (the index build could
    # not take them): each {"page", "reason"}, at most SKIPPED_LISTED of them.
    skipped_chunks = models.JSONField(default=list, blank=True)
    unindexed_chunks = models.JSONField(default=list, blank=True)
    # The generation the current search index holds (0: none): the document is searchable when
    # it equals generation.
    indexed_generation = models.PositiveIntegerField(default=0)
    embedding_model = models.CharField(max_length=255, blank=True)

    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set once a message for this document reached the broker; null while the broker was down.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # Touched as pages are done; a 'processing' row whose heartbeat is old belongs to a dead worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.title

    @property
    def searchable(self) -> bool:
        return self.generation > 0 and self.indexed_generation == self.generation

    @property
    def progress_percent(self):
        if self.status == self.Status.READY:
            return 100
        if not self.page_count:
            return 0
        return min(100, round(100 * self.pages_done / self.page_count))


class Chunk(models.Model):
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    generation = models.PositiveIntegerField()
    ordinal = models.PositiveIntegerField()
    page = models.PositiveIntegerField(help_text="1-based location: a PDF's page, else the section's place in reading order")
    # Where a section-based document cites this passage: its heading path and the anchor a
    # citation opens (documents.formats.base.Location); both "" for a PDF's page.
    section = models.TextField(blank=True, default="")
    anchor = models.CharField(max_length=255, blank=True, default="")
    text = models.TextField()
    char_start = models.PositiveIntegerField(help_text="offset in the location's normalised text")
    char_end = models.PositiveIntegerField()
    token_count = models.PositiveIntegerField()
    embedding = models.BinaryField(help_text="float32 vector, little-endian bytes")
    embedding_model = models.CharField(max_length=255)
    # One vector per unit an extractive answer may quote (documents.text.units.meaning_texts),
    # so that answering compares vectors instead of running the model; empty when not computed.
    sentence_embeddings = models.BinaryField(
        default=b"", blank=True, help_text="float16 vectors of the passage's sentences and lines, little-endian bytes"
    )
    ocr = models.BooleanField(default=False, help_text="the text was recognised from the page's image")

    class Meta:
        ordering = ["document_id", "ordinal"]
        constraints = [
            models.UniqueConstraint(fields=["document", "generation", "ordinal"], name="chunk_unique_ordinal"),
        ]

    def __str__(self):
        return f"{self.document_id}#{self.ordinal} p.{self.page}"


# --- search index ---
class SearchIndexState(models.Model):
    """One row (pk=1) that every process reads: which search index version is current, and the
    claim and request flag that coalesce rebuilds (see documents.search.rebuild)."""

    # The version every serving process should answer from, and the folder under
    # settings.RAGSITE_INDEX_ROOT that holds it; null until the first build.
    current_version = models.PositiveIntegerField(null=True, blank=True)
    current_dir = models.CharField(max_length=64, blank=True)
    last_version = models.PositiveIntegerField(default=0, help_text="the highest version number handed out")
    embedding_model = models.CharField(max_length=255, blank=True)
    dimension = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    built_at = models.DateTimeField(null=True, blank=True)
    build_seconds = models.FloatField(default=0)

    # Set by every request for a rebuild, cleared by the builder that claims it; a builder
    # rechecks it after each build, so any number of requests during a build make one more build.
    rebuild_requested = models.BooleanField(default=False)
    requested_at = models.DateTimeField(null=True, blank=True)
    building_since = models.DateTimeField(null=True, blank=True)
    builder = models.CharField(max_length=255, blank=True)
    # Touched by a live builder every few seconds; a claim whose heartbeat is stale is taken over.
    builder_heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the last build failed as a whole (with last_error); null after a good build.
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name = "search index state"

    def __str__(self):
        return f"search index v{self.current_version}" if self.current_version else "search index (not built)"
