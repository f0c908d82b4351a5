"""Directus connector: reads the Onderwijsloket platform's content over its REST API as Documents.

`DirectusSource(url, token).documents(warn=...)` reads `articles`, `faqs`, `testimonials` and
`podcast_episodes` with `GET {url}/items/<collection>` (`fields` in dot notation, `filter` on the
status, `deep` with `_limit: -1` so no relation list is cut at 100, `sort=id`, `limit`/`offset` pages
until a short page or `meta.total_count`). The result feeds `assistant.ingest.run.ingest` like the
corpus folder does.

Keyword options: `collections` (a subset of the four), `status` (the status filter value; None sends no
filter, for collections without a `status` field), `fields` (per collection, replaces the default field
list of `query_fields`), `public_site` (base of the attribution links), `backoff`/`max_wait` (seconds),
`timeout`, `sleep` and `now` (injectable for tests).

Failures:
- 401/403 on a collection raise `UpstreamError` naming the collection (Directus also answers 403 for a
  field that does not exist or that the token may not read: pass `fields=` to adjust the query);
- 429 waits `Retry-After` (seconds or an HTTP date, capped at `max_wait`) and retries; 5xx and network
  errors retry with exponential backoff; after `max_retries` retries an `UpstreamError` is raised;
- an item that cannot be read (no id, no title, unparsable body or transcript) is skipped with a warning
  naming the collection and id; the rest is ingested. Items with a `publication_date` in the future are
  skipped (listed, but not readable yet).

Mapping to `Document` (our corpus conventions, see corpus/README.md):
- id `art-`/`faq-`/`tst-`/`pod-` + slug (slug made from the title when missing); url is our own path
  (`/kennisbank/artikelen/<slug>`, `/kennisbank/veelgestelde-vragen/<slug>`, `/ervaringsverhalen/<slug>`,
  `/podcast/<show-slug>/<slug>`); a FAQ's title is its `question`, its body its `answer`;
- taxonomies arrive through junction fields (`topics[].topics_id.slug`/`name`, `sectors[].sectors_id`
  `.slug`/`title`, ...) and are mapped onto the short codes of corpus/taxonomy.yaml via
  `TAXONOMY_ALIASES` (slug, name, title or label, accents and case ignored). Unknown values are dropped
  with one warning per value listing the items that carry it;
- `sources` (articles: `sources[].sources_id.title/url`) plus an attribution source pointing at the
  item's public page (`public_site` + the item's `path`, or our path); `related` holds the article's
  FAQ ids that were ingested too; `updated` is `date_updated` (else `date_created`); `origin` is the
  item's API address `{url}/items/<collection>/<id>`.

Rich text (Tiptap v2 JSON in `body`/`answer`/`description`, or that JSON as a string; a string that is
not JSON is taken as markdown) becomes markdown: headings (level 1-2 -> `##`, 3 -> `###`, 4-6 ->
`####`, so chunks get section paths), paragraphs, bullet and ordered lists (nested), blockquotes, hard
breaks, code blocks, tables (simple pipe tables), links as markdown links, bold/italic/strike/code
marks (subscript/superscript as plain text). Custom `relation-block`/`relation-inline-block` nodes are
looked up in `editor_nodes` by junction id: `callouts` -> title, nested rich text (with its own
`editor_nodes`) and action links inlined; `buttons` -> `[label](to)`; `images` -> alt text only;
`mentions` -> a link to the mentioned item; `content_lists` -> a bullet list; `related_content_lists`
and `mediaplayers` are left out on purpose. A block whose junction is missing (deleted), whose data was
not expanded, or whose collection is unknown is skipped, as is an unknown leaf node; an unknown node
with children keeps the children's text. Skipped blocks are reported in one warning per item.

Podcast transcripts: `transcript_raw` is tried first, then `transcript_string_with_speakers`.
Supported shapes (a JSON string of a list/object is parsed first):
1. a list of segments `{"start", "end", "speaker", "text"}`: times in seconds (number) or as
   `hh:mm:ss.mmm` / `mm:ss` strings; aliases `start_time`/`end_time`, `from`/`to`, `speaker_label`/
   `speaker_name`/`speaker_id`, `content`; `start_ms`/`end_ms` in milliseconds; a missing `end` is the
   next segment's start;
2. `{"segments": [...]}` (Whisper/WhisperX style, seconds) or `{"utterances": [...]}` (AssemblyAI
   style, start/end in milliseconds), segments as in 1;
3. WebVTT text (`WEBVTT` header; the speaker from a `<v Name>` voice tag or a `Name: ` prefix);
4. speaker lines: `Name [mm:ss]: text`, `Name (hh:mm:ss): text` or `[mm:ss] Name: text`, one turn per
   header line, following lines continue the turn; a turn ends where the next starts (the last at
   `duration`, or an estimate from its length).
`speaker_map` renames speaker labels: `{"SPEAKER_00": "Sanne"}`, `{"A": {"name": "Sanne", "role":
"host"}}` or `[{"speaker": "A", "name": "Sanne", "role": "host"}]`; roles host/presentator and
guest/gast fill `hosts` and `guests`. Every cue needs a speaker. An episode whose transcript is missing
or cannot be parsed is skipped with a warning. The show comes from the `show` relation (`slug`), the
season number from `season` (`number`/`season_number`/digits in its title); bare ids are looked up in
`podcast_shows` / `seasons`.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeGuard

import httpx

from assistant.documents import Collection, Cue, Document, Source
from assistant.errors import ConfigurationError, UpstreamError
from assistant.ingest.loaders import vtt_blocks

Warn = Callable[[str], None]

PUBLIC_SITE = "https://onderwijsloket.com"
DEFAULT_COLLECTIONS = ("articles", "faqs", "testimonials", "podcast_episodes")
MAX_NESTING = 5  # nested rich-text documents (a callout inside a callout ...)

# --------------------------------------------------------------------------------------------------
# Taxonomy: the platform's slugs and labels onto our short codes (corpus/taxonomy.yaml)
# --------------------------------------------------------------------------------------------------

TAXONOMY_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "sectors": {
        "po": ("primair onderwijs", "basisonderwijs", "basisschool", "primary education"),
        "so": (
            "speciaal onderwijs",
            "voortgezet speciaal onderwijs",
            "speciaal basisonderwijs",
            "vso",
            "sbo",
            "special education",
        ),
        "vo": ("voortgezet onderwijs", "middelbare school", "secondary education"),
        "praktijkonderwijs": ("pro",),
        "mbo": ("middelbaar beroepsonderwijs", "vocational education"),
        "hbo": ("hoger beroepsonderwijs", "hogeschool"),
        "wo": ("wetenschappelijk onderwijs", "universiteit", "university"),
    },
    "roles": {
        "leraar": ("leraren", "docent", "docenten", "leerkracht", "leerkrachten", "teacher", "lesgeven"),
        "onderwijsassistent": ("onderwijsassistenten", "klassenassistent", "teaching assistant"),
        "leraarondersteuner": ("leraarondersteuners", "lerarenondersteuner"),
        "instructeur": ("instructeurs", "instructeur mbo"),
        "schoolleider": ("schoolleiders", "directeur", "schooldirecteur", "school leader"),
        "vakleerkracht": ("vakleerkrachten", "vakleerkracht bewegingsonderwijs"),
        "nt2-docent": ("docent nt2", "nt2 docent", "docent nederlands als tweede taal"),
        "gastdocent": ("gastdocenten", "gastleraar", "gastles", "gastlessen", "guest teacher"),
    },
    "topics": {
        "bevoegdheid": ("bevoegdheden", "bekwaamheid", "benoembaarheid", "bevoegd bekwaam benoembaar"),
        "sectoren": ("onderwijssectoren", "sector"),
        "pabo": ("de pabo",),
        "toelating": ("toelatingseisen", "toelatingstoets", "toelatingstoetsen"),
        "lerarenopleiding": ("lerarenopleidingen", "opleidingen", "educatieve master"),
        "educatieve-minor": ("educatieve module", "educatieve minor en module"),
        "zij-instroom": ("zij instroom in het beroep", "zij instromen", "lateral entry"),
        "geschiktheidsonderzoek": ("geschiktheidsonderzoeken",),
        "vakverwantschap": ("verwantschapstabel", "vakverwante opleiding"),
        "pdg": ("pdg traject", "pedagogisch didactisch getuigschrift"),
        "salaris": ("salarissen", "cao", "salaris en cao", "salaries"),
        "subsidies": ("subsidie", "lerarenbeurs", "tegemoetkoming", "tegemoetkomingen"),
        "studiefinanciering": ("collegegeld", "levenlanglerenkrediet", "studiekosten"),
        "buitenlands-diploma": (
            "buitenlandse diplomas",
            "buitenlands diploma",
            "diplomawaardering",
            "diploma erkenning",
            "erkenning buitenlands diploma",
        ),
        "taal": ("taaleisen", "nederlands als tweede taal", "nt2"),
        "vog": ("verklaring omtrent het gedrag",),
        "orientatie": ("orienteren", "meelopen", "proefstuderen"),
        "regio": ("regioloket", "regioloketten", "onderwijsregio", "onderwijsregios"),
        "vacatures": ("vacature", "solliciteren", "werk zoeken"),
        "verwijzing": ("wie beslist wat", "doorverwijzing"),
        "schoolvakken": ("schoolvak", "vakken"),
        "lerarentekort": ("tekort", "personeelstekort"),
        "ervaringen": ("ervaringsverhalen", "ervaringsverhaal", "testimonials"),
        "werken-in-het-onderwijs": ("werken in onderwijs", "werken in de sector"),
    },
    "tracks": {
        "pabo-voltijd": ("voltijd pabo", "pabo voltijd"),
        "pabo-deeltijd": ("deeltijd pabo", "pabo deeltijd"),
        "pabo-verkort": ("verkorte pabo", "versnelde pabo", "pabo verkort traject"),
        "academische-pabo": ("alpo", "universitaire pabo", "academische lerarenopleiding primair onderwijs"),
        "tweedegraads-opleiding": ("tweedegraads lerarenopleiding", "tweedegraads"),
        "eerstegraads-opleiding": ("eerstegraads lerarenopleiding", "eerstegraads", "master leraar"),
        "educatieve-master": ("educational master", "universitaire lerarenopleiding"),
        "educatieve-minor": ("minor",),
        "educatieve-module": ("module",),
        "kopopleiding": ("kopopleidingen",),
        "zij-instroom": ("zij instroom in het beroep", "lateral entry"),
        "pdg-traject": ("pdg", "pedagogisch didactisch getuigschrift"),
        "buitenlandse-erkenning": ("erkenning buitenlandse bevoegdheid", "erkenning beroepskwalificaties"),
    },
    "school_subjects": {
        "nederlands": ("dutch",),
        "engels": ("english",),
        "duits": ("german",),
        "frans": ("french",),
        "wiskunde": ("mathematics", "math"),
        "economie": ("economics",),
        "maatschappijleer": ("maatschappijkunde",),
        "geschiedenis": ("history",),
        "aardrijkskunde": ("geography",),
        "biologie": ("biology",),
        "scheikunde": ("chemistry",),
        "natuurkunde": ("physics",),
        "informatica": ("computer science",),
        "lichamelijke-opvoeding": ("lo", "gym", "bewegingsonderwijs", "physical education"),
        "nt2": ("nederlands als tweede taal", "nt 2"),
    },
    "audiences": {
        "zij-instromers": (
            "zij instromer",
            "career switchers",
            "career switcher",
            "carriereswitchers",
            "carriere switchers",
            "overstappers",
        ),
        "aankomende-studenten": ("aankomende student", "prospective students", "studiekiezers"),
        "interne-switchers": ("interne switcher", "internal switchers", "switchers binnen het onderwijs"),
        "herintreders": ("herintreder", "returners"),
        "buitenlandse-leraren": ("buitenlandse leraar", "leraren met een buitenlands diploma"),
    },
}
# Labels that stand for more than one of our codes.
TAXONOMY_MULTI: dict[str, dict[str, tuple[str, ...]]] = {
    "sectors": {"hoger onderwijs": ("hbo", "wo"), "ho": ("hbo", "wo"), "higher education": ("hbo", "wo")},
}
_SECTOR_PREFIXES = ("werken in het ", "werken in de ", "werken in ")


def _key(value: str) -> str:
    """Case, accents, apostrophes and punctuation ignored: "Diploma's (NL)" -> "diplomas-nl"."""
    text = unicodedata.normalize("NFKD", value)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = text.replace("'", "").replace("\u2019", "")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _alias_table() -> dict[str, dict[str, tuple[str, ...]]]:
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    for field_name, codes in TAXONOMY_ALIASES.items():
        lookup: dict[str, tuple[str, ...]] = {}
        for code, aliases in codes.items():
            for alias in (code, *aliases):
                lookup.setdefault(_key(alias), (code,))
        for alias, multi in TAXONOMY_MULTI.get(field_name, {}).items():
            lookup.setdefault(_key(alias), multi)
        table[field_name] = lookup
    return table


_ALIASES = _alias_table()


def taxonomy_codes(field_name: str, label: str) -> tuple[str, ...]:
    """Our codes for a platform slug or label (empty when unknown)."""
    lookup = _ALIASES.get(field_name, {})
    key = _key(label)
    if key in lookup:
        return lookup[key]
    if field_name == "sectors":
        plain = label.strip().lower()
        for prefix in _SECTOR_PREFIXES:
            if plain.startswith(prefix):
                return lookup.get(_key(plain[len(prefix) :]), ())
            if key.startswith(_key(prefix) + "-"):
                return lookup.get(key[len(_key(prefix)) + 1 :], ())
    return ()


# --------------------------------------------------------------------------------------------------
# Rich text: Tiptap JSON -> markdown
# --------------------------------------------------------------------------------------------------


class RichTextError(ValueError):
    """A rich-text field is not a Tiptap document (nor plain text)."""


def _is_doc(value: object) -> TypeGuard[dict[str, Any]]:
    return isinstance(value, dict) and value.get("type") == "doc"


def _index_nodes(editor_nodes: object) -> dict[str, dict[str, Any]]:
    """The editor_nodes junction rows by their id (what relation nodes point at)."""
    index: dict[str, dict[str, Any]] = {}
    if isinstance(editor_nodes, list):
        for row in editor_nodes:
            if isinstance(row, dict) and row.get("id") is not None:
                index[str(row["id"])] = row
    return index


def _escape_cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|").strip()


def _link(label: str, href: object) -> str:
    target = str(href or "").strip()
    if not target or target.lower().startswith(("javascript:", "data:")):
        return label
    if re.search(r"[\s()]", target):
        target = f"<{target}>"
    return f"[{label}]({target})" if label else target


class _Renderer:
    """One pass over a Tiptap tree; `notes` collects what was left out."""

    def __init__(self, editor_nodes: object, notes: list[str], depth: int = 0) -> None:
        self.nodes = _index_nodes(editor_nodes)
        self.notes = notes
        self.depth = depth

    # blocks -------------------------------------------------------------------------------------
    def document(self, doc: Mapping[str, Any]) -> str:
        return self.blocks(doc.get("content"))

    def blocks(self, content: object, sep: str = "\n\n") -> str:
        if not isinstance(content, list):
            return ""
        parts = [self.block(node) for node in content]
        return sep.join(p for p in parts if p.strip())

    def block(self, node: object) -> str:
        if not isinstance(node, dict):
            self.notes.append("a malformed node")
            return ""
        kind = node.get("type")
        content = node.get("content")
        attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
        assert isinstance(attrs, dict)
        if kind == "paragraph":
            text = self.inline(content).strip()
            return re.sub(r"^(\s*)#", r"\1\\#", text, flags=re.MULTILINE)
        if kind == "heading":
            text = " ".join(self.plain(content).split())
            level = attrs.get("level")
            level = level if isinstance(level, int) else 2
            return f"{'#' * min(max(level, 2), 4)} {text}" if text else ""
        if kind in ("bulletList", "orderedList"):
            return self.bullets(node, ordered=kind == "orderedList")
        if kind == "listItem":
            return self.blocks(content, "\n")
        if kind == "blockquote":
            inner = self.blocks(content)
            return "\n".join(f"> {line}" if line else ">" for line in inner.split("\n")) if inner else ""
        if kind == "codeBlock":
            code = self.plain(content)
            language = attrs.get("language") or ""
            return f"```{language}\n{code}\n```" if code.strip() else ""
        if kind == "table":
            return self.table(content)
        if kind in ("horizontalRule", "hardBreak"):
            return ""
        if kind in ("text", "image"):
            return self.inline([node]).strip()
        if kind in ("relation-block", "relation-inline-block"):
            return self.relation(attrs, inline=False)
        if kind == "doc":
            return self.blocks(content)
        if isinstance(content, list):  # an unknown wrapper: keep what it wraps
            return self.blocks(content)
        self.notes.append(f"unknown node '{kind}'")
        return ""

    def bullets(self, node: Mapping[str, Any], ordered: bool) -> str:
        attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
        assert isinstance(attrs, dict)
        start = attrs.get("start")
        number = start if isinstance(start, int) else 1
        lines: list[str] = []
        items = node.get("content") if isinstance(node.get("content"), list) else []
        assert isinstance(items, list)
        for item in items:
            body = self.blocks(item.get("content"), "\n") if isinstance(item, dict) else ""
            if not body.strip():
                continue
            marker = f"{number}. " if ordered else "- "
            number += 1
            first, *rest = body.split("\n")
            lines.append(marker + first)
            lines.extend((" " * len(marker) + line) if line else "" for line in rest)
        return "\n".join(lines)

    def table(self, rows: object) -> str:
        if not isinstance(rows, list):
            return ""
        grid: list[list[str]] = []
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("content"), list):
                continue
            cells = [
                _escape_cell(self.blocks(cell.get("content"), " ")) if isinstance(cell, dict) else ""
                for cell in row["content"]
            ]
            grid.append(cells)
        grid = [r for r in grid if any(r)]
        if not grid:
            return ""
        width = max(len(r) for r in grid)
        grid = [r + [""] * (width - len(r)) for r in grid]
        lines = ["| " + " | ".join(grid[0]) + " |", "|" + " --- |" * width]
        lines += ["| " + " | ".join(r) + " |" for r in grid[1:]]
        return "\n".join(lines)

    # inline -------------------------------------------------------------------------------------
    def inline(self, content: object) -> str:
        if not isinstance(content, list):
            return ""
        return "".join(self.inline_node(node) for node in content)

    def inline_node(self, node: object) -> str:
        if not isinstance(node, dict):
            self.notes.append("a malformed inline node")
            return ""
        kind = node.get("type")
        if kind == "text":
            return self.marked(str(node.get("text") or ""), node.get("marks"))
        if kind == "hardBreak":
            return "\n"
        if kind in ("relation-inline-block", "relation-block"):
            attrs = node.get("attrs")
            return self.relation(attrs if isinstance(attrs, dict) else {}, inline=True)
        if kind == "image":
            attrs = node.get("attrs")
            return str((attrs or {}).get("alt") or "") if isinstance(attrs, dict) else ""
        if isinstance(node.get("content"), list):
            return self.inline(node["content"])
        self.notes.append(f"unknown inline node '{kind}'")
        return ""

    def plain(self, content: object) -> str:
        """Text without marks (headings, code)."""
        if not isinstance(content, list):
            return ""
        out: list[str] = []
        for node in content:
            if not isinstance(node, dict):
                continue
            if node.get("type") == "text":
                out.append(str(node.get("text") or ""))
            elif node.get("type") == "hardBreak":
                out.append("\n")
            elif node.get("type") in ("relation-inline-block", "relation-block"):
                attrs = node.get("attrs")
                out.append(self.relation(attrs if isinstance(attrs, dict) else {}, inline=True, links=False))
            else:
                out.append(self.plain(node.get("content")))
        return "".join(out)

    @staticmethod
    def marked(text: str, marks: object) -> str:
        if not text.strip() or not isinstance(marks, list):
            return text
        lead = text[: len(text) - len(text.lstrip())]
        trail = text[len(text.rstrip()) :]
        core = text.strip()
        href: object = None
        for mark in marks:
            kind = mark.get("type") if isinstance(mark, dict) else None
            if kind == "bold":
                core = f"**{core}**"
            elif kind == "italic":
                core = f"*{core}*"
            elif kind == "strike":
                core = f"~~{core}~~"
            elif kind == "code":
                core = f"`{core}`"
            elif kind == "link" and isinstance(mark, dict) and isinstance(mark.get("attrs"), dict):
                href = mark["attrs"].get("href")
        if href:
            core = _link(core, href)
        return lead + core + trail

    # relation nodes -----------------------------------------------------------------------------
    def relation(self, attrs: Mapping[str, Any], inline: bool, links: bool = True) -> str:
        ref = attrs.get("id")
        hinted = str(attrs.get("collection") or "relation")
        junction = self.nodes.get(str(ref)) if ref is not None else None
        if junction is None:
            self.notes.append(f"{hinted} block {ref} (not in editor_nodes: deleted?)")
            return ""
        collection = str(junction.get("collection") or hinted)
        item = junction.get("item")
        if not isinstance(item, dict):
            self.notes.append(f"{collection} block {ref} (its data was not returned)")
            return ""
        if collection == "callouts":
            return self.callout(item, inline)
        if collection == "buttons":
            label = str(item.get("label") or "").strip()
            return _link(label, item.get("to")) if links else label
        if collection == "images":
            return str(item.get("alt_text") or item.get("alt") or "").strip()
        if collection == "mentions":
            return self.mention(item, links)
        if collection == "content_lists":
            return self.content_list(item, inline)
        if collection in ("related_content_lists", "mediaplayers"):
            return ""
        self.notes.append(f"{collection} block {ref} (unknown block type)")
        return ""

    def callout(self, item: Mapping[str, Any], inline: bool) -> str:
        parts: list[str] = []
        title = str(item.get("title") or "").strip()
        if title:
            parts.append(f"**{title}**")
        description = item.get("description")
        if _is_doc(description):
            if self.depth >= MAX_NESTING:
                self.notes.append("a callout nested too deep")
            else:
                nested = _Renderer(item.get("editor_nodes"), self.notes, self.depth + 1)
                nested.nodes = {**self.nodes, **nested.nodes}
                parts.append(nested.document(description))
        elif isinstance(description, str) and description.strip():
            parts.append(description.strip())
        actions = item.get("actions")
        if isinstance(actions, list):
            links = [
                _link(str(a.get("label") or "").strip(), a.get("to"))
                for a in actions
                if isinstance(a, dict) and (a.get("label") or a.get("to"))
            ]
            if links:
                parts.append(" ".join(links))
        parts = [p for p in parts if p.strip()]
        return (" ".join(" ".join(p.split()) for p in parts)) if inline else "\n\n".join(parts)

    def mention(self, item: Mapping[str, Any], links: bool) -> str:
        title = str(item.get("title") or "").strip()
        target: Mapping[str, Any] = {}
        refs = item.get("item")
        first = refs[0] if isinstance(refs, list) and refs else refs
        if isinstance(first, dict):
            inner = first.get("item")
            target = inner if isinstance(inner, dict) else {}
        title = title or str(target.get("title") or "").strip()
        path = target.get("path")
        if (
            not path
            and target.get("slug")
            and (not isinstance(first, dict) or first.get("collection") == "articles")
        ):
            path = f"/kennisbank/artikelen/{target['slug']}"
        return _link(title, path) if links and title else title

    def content_list(self, item: Mapping[str, Any], inline: bool) -> str:
        entries = item.get("items")
        if not isinstance(entries, list):
            return ""
        lines: list[str] = []
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            title = str(entry.get("title") or "").strip()
            description = " ".join(str(entry.get("description") or "").split())
            head = _link(title, entry.get("link")) if title else ""
            text = ": ".join(p for p in (head, description) if p)
            if text:
                lines.append(f"- {text}")
        return " ".join(line[2:] for line in lines) if inline else "\n".join(lines)


def tiptap_to_markdown(doc: object, editor_nodes: object = None, notes: list[str] | None = None) -> str:
    """Markdown of a Tiptap document; relation nodes are resolved through `editor_nodes`.

    Raises RichTextError when `doc` is not a Tiptap document; what is left out lands in `notes`.
    """
    if not _is_doc(doc):
        raise RichTextError("not a Tiptap document (expected an object with type 'doc')")
    assert isinstance(doc, dict)
    text = _Renderer(editor_nodes, notes if notes is not None else []).document(doc)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def rich_text(value: object, editor_nodes: object = None, notes: list[str] | None = None) -> str:
    """A rich-text field as markdown: a Tiptap document (object or JSON string) or plain text."""
    if value is None:
        return ""
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("{"):
            try:
                value = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise RichTextError(f"looks like JSON but does not parse ({exc.msg})") from exc
        else:
            return stripped
    if isinstance(value, dict):
        if value.get("type") != "doc":
            raise RichTextError(f"not a Tiptap document (type {value.get('type')!r})")
        return tiptap_to_markdown(value, editor_nodes, notes)
    raise RichTextError(f"unexpected {type(value).__name__} instead of a document")


def _plain_summary(value: object) -> str:
    try:
        text = rich_text(value)
    except RichTextError:
        return ""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*_~`#>]+", "", text)
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------------
# Transcripts
# --------------------------------------------------------------------------------------------------


class TranscriptError(ValueError):
    """A transcript in a shape we cannot read."""


_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:[.,]\d+)?)$")
_NUMBER = re.compile(r"^(\d+(?:[.,]\d+)?)\s*s?$")
_TS = r"(?:\d+:)?\d{1,2}:\d{2}(?:[.,]\d+)?"
_LINE_SPEAKER_FIRST = re.compile(
    rf"^(?P<speaker>[^\[\]()\n:]{{1,60}}?)\s*[\[(](?P<ts>{_TS})[\])]\s*:?\s*(?P<text>.*)$"
)
_LINE_TIME_FIRST = re.compile(rf"^[\[(](?P<ts>{_TS})[\])]\s*(?P<speaker>[^:\n]{{1,60}}?):\s*(?P<text>.*)$")
_VTT_TIMING = re.compile(rf"^(?P<start>{_TS})\s+-->\s+(?P<end>{_TS})")
_VTT_VOICE = re.compile(r"^<v(?:\.[\w.-]+)?\s+(?P<name>[^>]+)>(?P<text>.*)$", re.DOTALL)
_VTT_PREFIX = re.compile(r"^(?P<name>[^:<>\n]{1,60}):\s+(?P<text>.+)$", re.DOTALL)
_HOST_ROLES = {"host", "hosts", "presentator", "presenter", "gastheer", "gastvrouw", "interviewer"}
_GUEST_ROLES = {"guest", "guests", "gast", "gasten"}


def seconds(value: object) -> float | None:
    """Seconds from a number or an `hh:mm:ss.mmm` / `mm:ss` / `12.5` string; None when unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    number = _NUMBER.match(text)
    if number:
        return float(number.group(1).replace(",", "."))
    clock = _CLOCK.match(text)
    if clock:
        hours = int(clock.group(1) or 0)
        return hours * 3600 + int(clock.group(2)) * 60 + float(clock.group(3).replace(",", "."))
    return None


