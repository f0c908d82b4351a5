"""The command line: ingest, ask, serve, corpus check, eval."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from assistant.config import Settings, get_settings

app = typer.Typer(help="The Onderwijsloket assistant.", no_args_is_help=True, add_completion=False)
corpus_app = typer.Typer(help="Work on the corpus.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")
console = Console()


def _assistant(settings: Settings | None = None):  # type: ignore[no-untyped-def]
    from assistant.service import Assistant

    return Assistant(settings or get_settings())


@app.command("ingest")
def ingest_command(
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Embed every chunk again instead of reusing vectors."
    ),
    source: str = typer.Option("files", "--source", help="files (the corpus folder) or directus"),
    url: str = typer.Option("", "--url", help="Directus base URL (with --source directus)"),
    token: str = typer.Option("", "--token", help="Directus bearer token (with --source directus)"),
) -> None:
    """Bring the index up to date with the corpus (incremental and atomic)."""
    assistant = _assistant()
    if source == "directus":
        from assistant.ingest.directus import DirectusSource
        from assistant.ingest.run import ingest

        documents = DirectusSource(url, token).documents(
            warn=lambda m: console.print(f"[yellow]warning:[/] {m}")
        )
        result = ingest(documents, assistant.store, rebuild=rebuild, show_progress=True)
    else:
        result = assistant.ingest(rebuild=rebuild, show_progress=True)
    if result.skipped:
        console.print(f"Index up to date: {result.documents} documents, {result.chunks} chunks.")
        return
    report = result.report
    assert report is not None
    console.print(
        f"Indexed {result.documents} documents as {report.chunks} chunks in {report.seconds:.1f}s "
        f"({report.embedded} embedded, {report.reused} reused) -> {report.collection}"
    )


@app.command("ask")
def ask_command(
    question: str,
    as_json: bool = typer.Option(False, "--json", help="Print the whole response as JSON."),
    sector: list[str] = typer.Option([], "--sector", help="Only sources for this sector (repeatable)."),
    role: list[str] = typer.Option([], "--role", help="Only sources for this role (repeatable)."),
) -> None:
    """Ask one question and print the cited answer."""
    from assistant.api.schemas import ChatResponse
    from assistant.retrieval import Filters

    turn = _assistant().ask(question, filters=Filters(sectors=sector, roles=role), channel="cli")
    response = ChatResponse.from_turn(turn)
    if as_json:
        typer.echo(json.dumps(response.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    console.print(f"[bold]{response.status}[/]" + (f" ({response.reason})" if response.reason else ""))
    console.print(response.answer)
    for citation in response.citations:
        console.print(f"  [{citation.n}] {citation.title} — {citation.section} ({citation.url})")
    for referral in response.referrals:
        console.print(f"  -> {referral.label}: {referral.url}")


@app.command("serve")
def serve_command(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
) -> None:
    """Serve the API, the widget and its demo page."""
    import uvicorn

    uvicorn.run("assistant.api.app:create_app", factory=True, host=host, port=port, log_level="info")


@corpus_app.command("check")
def corpus_check_command(
    path: Path = typer.Option(None, "--path", help="Corpus folder (default: settings)."),
) -> None:
    """Validate the corpus: schema, taxonomy, ids, sources, links, transcripts, review dates."""
    from assistant.ingest.check import check_corpus

    folder = path or get_settings().corpus_dir
    report = check_corpus(folder)
    table = Table("level", "file", "problem")
    for issue in report.errors + report.warnings:
        table.add_row(issue.level, issue.file, issue.message)
    if report.errors or report.warnings:
        console.print(table)
    console.print(
        f"{report.documents} documents ({report.counts_text()}): {len(report.errors)} errors, {len(report.warnings)} warnings"
    )
    raise typer.Exit(1 if report.errors else 0)


if __name__ == "__main__":
    app()
