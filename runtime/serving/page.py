"""``GET /web/``: the try-it page of ``s2s-onnx web``, served by ``s2s-onnx serve`` for its own bundle (a fixed list
of files, nothing else of the disk)."""

from __future__ import annotations

from pathlib import PurePosixPath

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from ..web.site import MEDIA_TYPES, WebPage
from .server import RequestError, TranslateService

PAGE_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


def page_routes(service: TranslateService, page: WebPage) -> list[Route]:
    """``/web/`` (the page) and ``/web/NAME`` (its files), timed and host-checked like every route."""

    async def serve_file(request: Request) -> tuple[Response, int]:
        name = request.path_params.get("name") or "index.html"
        if page.files is None:
            raise RequestError(f"the page is not available: {page.problem}", 503)
        path = page.files.get(name)
        if path is None:
            raise RequestError(f"the page has no file {name!r}; it is at /web/", 404)
        media = MEDIA_TYPES.get(PurePosixPath(name).suffix, "application/octet-stream")
        return FileResponse(path, media_type=media, headers=PAGE_HEADERS), 0

    async def no_slash(request: Request) -> tuple[Response, int]:
        raise RequestError("the page is at /web/, with the slash (its files are named relative to it)", 404)

    endpoint = service.timed("/web/", serve_file)
    return [
        Route("/web", service.timed("/web/", no_slash), methods=["GET"]),
        Route("/web/", endpoint, methods=["GET"]),
        Route("/web/{name:path}", endpoint, methods=["GET"]),
    ]
