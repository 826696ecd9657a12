"""Settings of the processes the tests start (servers, workers): ragsite's, with the settings a
test asks for in RAGSITE_TEST_SETTINGS (JSON, {name: value}) put over them. Tuning is no
environment variable of the product's: a test reaches a child's tuning this way."""

import json
import os

from ragsite.settings import *  # noqa: F403

for _name, _value in json.loads(os.environ.get("RAGSITE_TEST_SETTINGS") or "{}").items():
    globals()[_name] = _value
