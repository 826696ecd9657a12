import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from access.bodies import limit_request_bodies  # noqa: E402  (needs Django set up above)
from ragsite.handlers import RagsiteASGIHandler  # noqa: E402
from ragsite.startup import web_process_start  # noqa: E402

# A body past its limit is refused before Django reads (and spools) it.
application = limit_request_bodies(RagsiteASGIHandler())
web_process_start()
