from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from documents.embedding import get_embedder, sentence_vectors_embed
from documents.models import Chunk, Document
from documents.search.services import index_chunks, index_rebuild_request
from documents.selectors import current_chunks


class Command(BaseCommand):
    help = (
        "Embed the current chunks again with the configured embedding model (settings.RAGSITE_EMBEDDER), "
        "then rebuild the search index. Needed after changing the embedding model: the index refuses "
        "queries embedded by another model than its passages."
    )

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help="embed every chunk, not only those of other models")
        parser.add_argument("--batch-size", type=int, default=256, help="chunks embedded and written per batch")

    def handle(self, *args, all=False, batch_size=256, **options):
        embedder = get_embedder()
        chunks = current_chunks()
        if not all:
            chunks = chunks.exclude(embedding_model=embedder.name)
        total = chunks.count()
        self.stdout.write(f"{total} chunks to embed with {embedder.name}")
        done = 0
        ids = list(chunks.order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), max(1, batch_size)):
            batch = list(Chunk.objects.filter(pk__in=ids[start : start + batch_size]).only("pk", "text"))
            texts = [chunk.text for chunk in batch]
            vectors = embedder.embed(texts)
            # The sentences' vectors of the old model would be compared with the new one's queries.
            sentences = (
                sentence_vectors_embed(embedder=embedder, texts=texts)
                if settings.RAGSITE_SENTENCE_VECTORS else [b""] * len(batch)
            )
            for chunk, vector, packed in zip(batch, vectors, sentences):
                chunk.embedding = vector.astype("<f4").tobytes()
                chunk.embedding_model = embedder.name
                chunk.sentence_embeddings = packed
            with transaction.atomic():
                Chunk.objects.bulk_update(batch, ["embedding", "embedding_model", "sentence_embeddings"])
                index_chunks(chunk_ids=[chunk.pk for chunk in batch])
            done += len(batch)
            self.stdout.write(f"  {done}/{total}")
        stale = current_chunks().exclude(embedding_model=embedder.name).values_list("document_id", flat=True)
        Document.objects.filter(status=Document.Status.READY).exclude(pk__in=stale).update(
            embedding_model=embedder.name
        )
        index_rebuild_request(in_process=True)
        self.stdout.write(self.style.SUCCESS(f"re-embedded {done} chunks; search index rebuilt"))
