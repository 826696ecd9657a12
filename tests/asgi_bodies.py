"""The application the request-body tests serve with uvicorn: ragsite's, wrapped by
access.bodies.limit_request_bodies unless ragsite/asgi.py already wraps it."""

from access.bodies import limit_request_bodies
from ragsite.asgi import application as _application

application = _application if getattr(_application, "limits_bodies", False) else limit_request_bodies(_application)
