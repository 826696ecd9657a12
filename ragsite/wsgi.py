import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
application = get_wsgi_application()

from django.conf import settings  # noqa: E402  (needs the settings module set above)

if settings.RAGSITE_PRELOAD:
    from querying.services import answer_warm_up  # noqa: E402

    answer_warm_up()
