"""``umltui web``: the app in a browser, served by textual-serve.

Each browser tab runs its own ``umltui attach`` (textual-serve starts the command per
websocket, with Textual's web driver), so every tab is a client of the same supervisor: the
guests are shared between tabs and outlive them. Bound to loopback unless told otherwise,
since whoever reaches the port gets the guests' root shells.

textual-serve builds the page's asset and websocket URLs from the address it is given, so
a wildcard bind (``0.0.0.0``) needs the address browsers use (``--public-url``), which
defaults to this machine's name.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import socket
import sys
from typing import Any

WEB_DRIVER = "textual.drivers.web_driver:WebDriver"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def public_url(host: str, port: int) -> str:
    """The address a browser reaches the server at, for the page's own links."""
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{port}"


def cmd_web(args: argparse.Namespace) -> int:
    if not is_loopback(args.host):
        if not args.allow_remote:
            print(
                f"umltui: {args.host} is not a loopback address: whoever reaches the port gets root shells "
                "in the guests. Give --allow-remote if that is what you want.",
                file=sys.stderr,
            )
            return 2
        print(
            f"umltui: warning: serving on {args.host}: anyone who can reach port {args.port} can type into "
            "every guest as root",
            file=sys.stderr,
        )
    try:
        from textual_serve.server import Server
    except ImportError:
        print("umltui: textual-serve is missing: pip install textual-serve", file=sys.stderr)
        return 2
    url = args.public_url or public_url(args.host, args.port)
    command = f"{shlex.quote(sys.executable)} -m umltui attach"
    server = Server(command, host=args.host, port=args.port, title="umltui", public_url=url)
    print(f"umltui: the app is at {url}/ (ctrl+c stops the server; the guests keep running)", file=sys.stderr)
    server.serve()
    return 0


def add_parser(sub: Any) -> None:
    s = sub.add_parser("web", help="serve the app to browsers (textual-serve), on loopback by default")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    s.add_argument("--public-url", help="the URL browsers use, when it is not http://HOST:PORT")
    s.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (anyone reaching it gets root shells)"
    )
    s.set_defaults(func=cmd_web)
