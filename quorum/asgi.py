"""ASGI entry point: Django for HTTP, Channels for WebSockets (Channels docs' layout)."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from quorum.media_serving import media_served  # noqa: E402
from quorum.request_bodies import body_checked  # noqa: E402
from quorum.routing import websocket_urlpatterns  # noqa: E402
from quorum.ws_auth import auth_stack, origin_checked  # noqa: E402  (needs the app registry loaded above)

application = ProtocolTypeRouter(
    {
        # Media files are answered before any body check or Django (quorum/media_serving.py).
        "http": media_served(body_checked(django_asgi_app)),
        "websocket": origin_checked(auth_stack(URLRouter(websocket_urlpatterns))),
    }
)

# What start-up loaded is never garbage: frozen, no collection walks it again. The scheduler runtime then collects
# on a clock (quorum/gc_pacing.py).
gc.collect()
gc.freeze()
