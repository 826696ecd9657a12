from django.contrib import admin, messages
from django.template.response import TemplateResponse

from access import services
from access.models import ApiKey


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys are made here and shown once; revoking one stops it at once."""

    list_display = ["name", "user", "prefix", "created_at", "last_used_at", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "user__username"]
    actions = ["revoke_selected"]
    autocomplete_fields = ["user"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["user", "name"]
        return ["user", "name", "prefix", "created_at", "last_used_at", "revoked_at"]

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else ["user", "prefix", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        api_key, request.new_api_key = services.api_key_create(user=obj.user, name=obj.name)
        obj.pk = api_key.pk

    def response_add(self, request, obj, post_url_continue=None):
        """The key, shown this once: only its SHA-256 is kept."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "API key created",
            "api_key": obj,
            "key": request.new_api_key,
        }
        return TemplateResponse(request, "admin/access/apikey/created.html", context)

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_selected(self, request, queryset):
        for api_key in queryset:
            services.api_key_revoke(api_key=api_key)
        messages.success(request, f"{queryset.count()} API key(s) revoked; clients using them get 401 from now on")
