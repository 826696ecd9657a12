from django.contrib import admin

from querying.models import Conversation, Message


class MessageInline(admin.StackedInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ["question", "search_query", "answer", "mode", "not_found", "error", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


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
