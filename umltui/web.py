"""``umltui web``: the app in a browser, served by textual-serve.

Each browser tab runs its own ``umltui attach`` (textual-serve starts the command per
websocket, with Textual's web driver), so every tab is a client of the same supervisor: the
guests are shared between tabs and outlive them. Bound to loopback unless told otherwise,
since whoever reaches the port gets the guests' root shells.

Loopback keeps out other machines, not other users of this one nor web pages in the user's
browser, so every request but the static files needs the server's secret: a token made at
start and printed in the URL (``/?token=T``). Opening that URL trades the token for a cookie
(HttpOnly, SameSite=Strict) and redirects to ``/``; the websocket also refuses an ``Origin``
that is not the server's own.

textual-serve builds the page's asset and websocket URLs from the address it is given, so
a wildcard bind (``0.0.0.0``) needs the address browsers use (``--public-url``), which
defaults to this machine's name.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import logging
import secrets
import shlex
import socket
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler
    from aiohttp.web import Request, StreamResponse
    from textual_serve.server import Server

WEB_DRIVER = "textual.drivers.web_driver:WebDriver"
Origin = tuple[str, str, int]


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


def origin(url: str) -> Origin | None:
    """A URL's origin as browsers compare them (scheme, host, port); None for ``null`` and the like."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return None
    return (parts.scheme.lower(), parts.hostname, port) if parts.hostname and port else None


def own_origins(host: str, port: int, url: str) -> set[Origin]:
    """The pages allowed to open the websocket: the public URL's, and loopback's names for a loopback bind."""
    names = ["127.0.0.1", "localhost", "[::1]"] if is_loopback(host) else []
    return {o for o in [origin(url), *(origin(f"http://{name}:{port}") for name in names)] if o}


def make_server(command: str, host: str, port: int, url: str, token: str) -> Server:
    """textual-serve's server behind the token (in the query or the cookie) and the websocket's origin check.

    Built here, importing aiohttp and textual-serve only now, so the other commands start without them."""
    from aiohttp import web
    from textual_serve.server import Server

    cookie = f"umltui-token-{port}"  # cookies ignore ports: one name per server
    origins = own_origins(host, port, url)

    def knows(given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(errors="replace"), token.encode())

    def forbid(why: str) -> web.Response:
        return web.Response(status=403, text=f"umltui web: {why}: open the URL the server printed when it started\n")

    @web.middleware
    async def guard(request: Request, handler: Handler) -> StreamResponse:
        route = request.match_info.route.name
        if route == "static":
            return await handler(request)
        given = request.query.get("token")
        if not knows(given if given is not None else request.cookies.get(cookie)):
            return forbid("this needs the server's token")
        if route == "index" and given is not None:  # the token goes from the address bar into a cookie
            rest = {k: v for k, v in request.query.items() if k != "token"}
            response = web.Response(status=303, headers={"Location": str(request.rel_url.with_query(rest))})
            secure = url.startswith("https:")
            response.set_cookie(cookie, token, path="/", httponly=True, samesite="Strict", secure=secure)
            return response
        if route == "websocket" and "Origin" in request.headers and origin(request.headers["Origin"]) not in origins:
            return forbid("a page of another origin may not open the app")
        return await handler(request)

    class TokenServer(Server):
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard)
            return app

    return TokenServer(command, host=host, port=port, title="umltui", public_url=url)


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
    url = args.public_url or public_url(args.host, args.port)
    token = secrets.token_urlsafe(32)
    try:
        server = make_server(f"{shlex.quote(sys.executable)} -m umltui attach", args.host, args.port, url, token)
    except ImportError:
        print("umltui: textual-serve is missing: pip install textual-serve", file=sys.stderr)
        return 2
    print(
        f"umltui: the app is at {url}/?token={token} (the token is the key: whoever has this URL gets the "
        "guests; ctrl+c stops the server, the guests keep running)",
        file=sys.stderr,
    )
    # aiohttp's access log would print the first request's URL, the token in it, for good.
    logging.getLogger("aiohttp.access").disabled = True
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
