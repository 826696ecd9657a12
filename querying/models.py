from django.conf import settings
from django.db import models


class Conversation(models.Model):
    """A thread of questions and answers. It belongs to exactly one asker: an API key (a client
    made by that key, which other keys, even the same user's, do not see), else a user (logged in
    on the page), else an anonymous browser session (`session_owner`, a random token kept in the
    session data: it outlives a session key's rotation; a login reads the user's own instead)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="conversations")
    api_key = models.ForeignKey("access.ApiKey", null=True, blank=True, on_delete=models.CASCADE, related_name="conversations")
    session_owner = models.CharField(max_length=64, blank=True, db_index=True)
    title = models.CharField(max_length=200, blank=True, help_text="the first question, until renamed")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]

    def __str__(self):
        return self.title or f"conversation {self.pk}"


class Message(models.Model):
    """One question and its answer, as the asker saw them."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    question = models.TextField()
    answer = models.TextField(blank=True)
    search_query = models.TextField(blank=True, help_text="the standalone query the passages were found with")
    sources = models.JSONField(default=list, blank=True, help_text="the passages as shown with the answer")
    not_found = models.BooleanField(default=False)
    mode = models.CharField(max_length=200, blank=True)
    error = models.JSONField(null=True, blank=True, help_text="the provider's failure, when the answer stopped on one")
    timings = models.JSONField(default=dict, blank=True)
    usage = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self):
        return self.question[:80]
