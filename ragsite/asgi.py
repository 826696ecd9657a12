import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from ragsite.handlers import RagsiteASGIHandler  # noqa: E402  (needs Django set up above)
from ragsite.startup import web_process_start  # noqa: E402

application = RagsiteASGIHandler()
web_process_start()
