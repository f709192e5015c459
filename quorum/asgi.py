"""ASGI entry point: Django for HTTP, Channels for WebSockets (Channels docs' layout)."""

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quorum.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from quorum.routing import websocket_urlpatterns  # noqa: E402
from quorum.ws_auth import auth_stack, origin_checked  # noqa: E402  (needs the app registry loaded above)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": origin_checked(auth_stack(URLRouter(websocket_urlpatterns))),
    }
)

# The collector's full passes walk every live object: with a few thousand open sockets that stalls every connected
# worker for a few hundred milliseconds, and the passes find next to nothing (the hot path frees its objects by
# reference counting). What start-up loaded is never garbage, so it is frozen out of every pass; full passes run
# after 1,000 middle-generation passes instead of 10 (minutes apart under load rather than seconds).
gc.collect()
gc.freeze()
gc.set_threshold(700, 10, 1000)
