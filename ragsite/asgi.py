import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ragsite.settings")
django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application does

from django.conf import settings  # noqa: E402  (needs Django set up above)

from ragsite.handlers import RagsiteASGIHandler  # noqa: E402

application = RagsiteASGIHandler()

if settings.RAGSITE_PRELOAD:
    from querying.services import answer_warm_up  # noqa: E402

    answer_warm_up()
