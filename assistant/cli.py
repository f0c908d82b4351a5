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
        from assistant.errors import AssistantError
        from assistant.ingest.directus import DirectusSource
        from assistant.ingest.run import ingest

        try:
            documents = DirectusSource(url, token).documents(
                warn=lambda m: console.print(f"[yellow]warning:[/] {m}")
            )
        except AssistantError as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from exc
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

    from assistant.logs import configure_logging

    configure_logging(get_settings().log_level)  # one JSON object per line, no personal data
    uvicorn.run(
        "assistant.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=get_settings().log_level.lower(),
        log_config=None,  # keep the JSON handler
        access_log=False,  # our access lines carry a request id and no client address
    )


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


@app.command("eval")
def eval_command(
    dataset: str = typer.Option(
        "golden", "--dataset", help="golden or redteam (or a path to a .jsonl file)."
    ),
    split: str = typer.Option(
        "", "--split", help="dev, test or all (default: test for golden, all for redteam)."
    ),
    url: str = typer.Option("", "--url", help="Evaluate a running server (POST {url}/v1/chat) instead."),
    out: Path = typer.Option(
        None, "--out", help="Report folder (default: reports/<dataset>-<split>-<time>)."
    ),
    compare: Path = typer.Option(None, "--compare", help="A baseline report.json to compare with."),
    no_gate: bool = typer.Option(False, "--no-gate", help="Always exit 0, even when a threshold is missed."),
    thresholds: Path = typer.Option(
        None, "--thresholds", help="Thresholds file (default: evals/thresholds.yaml)."
    ),
) -> None:
    """Run an evaluation dataset and write report.json, summary.md and report.html; exit 1 below thresholds."""
    from assistant.evals.runner import evaluate

    if split not in ("", "dev", "test", "all"):
        raise typer.BadParameter("use dev, test or all", param_hint="--split")
    if compare is not None and not compare.is_file():
        raise typer.BadParameter(f"{compare} does not exist", param_hint="--compare")
    try:
        outcome = evaluate(
            dataset,
            split or None,
            url=url or None,
            out=out,
            compare=compare,
            gate=not no_gate,
            thresholds=thresholds,
            console=console,
        )
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    raise typer.Exit(outcome.exit_code)


def _database():  # type: ignore[no-untyped-def]
    from assistant.storage import Database, database_url

    return Database(database_url(get_settings()))


def _day(value: str, option: str):  # type: ignore[no-untyped-def]
    from assistant.retention import parse_day

    try:
        return parse_day(value)
    except ValueError as exc:
        raise typer.BadParameter("use YYYY-MM-DD", param_hint=option) from exc


@app.command("purge")
def purge_command(
    days: int = typer.Option(None, "--days", help="Override ASSISTANT_RETENTION_DAYS."),
) -> None:
    """Delete conversations (messages, feedback) and finished WhatsApp records older than the retention."""
    from assistant.retention import purge

    keep = days if days is not None else get_settings().retention_days
    result = purge(_database().engine, keep)
    console.print(
        f"Purged {result.conversations} conversations older than {keep} days "
        f"({result.messages} messages, {result.feedback} feedback; {result.whatsapp} WhatsApp records).",
        soft_wrap=True,
    )


@app.command("export")
def export_command(
    since: str = typer.Option(..., "--since", help="Conversations active since this day (YYYY-MM-DD)."),
    fmt: str = typer.Option("csv", "--format", help="csv (one row per message) or json."),
    out: Path = typer.Option(None, "--out", help="Write to this file instead of standard output."),
) -> None:
    """Scrubbed conversations with statuses, reasons and feedback, for the advice team."""
    from assistant.retention import export_conversations, render_export

    if fmt not in ("csv", "json"):
        raise typer.BadParameter("use csv or json", param_hint="--format")
    day = _day(since, "--since")
    items = export_conversations(_database().engine, day)
    text = render_export(items, "json" if fmt == "json" else "csv", day)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"Exported {len(items)} conversations to {out}.")


@app.command("gaps")
def gaps_command(
    since: str = typer.Option("", "--since", help="Only questions since this day (YYYY-MM-DD)."),
    min_size: int = typer.Option(2, "--min-size", help="Smallest cluster to show."),
    out: Path = typer.Option(None, "--out", help="Also write the report (.json: JSON, else markdown)."),
) -> None:
    """Content gaps: unanswered, weakly answered or down-voted questions, clustered by meaning."""
    from assistant.embeddings import embedder_from_settings
    from assistant.gaps import as_json, as_markdown, as_table, gap_report

    settings = get_settings()
    day = _day(since, "--since") if since else None
    clusters = gap_report(
        _database().engine,
        embedder_from_settings(settings),
        since=day,
        min_size=min_size,
        score_threshold=settings.gap_score_threshold,
        similarity=settings.gap_cluster_similarity,
    )
    console.print(as_table(clusters))
    if out is not None:
        text = as_json(clusters, day) if out.suffix.lower() == ".json" else as_markdown(clusters, day)
        out.write_text(text, encoding="utf-8")
        console.print(f"Wrote {len(clusters)} clusters to {out}.")


if __name__ == "__main__":
    app()
