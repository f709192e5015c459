"""The WebSocket Origin check against a real uvicorn and a real WebSocket client: only pages of this site (host
and port) or trusted origins may open a socket; scripts that send no Origin may."""

import pytest
from rest_framework.authtoken.models import Token
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests import factories
from tests.servers import asgi_server

pytestmark = pytest.mark.django_db(transaction=True)


def opens(url: str, token: str, origin: str | None) -> bool:
    """Does the handshake succeed? False when the server refuses it (403)."""
    try:
        with connect(
            url.replace("http://", "ws://") + "/ws/work/",
            origin=origin,
            additional_headers={"Authorization": f"Token {token}"},
            open_timeout=10,
        ):
            return True
    except InvalidStatus as refused:
        assert refused.response.status_code == 403
        return False


def test_only_this_site_or_a_trusted_origin_may_open_a_socket():
    token = Token.objects.create(user=factories.make_worker()).key
    with asgi_server(QUORUM_WS_ALLOWED_ORIGINS="https://tools.example.org") as url:
        port = url.rsplit(":", 1)[1]
        assert opens(url, token, f"http://127.0.0.1:{port}")
        assert opens(url, token, None)  # a script
        assert not opens(url, token, "http://127.0.0.1:9999")  # another port of the same host
        assert opens(url, token, "https://tools.example.org")
        assert not opens(url, token, "http://127.0.0.1")
        assert not opens(url, token, f"https://127.0.0.1:{int(port) + 1}")
        assert not opens(url, token, f"http://evil.example:{port}")
        assert not opens(url, token, "https://tools.example.org:8443")
