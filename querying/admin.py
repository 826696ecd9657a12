from django.contrib import admin

from documents.readable import collection_ids_readable
from querying import conversations
from querying.models import Conversation, Message


class MessageInline(admin.StackedInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ["question", "search_query", "answer", "mode", "not_found", "error", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        """A member of staff who is no superuser sees only the answers that drew on documents of
        collections they may read (documents.readable): an answer quotes its documents."""
        messages = super().get_queryset(request)
        if request.user.is_superuser:
            return messages
        object_id = (request.resolver_match.kwargs if request.resolver_match else {}).get("object_id")
        shown = messages.filter(conversation_id=object_id) if str(object_id or "").isdigit() else messages.none()
        withheld = conversations.messages_withheld(list(shown), collection_ids=collection_ids_readable(user=request.user))
        return shown.exclude(pk__in=withheld)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    """Read-only: what askers asked and were answered (for staff looking into a complaint)."""

    list_display = ["__str__", "user", "api_key", "created_at", "updated_at"]
    list_filter = ["created_at"]
    search_fields = ["title", "messages__question"]
    readonly_fields = ["title", "user", "api_key", "session_owner", "created_at", "updated_at"]
    inlines = [MessageInline]

    def has_add_permission(self, request):
        return False
