"""Pages: the widget demo, a themed partner demo, the widget files, and the corpus documents themselves."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markdown_it import MarkdownIt

from assistant.documents import Document
from assistant.ingest.chunking import clock
from assistant.ingest.loaders import load_corpus

router = APIRouter(include_in_schema=False)
WIDGET_DIR = Path(__file__).resolve().parent.parent / "widget"
templates = Environment(
    loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
    autoescape=select_autoescape(["html"]),
)
# Corpus markdown is our own content, but raw HTML stays off all the same.
markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


@lru_cache(maxsize=4)
def _documents(corpus_dir: str, _stamp: float) -> dict[str, Document]:
    return {doc.url: doc for doc in load_corpus(Path(corpus_dir))}


def documents(request: Request) -> dict[str, Document]:
    corpus = request.app.state.settings.corpus_dir
    stamp = max((p.stat().st_mtime for p in Path(corpus).rglob("*") if p.is_file()), default=0.0)
    return _documents(str(corpus), stamp)


@router.get("/", response_class=HTMLResponse)
def demo(request: Request) -> str:
    return templates.get_template("demo.html").render(
        profile="default", title="Onderwijsloket assistent (demo)"
    )


@router.get("/partner-demo", response_class=HTMLResponse)
def partner_demo(request: Request) -> str:
    return templates.get_template("demo.html").render(
        profile="regio-mbo-demo", title="Regioloket mbo (voorbeeld) met de assistent"
    )


@router.get("/widget.js")
def widget_js() -> Response:
    return FileResponse(WIDGET_DIR / "widget.js", media_type="text/javascript; charset=utf-8")


@router.get("/widget.css")
def widget_css() -> Response:
    return FileResponse(WIDGET_DIR / "widget.css", media_type="text/css; charset=utf-8")


@router.get("/static/{name}")
def static(name: str) -> Response:
    path = (WIDGET_DIR / name).resolve()
    if path.parent != WIDGET_DIR or not path.is_file():
        raise HTTPException(404, f"no static file {name!r}")
    return FileResponse(path)


@router.get("/v1/profiles/{name}")
def profile(name: str, request: Request) -> dict[str, object]:
    """What the widget needs of a profile: theme, intro, name (never the origin list)."""
    found = request.app.state.profiles.get(name)
    if found is None:
        raise HTTPException(404, f"profile {name!r} does not exist")
    return {"id": found.id, "name": found.name, "theme": found.theme.model_dump(), "intro": found.intro}


def _page(request: Request, url: str) -> str:
    doc = documents(request).get(url)
    if doc is None:
        raise HTTPException(404, f"no document at {url}")
    body = markdown.render(doc.body)
    return templates.get_template("document.html").render(doc=doc, body=body, clock=clock)


@router.get("/kennisbank/artikelen/{slug}", response_class=HTMLResponse)
def article(slug: str, request: Request) -> str:
    return _page(request, f"/kennisbank/artikelen/{slug}")


@router.get("/kennisbank/veelgestelde-vragen/{slug}", response_class=HTMLResponse)
def faq(slug: str, request: Request) -> str:
    return _page(request, f"/kennisbank/veelgestelde-vragen/{slug}")


@router.get("/ervaringsverhalen/{slug}", response_class=HTMLResponse)
def testimonial(slug: str, request: Request) -> str:
    return _page(request, f"/ervaringsverhalen/{slug}")


@router.get("/podcast/{show}/{slug}", response_class=HTMLResponse)
def episode(show: str, slug: str, request: Request) -> str:
    return _page(request, f"/podcast/{show}/{slug}")