def speaker_names(value: object) -> tuple[dict[str, str], dict[str, str]]:
    """Label -> name, and name -> role, from a `speaker_map` in one of the documented shapes."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return {}, {}
    names: dict[str, str] = {}
    roles: dict[str, str] = {}

    def add(label: object, entry: object) -> None:
        if label is None:
            return
        if isinstance(entry, dict):
            name = str(entry.get("name") or entry.get("speaker_name") or label).strip()
            role = str(entry.get("role") or "").strip().lower()
            if role:
                roles[name] = role
        else:
            name = str(entry).strip() if entry else str(label)
        names[str(label)] = name

    if isinstance(value, dict):
        for label, entry in value.items():
            add(label, entry)
    elif isinstance(value, list):
        for entry in value:
            if isinstance(entry, dict):
                add(entry.get("speaker") or entry.get("label") or entry.get("id") or entry.get("key"), entry)
    return names, roles


def _first(mapping: Mapping[str, Any], *keys: str) -> object:
    for key in keys:
        if mapping.get(key) not in (None, ""):
            return mapping[key]
    return None


def _estimate_end(start: float, text: str) -> float:
    return start + max(2.0, len(text.split()) / 2.5)


def _finish(raw: list[tuple[float, float | None, str, str]], duration: float | None) -> list[Cue]:
    """Sorted cues; missing ends become the next start (the last: duration or an estimate)."""
    raw.sort(key=lambda r: r[0])
    cues: list[Cue] = []
    for i, (start, end, speaker, text) in enumerate(raw):
        if end is None:
            if i + 1 < len(raw):
                end = raw[i + 1][0]
            elif duration and duration > start:
                end = duration
            else:
                end = _estimate_end(start, text)
        cues.append(Cue(start=start, end=max(end, start), speaker=speaker, text=text))
    if not cues:
        raise TranscriptError("no cues with text")
    return cues


def _segments(
    segments: list[Any], names: Mapping[str, str], millis: bool, duration: float | None
) -> list[Cue]:
    raw: list[tuple[float, float | None, str, str]] = []
    for n, segment in enumerate(segments, 1):
        if not isinstance(segment, dict):
            raise TranscriptError(f"segment {n} is not an object")
        text = _first(segment, "text", "content", "transcript")
        if isinstance(text, list):  # word lists
            text = " ".join(
                str(w.get("word") or w.get("text") or "") if isinstance(w, dict) else str(w) for w in text
            )
        text = " ".join(str(text or "").split())
        if not text:
            continue
        scale = 1000.0 if millis else 1.0
        start = seconds(_first(segment, "start", "start_time", "startTime", "from", "begin"))
        end = seconds(_first(segment, "end", "end_time", "endTime", "to"))
        if start is None and segment.get("start_ms") is not None:
            start, end, scale = seconds(segment.get("start_ms")), seconds(segment.get("end_ms")), 1000.0
        if start is None:
            raise TranscriptError(f"segment {n} has no readable start time")
        speaker = _first(segment, "speaker", "speaker_name", "speaker_label", "speaker_id", "name")
        if speaker is None:
            raise TranscriptError(f"segment {n} has no speaker")
        name = names.get(str(speaker), str(speaker)).strip()
        raw.append((start / scale, end / scale if end is not None else None, name, text))
    return _finish(raw, duration)


def _vtt(text: str, names: Mapping[str, str], duration: float | None) -> list[Cue]:
    raw: list[tuple[float, float | None, str, str]] = []
    for timing, body in vtt_blocks(text, _VTT_TIMING):
        start, end = seconds(timing["start"]), seconds(timing["end"])
        voice = _VTT_VOICE.match(body) or _VTT_PREFIX.match(body)
        if start is None or not voice:
            raise TranscriptError(f"cue at {timing['start']} names no speaker (<v Name> or 'Name: ')")
        clean = " ".join(re.sub(r"</?[^>]+>", "", voice["text"]).split())
        if clean:
            speaker = voice["name"].strip()
            raw.append((start, end, names.get(speaker, speaker), clean))
    return _finish(raw, duration)


def _speaker_lines(text: str, names: Mapping[str, str], duration: float | None) -> list[Cue]:
    raw: list[list[Any]] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        stripped = line.strip()
        if not stripped:
            continue
        match = _LINE_SPEAKER_FIRST.match(stripped) or _LINE_TIME_FIRST.match(stripped)
        start = seconds(match["ts"]) if match else None
        if match and start is not None:
            speaker = match["speaker"].strip()
            raw.append([start, None, names.get(speaker, speaker), match["text"].strip()])
        elif raw:
            raw[-1][3] = f"{raw[-1][3]} {stripped}".strip()
    if not raw:
        raise TranscriptError("no 'Name [mm:ss]: text' lines found")
    return _finish([(r[0], r[1], r[2], " ".join(r[3].split())) for r in raw if r[3].strip()], duration)


def _cues(value: object, names: Mapping[str, str], duration: float | None) -> list[Cue]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("{", "[")) and not _LINE_TIME_FIRST.match(text.split("\n", 1)[0]):
            try:
                return _cues(json.loads(text), names, duration)
            except json.JSONDecodeError as exc:
                raise TranscriptError(f"looks like JSON but does not parse ({exc.msg})") from exc
        if text.startswith("WEBVTT"):
            return _vtt(text, names, duration)
        return _speaker_lines(text, names, duration)
    if isinstance(value, list):
        return _segments(value, names, False, duration)
    if isinstance(value, dict):
        for key, millis in (("segments", False), ("cues", False), ("utterances", True)):
            if isinstance(value.get(key), list):
                return _segments(value[key], names, millis, duration)
        raise TranscriptError(
            f"unknown transcript object (keys: {', '.join(sorted(map(str, value))) or 'none'})"
        )
    raise TranscriptError(f"unexpected {type(value).__name__}")


def parse_transcript(
    raw: object = None,
    with_speakers: object = None,
    speaker_map: object = None,
    duration: float | None = None,
) -> tuple[list[Cue], str]:
    """Cues from `transcript_raw` or else `transcript_string_with_speakers`, and the field used."""
    names, _roles = speaker_names(speaker_map)
    problems: list[str] = []
    for field_name, value in (("transcript_raw", raw), ("transcript_string_with_speakers", with_speakers)):
        if value is None or value == "" or value == [] or value == {}:
            continue
        try:
            return _cues(value, names, duration), field_name
        except TranscriptError as exc:
            problems.append(f"{field_name}: {exc}")
    if problems:
        raise TranscriptError("; ".join(problems))
    raise TranscriptError("no transcript (transcript_raw and transcript_string_with_speakers are empty)")


# --------------------------------------------------------------------------------------------------
# Collections and query fields
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionSpec:
    collection: str
    kind: Collection
    prefix: str
    path: str  # our url pattern
    taxonomies: tuple[str, ...]
    relations: tuple[str, ...]  # extra relation fields (dot notation)


_TAXONOMY_FIELDS: dict[str, tuple[str, ...]] = {
    # Sectors carry long texts of their own: ask for the slug and label only (documented field names).
    "sectors": ("sectors.sectors_id.id", "sectors.sectors_id.slug", "sectors.sectors_id.title"),
    # The label field of the others differs (name / title): a wildcard never asks for a missing field.
    "roles": ("roles.roles_id.*",),
    "topics": ("topics.topics_id.*",),
    "tracks": ("tracks.tracks_id.*",),
    "school_subjects": ("school_subjects.school_subjects_id.*",),
    "audiences": ("audiences.audiences_id.*",),
}
_MENTION_TARGET = ("title", "slug", "path")
EDITOR_NODE_FIELDS: tuple[str, ...] = (
    "editor_nodes.id",
    "editor_nodes.collection",
    "editor_nodes.item:buttons.*",
    "editor_nodes.item:images.*",
    "editor_nodes.item:content_lists.*",
    "editor_nodes.item:content_lists.items.*",
    "editor_nodes.item:mentions.id",
    "editor_nodes.item:mentions.title",
    "editor_nodes.item:mentions.item.collection",
    *(f"editor_nodes.item:mentions.item.item:articles.{f}" for f in _MENTION_TARGET),
    "editor_nodes.item:callouts.*",
    "editor_nodes.item:callouts.editor_nodes.id",
    "editor_nodes.item:callouts.editor_nodes.collection",
    "editor_nodes.item:callouts.editor_nodes.item:mentions.id",
    "editor_nodes.item:callouts.editor_nodes.item:mentions.title",
    "editor_nodes.item:callouts.editor_nodes.item:mentions.item.collection",
    *(
        f"editor_nodes.item:callouts.editor_nodes.item:mentions.item.item:articles.{f}"
        for f in _MENTION_TARGET
    ),
)
_MEDIA_TAXONOMIES = ("sectors", "roles", "topics", "audiences")
SPECS: dict[str, CollectionSpec] = {
    "articles": CollectionSpec(
        "articles",
        "article",
        "art-",
        "/kennisbank/artikelen/{slug}",
        ("sectors", "roles", "topics", "tracks", "school_subjects", "audiences"),
        (*EDITOR_NODE_FIELDS, "faqs.faqs_id.id", "faqs.faqs_id.slug", "sources.sources_id.*"),
    ),
    "faqs": CollectionSpec(
        "faqs", "faq", "faq-", "/kennisbank/veelgestelde-vragen/{slug}", _MEDIA_TAXONOMIES, ()
    ),
    "testimonials": CollectionSpec(
        "testimonials",
        "testimonial",
        "tst-",
        "/ervaringsverhalen/{slug}",
        _MEDIA_TAXONOMIES,
        EDITOR_NODE_FIELDS,
    ),
    "podcast_episodes": CollectionSpec(
        "podcast_episodes",
        "podcast_episode",
        "pod-",
        "/podcast/{show}/{slug}",
        _MEDIA_TAXONOMIES,
        ("show.id", "show.slug", "show.title", "season.*"),
    ),
}


def query_fields(spec: CollectionSpec) -> list[str]:
    """`*` (every readable field of the item) plus the relations in dot notation."""
    fields = ["*", *spec.relations]
    for taxonomy in spec.taxonomies:
        fields.extend(_TAXONOMY_FIELDS[taxonomy])
    return fields


def _relation_lists(fields: Sequence[str]) -> list[str]:
    top = {f.split(".", 1)[0] for f in fields if "." in f}
    return sorted(top - {"show", "season"})


# --------------------------------------------------------------------------------------------------
# The source
# --------------------------------------------------------------------------------------------------


class _Skip(Exception):
    """This item cannot be ingested (the message says why)."""


class _Report:
    """Warnings as they happen, plus unknown taxonomy values gathered into one line each."""

    def __init__(self, warn: Warn | None) -> None:
        self.warn_fn = warn
        self.messages: list[str] = []
        self.unknown: dict[tuple[str, str], list[str]] = {}

    def warn(self, message: str) -> None:
        self.messages.append(message)
        if self.warn_fn is not None:
            self.warn_fn(message)

    def flush(self) -> None:
        for (field_name, value), refs in sorted(self.unknown.items()):
            shown = ", ".join(refs[:5]) + (f" and {len(refs) - 5} more" if len(refs) > 5 else "")
            self.warn(
                f"{field_name}: unknown value {value!r} dropped (no code in corpus/taxonomy.yaml; "
                f"add an alias in TAXONOMY_ALIASES) - on {shown}"
            )
        self.unknown.clear()


def _parse_datetime(value: object) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None
    else:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def slugify(text: str) -> str:
    return _key(text)[:80].strip("-") or "item"


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        digits = re.search(r"\d+", value)
        return int(digits.group()) if digits else None
    return None


class DirectusSource:
    """The platform's content over the Directus REST API, as Documents (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        token: str = "",
        page_size: int = 50,
        max_retries: int = 5,
        client: httpx.Client | None = None,
        *,
        collections: Sequence[str] = DEFAULT_COLLECTIONS,
        status: str | None = "published",
        fields: Mapping[str, Sequence[str]] | None = None,
        public_site: str = PUBLIC_SITE,
        backoff: float = 1.0,
        max_wait: float = 120.0,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        base = (base_url or "").strip().rstrip("/")
        if not base:
            raise ConfigurationError(
                "the Directus source needs a base URL (--url https://content.example.org)"
            )
        if not base.startswith(("http://", "https://")):
            raise ConfigurationError(f"Directus URL must start with http:// or https:// (got {base_url!r})")
        unknown = [c for c in collections if c not in SPECS]
        if unknown:
            raise ConfigurationError(
                f"unsupported Directus collection(s): {', '.join(unknown)} (supported: {', '.join(SPECS)})"
            )
        if page_size < 1:
            raise ConfigurationError("page_size must be at least 1")
        self.base_url = base
        self.token = token.strip()
        self.page_size = page_size
        self.max_retries = max(0, max_retries)
        self.collections = tuple(collections)
        self.status = status
        self.fields = {
            name: list(fields[name]) if fields and name in fields else query_fields(SPECS[name])
            for name in SPECS
        }
        self.public_site = public_site.rstrip("/")
        self.backoff = backoff
        self.max_wait = max_wait
        self.timeout = timeout
        self._sleep = sleep
        self._now = now or (lambda: datetime.now(UTC))
        self._client = client
        self._active: httpx.Client | None = None
        self._lookups: dict[str, dict[str, dict[str, Any]]] = {}
        self.warnings: list[str] = []

    # HTTP ---------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def item_url(self, collection: str, item_id: object = None) -> str:
        url = f"{self.base_url}/items/{collection}"
        return f"{url}/{item_id}" if item_id is not None else url

    def _wait(self, response: httpx.Response, attempt: int) -> float:
        header = response.headers.get("Retry-After")
        if header is not None:
            value = seconds(header.strip())
            if value is None:
                try:
                    value = (parsedate_to_datetime(header) - datetime.now(UTC)).total_seconds()
                except (TypeError, ValueError):
                    value = None
            if value is not None:
                return min(max(value, 0.0), self.max_wait)
        return self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.backoff * (2**attempt), self.max_wait))

    @staticmethod
    def _reason(response: httpx.Response) -> str:
        try:
            payload = response.json()
        except ValueError:
            return response.text[:200].strip()
        errors = payload.get("errors") if isinstance(payload, dict) else None
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            extensions = first.get("extensions") if isinstance(first.get("extensions"), dict) else {}
            code = extensions.get("code") if isinstance(extensions, dict) else None
            message = str(first.get("message") or "").strip()
            return f"{code}: {message}" if code else message
        return ""

    def _get(self, collection: str, params: Mapping[str, str | int]) -> dict[str, Any]:
        client = self._active
        assert client is not None, "use documents() (or items() inside it)"
        url = self.item_url(collection)
        attempt = 0
        while True:
            try:
                response = client.get(url, params=dict(params), headers=self._headers())
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise UpstreamError(
                        f"Directus at {self.base_url} could not be reached for {collection} "
                        f"after {attempt + 1} attempts ({type(exc).__name__}: {exc})"
                    ) from exc
                self._sleep(self._backoff(attempt))
                attempt += 1
                continue
            status = response.status_code
            if status == 200:
                try:
                    payload = response.json()
                except ValueError as exc:
                    raise UpstreamError(f"Directus {collection}: the answer is not JSON") from exc
                if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
                    raise UpstreamError(f"Directus {collection}: the answer has no 'data' list")
                return payload
            reason = self._reason(response)
            detail = f" ({reason})" if reason else ""
            if status in (401, 403):
                hint = (
                    "the token is missing, invalid or expired"
                    if status == 401
                    else "the token may not read this collection or one of the requested fields "
                    "(Directus also answers 403 for a field that does not exist)"
                )
                raise UpstreamError(
                    f"Directus refused to list collection '{collection}': HTTP {status}{detail}; {hint}. "
                    f"Check --token / the role's read permissions on {collection}."
                )
            if status == 429 or status >= 500:
                if attempt >= self.max_retries:
                    what = "rate limit (HTTP 429)" if status == 429 else f"server error HTTP {status}"
                    raise UpstreamError(
                        f"Directus {collection}: {what}{detail} persisted after {attempt + 1} attempts"
                    )
                self._sleep(self._wait(response, attempt) if status == 429 else self._backoff(attempt))
                attempt += 1
                continue
            raise UpstreamError(f"Directus {collection}: HTTP {status}{detail}")

    def items(self, collection: str) -> Iterator[dict[str, Any]]:
        """Every item of a collection, page by page (inside `documents()`)."""
        fields = self.fields[collection]
        params: dict[str, str | int] = {
            "fields": ",".join(fields),
            "sort": "id",
            "meta": "total_count",
            "limit": self.page_size,
        }
        lists = _relation_lists(fields)
        if lists:
            params["deep"] = json.dumps({name: {"_limit": -1} for name in lists}, separators=(",", ":"))
        if self.status:
            params["filter"] = json.dumps({"status": {"_eq": self.status}}, separators=(",", ":"))
        offset = 0
        seen: set[str] = set()
        while True:
            payload = self._get(collection, {**params, "offset": offset})
            data: list[Any] = payload["data"]
            fresh = 0
            for item in data:
                key = json.dumps(item.get("id")) if isinstance(item, dict) else ""
                if key and key in seen:
                    continue
                seen.add(key)
                fresh += 1
                yield item if isinstance(item, dict) else {"__malformed__": item}
            offset += len(data)
            meta = payload.get("meta")
            total = meta.get("total_count") if isinstance(meta, dict) else None
            if len(data) < self.page_size or not fresh:
                break
            if isinstance(total, int) and offset >= total:
                break

    def _lookup(self, collection: str, item_id: object, report: _Report) -> dict[str, Any] | None:
        """A show or season by id (fetched once per run when the episode carries a bare id)."""
        if collection not in self._lookups:
            table: dict[str, dict[str, Any]] = {}
            try:
                offset = 0
                while True:
                    params: dict[str, str | int] = {"fields": "*", "limit": self.page_size, "offset": offset}
                    data = self._get(collection, params)["data"]
                    table.update({str(i.get("id")): i for i in data if isinstance(i, dict)})
                    offset += len(data)
                    if len(data) < self.page_size:
                        break
            except UpstreamError as exc:
                report.warn(f"{collection} could not be read to resolve episode relations: {exc}")
            self._lookups[collection] = table
        return self._lookups[collection].get(str(item_id))

    # mapping ------------------------------------------------------------------------------------
    def documents(self, warn: Warn | None = None) -> list[Document]:
        """All readable items of the configured collections; problems go to `warn` (and `warnings`)."""
        report = _Report(warn)
        own = self._client is None
        self._active = self._client or httpx.Client(timeout=self.timeout, follow_redirects=True)
        self._lookups = {}
        documents: list[Document] = []
        ids: dict[str, str] = {}
        try:
            for collection in self.collections:
                spec = SPECS[collection]
                for item in self.items(collection):
                    ref = f"{collection} {item.get('id', '(no id)')}"
                    try:
                        doc = self._document(spec, item, report)
                    except _Skip as exc:
                        report.warn(f"{ref}: {exc}; skipped")
                        continue
                    except Exception as exc:  # one odd item must not stop the ingest
                        report.warn(f"{ref}: could not be read ({type(exc).__name__}: {exc}); skipped")
                        continue
                    if doc is None:
                        continue
                    if doc.id in ids:
                        report.warn(f"{ref}: id {doc.id} already used by {ids[doc.id]} (same slug); skipped")
                        continue
                    ids[doc.id] = ref
                    documents.append(doc)
        finally:
            if own:
                self._active.close()
            self._active = None
            report.flush()
            self.warnings = report.messages
        known = set(ids)
        for doc in documents:
            doc.related = [r for r in doc.related if r in known and r != doc.id]
        return documents

    def _document(self, spec: CollectionSpec, item: dict[str, Any], report: _Report) -> Document | None:
        if "__malformed__" in item:
            raise _Skip("not an object")
        item_id = item.get("id")
        if item_id is None or item_id == "":
            raise _Skip("no id")
        ref = f"{spec.collection} {item_id}"
        if self.status and item.get("status") not in (None, self.status):
            return None
        published = item.get("publication_date")
        if published:
            moment = _parse_datetime(published)
            if moment is None:
                raise _Skip(f"unreadable publication_date {published!r}")
            if moment > self._now():
                report.warn(
                    f"{ref}: publication_date {published} is in the future (not readable yet); skipped"
                )
                return None
        title_field = "question" if spec.kind == "faq" else "title"
        title = " ".join(str(item.get(title_field) or "").split())
        if not title:
            raise _Skip(f"no {title_field}")
        slug = str(item.get("slug") or "").strip().strip("/") or slugify(title)
        notes: list[str] = []
        values: dict[str, Any] = {}
        if spec.kind == "podcast_episode":
            values = self._episode(item, report)
            url = spec.path.format(show=values["show"], slug=slug)
        else:
            url = spec.path.format(slug=slug)
            body_field = "answer" if spec.kind == "faq" else "body"
            raw_body = item.get(body_field)
            if raw_body is None:
                raise _Skip(f"no {body_field}")
            try:
                values["body"] = rich_text(raw_body, item.get("editor_nodes"), notes)
            except RichTextError as exc:
                raise _Skip(f"unparsable {body_field}: {exc}") from exc
        summary = ""
        if spec.kind != "faq":
            summary = _plain_summary(item.get("summary")) or _plain_summary(item.get("description"))
        if not values.get("body") and not summary and not values.get("cues"):
            raise _Skip("nothing to index (empty body)")
        if notes:
            report.warn(f"{ref}: left out of the text: {'; '.join(dict.fromkeys(notes))}")
        for taxonomy in spec.taxonomies:
            values[taxonomy] = self._codes(taxonomy, item.get(taxonomy), ref, report)
        path = item.get("path")
        public_path = path if isinstance(path, str) and path.startswith("/") else url
        sources = self._sources(item.get("sources"))
        attribution = Source(title=f"Onderwijsloket: {title}", url=f"{self.public_site}{public_path}")
        if attribution.url not in {s.url for s in sources}:
            sources.append(attribution)
        updated = _parse_datetime(item.get("date_updated")) or _parse_datetime(item.get("date_created"))
        related = []
        for entry in item.get("faqs") or []:
            faq = entry.get("faqs_id", entry) if isinstance(entry, dict) else None
            if isinstance(faq, dict) and faq.get("slug"):
                related.append(f"faq-{faq['slug']}")
        return Document(
            id=f"{spec.prefix}{slug}",
            collection=spec.kind,
            title=title,
            slug=slug,
            url=url,
            summary=summary,
            updated=updated.date() if updated else None,
            sources=sources,
            related=related,
            origin=self.item_url(spec.collection, item_id),
            **values,
        )

    def _episode(self, item: dict[str, Any], report: _Report) -> dict[str, Any]:
        show = item.get("show")
        if show is not None and not isinstance(show, dict):
            show = self._lookup("podcast_shows", show, report)
        show_slug = str(show.get("slug") or "").strip() if isinstance(show, dict) else ""
        if not show_slug and isinstance(show, dict) and show.get("title"):
            show_slug = slugify(str(show["title"]))
        if not show_slug:
            raise _Skip("no podcast show (show.slug) to build its url")
        season = item.get("season")
        if season is not None and not isinstance(season, dict):
            season = self._lookup("seasons", season, report) or {}
        season_number = None
        if isinstance(season, dict):
            season_number = next(
                (
                    n
                    for n in (_int(season.get(k)) for k in ("number", "season_number", "season"))
                    if n is not None
                ),
                _int(season.get("title") or season.get("name")),
            )
        duration = seconds(item.get("duration"))
        try:
            cues, used = parse_transcript(
                item.get("transcript_raw"),
                item.get("transcript_string_with_speakers"),
                item.get("speaker_map"),
                duration,
            )
        except TranscriptError as exc:
            raise _Skip(f"transcript cannot be used ({exc})") from exc
        _names, roles = speaker_names(item.get("speaker_map"))
        speakers = list(dict.fromkeys(c.speaker for c in cues))
        hosts = [s for s in speakers if roles.get(s) in _HOST_ROLES]
        guests = [s for s in speakers if roles.get(s) in _GUEST_ROLES]
        notes: list[str] = []
        try:
            body = rich_text(item.get("description"), item.get("editor_nodes"), notes)
        except RichTextError:
            body = ""
        episode = next(
            (
                n
                for n in (_int(item.get(k)) for k in ("episode_number", "episode", "number"))
                if n is not None
            ),
            None,
        )
        return {
            "show": show_slug,
            "season": season_number,
            "episode": episode,
            "hosts": hosts,
            "guests": guests,
            "duration": duration if duration is not None else cues[-1].end,
            "transcript": used,
            "cues": cues,
            "body": body,
        }

    @staticmethod
    def _sources(value: object) -> list[Source]:
        sources: list[Source] = []
        if not isinstance(value, list):
            return sources
        for entry in value:
            inner = entry.get("sources_id", entry) if isinstance(entry, dict) else None
            if not isinstance(inner, dict):
                continue
            url = str(inner.get("url") or "").strip()
            if not url or url in {s.url for s in sources}:
                continue
            title = " ".join(str(inner.get("title") or url).split())
            sources.append(Source(title=title, url=url))
        return sources

    @staticmethod
    def _codes(taxonomy: str, value: object, ref: str, report: _Report) -> list[str]:
        codes: list[str] = []
        if not isinstance(value, list):
            return codes
        junction = f"{taxonomy}_id"
        for entry in value:
            inner = entry.get(junction, entry) if isinstance(entry, dict) else entry
            if isinstance(inner, dict):
                candidates = [inner.get(k) for k in ("slug", "code", "name", "title", "label")]
                labels = [str(c) for c in candidates if isinstance(c, str) and c.strip()]
                shown = labels[0] if labels else f"id {inner.get('id')}"
            elif isinstance(inner, str):
                labels, shown = [inner], inner
            else:
                labels, shown = [], f"id {inner} (not expanded)"
            found: tuple[str, ...] = ()
            for label in labels:
                found = taxonomy_codes(taxonomy, label)
                if found:
                    break
            if not found:
                report.unknown.setdefault((taxonomy, shown), []).append(ref)
            codes.extend(c for c in found if c not in codes)
        return codes
