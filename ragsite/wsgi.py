import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
application = get_wsgi_application()

from ragsite.startup import web_process_start  # noqa: E402  (needs Django set up above)

web_process_start()
