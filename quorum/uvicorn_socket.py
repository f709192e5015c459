"""One web process of ``make run``: uvicorn serving quorum.asgi on a listening socket its launcher opened.

The launcher binds the port once and starts each web process on the inherited descriptor, so it supervises (and
restarts) every one itself, and no uvicorn supervisor can die and leave its workers holding the port.
``uvicorn --fd`` would do, but it takes any descriptor for a Unix socket (``socket.fromfd(fd, AF_UNIX)``): its
TCP connections then miss TCP_NODELAY, and each small WebSocket frame can wait on Nagle's algorithm. Here the
socket keeps its real family, as the sockets uvicorn hands its own worker processes do.
"""

import argparse
import os
import socket

import uvicorn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve quorum.asgi on an inherited listening socket.")
    parser.add_argument("--fd", type=int, required=True, help="the listening socket's file descriptor")
    args = parser.parse_args(argv)
    sock = socket.socket(fileno=args.fd)  # family and type come from the descriptor
    # The client's address (rate limits) and scheme come from X-Forwarded-* only when a proxy at one of
    # FORWARDED_ALLOW_IPS (default 127.0.0.1) sends them.
    config = uvicorn.Config(
        "quorum.asgi:application",
        access_log=False,
        lifespan="off",
        ws_per_message_deflate=False,
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1"),
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
