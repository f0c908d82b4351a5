"""Runs a dataset through the assistant (in-process or against a server) and produces the reports."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, Field
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from assistant.config import Settings, get_settings
from assistant.evals.datasets import DATASETS, EvalItem, GoldenItem, dataset_path, kind_of, load_dataset
from assistant.evals.metrics import (
    HEADLINES,
    GateFailure,
    LeakCheck,
    check_gate,
    compare_reports,
    compute,
    load_thresholds,
    threshold_profile,
)


class CitedSource(BaseModel):
    """A citation of an answer, with the full chunk text when it is known (in-process runs)."""

    n: int
    doc_id: str
    title: str = ""
    section: str = ""
    url: str = ""
    snippet: str = ""
    text: str = ""


class Reply(BaseModel):
    """What a target returns for one message."""

    conversation_id: str
    status: str
    reason: str | None = None
    answer: str = ""
    citations: list[CitedSource] = Field(default_factory=list)
    retrieved_doc_ids: list[str] = Field(default_factory=list)
    retrieved_contexts: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    composer: str = ""


class ItemResult(BaseModel):
    """One dataset item: what was expected, what came back, and how it scored."""

    id: str
    category: str
    language: str
    split: str
    turns: list[str]
    expected_status: str
    expected_reason: str | None = None
    must_not_contain: list[str] = Field(default_factory=list)
    reference_answer: str = ""
    key_facts: list[list[str]] = Field(default_factory=list)
    expected_sources: list[str] = Field(default_factory=list)
    notes: str = ""
    # what came back for the last turn
    status: str = "error"
    reason: str | None = None
    answer: str = ""
    citations: list[CitedSource] = Field(default_factory=list)
    retrieved_doc_ids: list[str] = Field(default_factory=list)
    retrieved_contexts: list[str] = Field(default_factory=list)
    timings: dict[str, float] = Field(default_factory=dict)
    total_ms: float = 0.0
    conversation_id: str = ""
    composer: str = ""
    error: str | None = None
    # filled in by metrics.score_item
    scores: dict[str, float | None] = Field(default_factory=dict)
    problems: list[str] = Field(default_factory=list)
    violations: list[str] = Field(default_factory=list)
    leak: str | None = None
    pii_echoes: list[str] = Field(default_factory=list)
    passed: bool = False
    item_score: float = 0.0

    @property
    def question(self) -> str:
        return self.turns[-1]

    @classmethod
    def of(cls, item: EvalItem) -> ItemResult:
        result = cls(
            id=item.id,
            category=item.category,
            language=item.language,
            split=item.split,
            turns=list(item.turns),
            expected_status=item.expected_status,
            expected_reason=item.expected_reason,
            must_not_contain=list(item.must_not_contain),
            notes=item.notes,
        )
        if isinstance(item, GoldenItem):
            result.reference_answer = item.reference_answer
            result.key_facts = [list(f) for f in item.key_facts]
            result.expected_sources = list(item.expected_sources)
        return result


# --- targets ---------------------------------------------------------------------------------------
class Target(Protocol):
    name: str

    def send(self, message: str, conversation_id: str | None) -> Reply: ...


class InProcessTarget:
    """Calls `Assistant.ask` directly; sees the retrieved chunks and full cited texts."""

    name = "in-process"

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant

    def send(self, message: str, conversation_id: str | None) -> Reply:
        turn = self.assistant.ask(message, conversation_id=conversation_id, channel="api")
        texts = {(h.chunk.doc_id, h.chunk.section, h.chunk.start): h.chunk.text for h in turn.retrieved}
        citations = [
            CitedSource(
                n=c.n,
                doc_id=c.doc_id,
                title=c.title,
                section=c.section,
                url=c.url,
                snippet=c.snippet,
                text=texts.get((c.doc_id, c.section, c.start), ""),
            )
            for c in turn.citations
        ]
        return Reply(
            conversation_id=turn.conversation_id,
            status=turn.status,
            reason=turn.reason,
            answer=turn.answer,
            citations=citations,
            retrieved_doc_ids=[h.chunk.doc_id for h in turn.retrieved],
            retrieved_contexts=[h.chunk.text for h in turn.retrieved],
            timings=dict(turn.timings),
            composer=turn.composer,
        )


class HttpTarget:
    """POSTs to `{url}/v1/chat`; only the cited sources are visible, so they stand in for retrieval."""

    def __init__(self, url: str, timeout: float = 60.0, client: httpx.Client | None = None) -> None:
        self.url = url.rstrip("/")
        self.name = self.url
        self.client = client or httpx.Client(timeout=timeout)

    def send(self, message: str, conversation_id: str | None) -> Reply:
        body: dict[str, Any] = {"message": message, "channel": "api"}
        if conversation_id:
            body["conversation_id"] = conversation_id
        for _attempt in range(30):
            response = self.client.post(f"{self.url}/v1/chat", json=body)
            if response.status_code != 429:
                break
            time.sleep(min(30.0, float(response.headers.get("Retry-After", "2") or 2)))
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
        data = response.json()
        citations = [
            CitedSource(
                n=c["n"],
                doc_id=c["doc_id"],
                title=c.get("title", ""),
                section=c.get("section", ""),
                url=c.get("url", ""),
                snippet=c.get("snippet", ""),
            )
            for c in data.get("citations", [])
        ]
        ordered = sorted(citations, key=lambda c: c.n)
        return Reply(
            conversation_id=data["conversation_id"],
            status=data["status"],
            reason=data.get("reason"),
            answer=data.get("answer", ""),
            citations=citations,
            retrieved_doc_ids=[c.doc_id for c in ordered],
            retrieved_contexts=[c.snippet for c in ordered],
            timings={k: float(v) for k, v in (data.get("timings_ms") or {}).items()},
        )


def run_item(item: EvalItem, target: Target) -> ItemResult:
    """Send the turns in order in one conversation; the last reply is judged."""
    result = ItemResult.of(item)
    conversation_id: str | None = None
    try:
        for message in item.turns:
            started = time.perf_counter()
            reply = target.send(message, conversation_id)
            result.total_ms = (time.perf_counter() - started) * 1000
            conversation_id = reply.conversation_id
        result.status, result.reason, result.answer = reply.status, reply.reason, reply.answer
        result.citations, result.timings = reply.citations, reply.timings
        result.retrieved_doc_ids, result.retrieved_contexts = (
            reply.retrieved_doc_ids,
            reply.retrieved_contexts,
        )
        result.conversation_id, result.composer = reply.conversation_id, reply.composer
    except Exception as exc:  # one failing item must not end the run
        result.status, result.error = "error", f"{type(exc).__name__}: {exc}"
    return result


def run_items(items: Sequence[EvalItem], target: Target, show_progress: bool = True) -> list[ItemResult]:
    if not show_progress:
        return [run_item(item, target) for item in items]
    results: list[ItemResult] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns) as progress:
        task = progress.add_task("evaluating", total=len(items))
        for item in items:
            progress.update(task, description=f"evaluating {item.id}")
            results.append(run_item(item, target))
            progress.advance(task)
    return results


def reference_chunks(corpus_dir: Path) -> dict[str, list[str]]:
    """The chunk texts of every corpus document, by doc id (ragas' reference contexts)."""
    from assistant.ingest.loaders import load_corpus
    from assistant.ingest.run import all_chunks

    chunks: dict[str, list[str]] = defaultdict(list)
    for chunk in all_chunks(load_corpus(corpus_dir)):
        chunks[chunk.doc_id].append(chunk.text)
    return dict(chunks)


# --- one whole evaluation --------------------------------------------------------------------------
@dataclass
class EvalOutcome:
    exit_code: int
    out_dir: Path
    report: dict[str, Any]
    failures: list[GateFailure] = field(default_factory=list)


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def default_out(dataset: str, split: str) -> Path:
    return Path("reports") / f"{Path(dataset).stem}-{split}-{timestamp()}"


def thresholds_path() -> Path:
    from assistant.evals.datasets import evals_dir

    return evals_dir() / "thresholds.yaml"


def evaluate(
    dataset: str = "golden",
    split: str | None = None,
    *,
    assistant: Any = None,
    url: str | None = None,
    out: Path | None = None,
    compare: Path | None = None,
    gate: bool = True,
    thresholds: Path | None = None,
    settings: Settings | None = None,
    items: Sequence[EvalItem] | None = None,
    show_progress: bool = True,
    use_ragas: bool = True,
    console: Console | None = None,
) -> EvalOutcome:
    """Run a dataset, score it, write report.json/summary.md/report.html and apply the gate."""
    from assistant.evals.report import write_reports
    from assistant.prompts import load_prompts

    console = console or Console(stderr=True, quiet=not show_progress)
    settings = settings or (assistant.settings if assistant is not None else get_settings())
    kind = dataset if dataset in DATASETS else kind_of(dataset_path(dataset))
    split = split or ("test" if kind == "golden" else "all")
    if items is None:
        items = load_dataset(dataset, split)
    if not items:
        raise ValueError(f"dataset {dataset!r} has no items for split {split!r}")
    out_dir = out or default_out(kind, split)

    target: Target
    if url:
        target = HttpTarget(url)
    else:
        if assistant is None:
            from assistant.service import Assistant

            assistant = Assistant(settings)
        if not assistant.retriever.ready:
            raise RuntimeError("the index is empty: run `assistant ingest` first")
        target = InProcessTarget(assistant)

    started = time.perf_counter()
    results = run_items(items, target, show_progress=show_progress)
    run_seconds = time.perf_counter() - started

    prompts = assistant.prompts if assistant is not None else load_prompts(settings.prompts_dir)
    leak = LeakCheck(
        canary=prompts.canary if assistant is not None else "",
        system_prompts=[prompts.system_prompt(lang) for lang in sorted(prompts.system)],
    )
    references: dict[str, list[str]] = {}
    if kind == "golden" and use_ragas:
        try:
            references = reference_chunks(settings.corpus_dir)
        except Exception as exc:  # ragas context figures are extra, not essential
            console.print(f"[yellow]warning:[/] no reference contexts for ragas ({exc})")
    embedder = getattr(assistant, "embedder", None)
    scoring_started = time.perf_counter()
    figures = compute(results, leak, references, settings, embedder, use_ragas=use_ragas)
    scoring_seconds = time.perf_counter() - scoring_started

    composers = sorted({r.composer for r in results if r.composer})
    report: dict[str, Any] = {
        "version": 1,
        "dataset": kind,
        "dataset_file": str(dataset_path(dataset)),
        "split": split,
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "target": target.name,
        "composer": ", ".join(composers) or ("llm" if settings.llm_enabled else "extractive"),
        "settings": {
            "embedder": settings.embedder,
            "top_k": settings.top_k,
            "answer_threshold": settings.answer_threshold,
            "llm_model": settings.llm_model if settings.llm_enabled else "",
        },
        "n_items": len(results),
        "seconds": {"run": round(run_seconds, 2), "scoring": round(scoring_seconds, 2)},
        "headlines": HEADLINES[kind],
        **figures,
        "items": [r.model_dump(mode="json") for r in results],
    }

    baseline: dict[str, Any] | None = None
    if compare is not None:
        baseline = json.loads(Path(compare).read_text(encoding="utf-8"))
        report["comparison"] = compare_reports(report, baseline)
        report["comparison"]["baseline_file"] = str(compare)
        if report["comparison"]["note"]:
            console.print(
                f"[yellow]warning:[/] the baseline is {baseline.get('dataset')}/{baseline.get('split')}, "
                f"this run is {kind}/{split}: the comparison is apples to oranges"
            )
    threshold_file = thresholds or thresholds_path()
    limits = load_thresholds(threshold_file) if threshold_file.exists() else {}
    profile_name, profile = threshold_profile(limits, kind, split)
    failures = check_gate(
        report["metrics"], profile, limits, baseline.get("metrics", {}) if baseline is not None else None
    )
    report["gate"] = {
        "enabled": gate,
        "profile": profile_name,
        "thresholds_file": str(threshold_file),
        "min": profile.get("min") or {},
        "max": profile.get("max") or {},
        "passed": not failures,
        "failures": [f.__dict__ for f in failures],
    }
    write_reports(report, out_dir)
    print_summary(report, out_dir, console)
    return EvalOutcome(1 if gate and failures else 0, out_dir, report, failures)


def print_summary(report: dict[str, Any], out_dir: Path, console: Console) -> None:
    from assistant.evals.report import format_value

    table = Table("metric", "value", "threshold", title=f"{report['dataset']} / {report['split']}")
    gate = report["gate"]
    for metric in report["headlines"]:
        limit = ""
        if metric in gate["min"]:
            limit = f">= {format_value(metric, gate['min'][metric])}"
        elif metric in gate["max"]:
            limit = f"<= {format_value(metric, gate['max'][metric])}"
        table.add_row(metric, format_value(metric, report["metrics"].get(metric)), limit)
    console.print(table)
    if gate["failures"]:
        verdict = "[red]FAILED[/]" if gate["enabled"] else "[yellow]would fail (gate disabled)[/]"
        console.print(f"Gate {gate['profile']}: {verdict}")
        for failure in gate["failures"]:
            console.print(f"  - {failure['message']}")
    else:
        console.print(f"Gate {gate['profile']}: [green]passed[/]")
    console.print(f"Reports in {out_dir}/ (report.html, summary.md, report.json)")
