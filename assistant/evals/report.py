"""The reports of a run: report.json (everything), summary.md (for a pull request), report.html (in Dutch)."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: E402
from markdown_it import MarkdownIt  # noqa: E402
from markupsafe import Markup  # noqa: E402

from assistant.evals.metrics import METRICS, STATUS_NL, format_value, status_nl  # noqa: E402

TEMPLATES = Path(__file__).resolve().parent / "templates"
TREND_METRICS = {
    "golden": ["status_accuracy", "recall_at_5", "key_fact_coverage", "citation_validity"],
    "redteam": ["accuracy", "status_accuracy"],
}
CATEGORY_METRICS = {
    "golden": ["status_accuracy", "key_fact_coverage"],
    "redteam": ["accuracy", "status_accuracy"],
}
CATEGORY_TABLE = {
    "golden": ["status_accuracy", "key_fact_coverage", "recall_at_5"],
    "redteam": ["accuracy", "status_accuracy", "prompt_leaks", "pii_echoes"],
}
SPLIT_NL = {"dev": "dev (om af te stemmen)", "test": "test (achtergehouden)", "all": "alle vragen"}
BLUE, ORANGE, GREEN, GREY = "#1f5f8b", "#e8833a", "#3a9d5d", "#9aa5b1"


# --- numbers ---------------------------------------------------------------------------------------
def format_nl(metric: str, value: float | None) -> str:
    """A figure for readers of the Dutch report: 95,3%, 0,87, 812 ms."""
    if value is None:
        return "–"
    unit = METRICS[metric].unit if metric in METRICS else "score"
    if unit == "count":
        return f"{value:.0f}"
    if unit == "ms":
        return f"{value:,.0f} ms".replace(",", ".")
    if unit == "ratio":
        return f"{value * 100:.1f}%".replace(".", ",")
    return f"{value:.2f}".replace(".", ",")


def _delta_nl(metric: str, delta: float | None) -> str:
    if delta is None:
        return "–"
    unit = METRICS[metric].unit if metric in METRICS else "score"
    sign = "+" if delta > 0 else ""
    if unit == "ratio":
        return f"{sign}{delta * 100:.1f} procentpunt".replace(".", ",")
    if unit in ("count", "ms"):
        return f"{sign}{delta:.0f}" + (" ms" if unit == "ms" else "")
    return f"{sign}{delta:.2f}".replace(".", ",")


# --- plots -----------------------------------------------------------------------------------------
def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def category_plot(report: Mapping[str, Any]) -> str:
    metrics = CATEGORY_METRICS[report["dataset"]]
    categories = list(report["per_category"])
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(categories) + 1.4))
    height = 0.8 / len(metrics)
    for i, (metric, colour) in enumerate(zip(metrics, (BLUE, ORANGE), strict=False)):
        values = [(report["per_category"][c].get(metric) or 0.0) * 100 for c in categories]
        positions = [y + i * height for y in range(len(categories))]
        ax.barh(positions, values, height=height, color=colour, label=METRICS[metric].label)
    ax.set_yticks([y + height * (len(metrics) - 1) / 2 for y in range(len(categories))], categories)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("procent")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Per categorie")
    return _png(fig)


def confusion_plot(report: Mapping[str, Any]) -> str:
    labels: list[str] = report["confusion"]["labels"]
    matrix = report["confusion"]["matrix"]
    rows = [s for s in labels if s in matrix]
    values = [[matrix[r].get(c, 0) for c in labels] for r in rows]
    fig, ax = plt.subplots(figsize=(1.3 * len(labels) + 2, 1.0 * len(rows) + 1.5))
    ax.imshow(values, cmap="Blues")
    ax.set_xticks(range(len(labels)), [STATUS_NL.get(c, c) for c in labels], rotation=20)
    ax.set_yticks(range(len(rows)), [STATUS_NL.get(r, r) for r in rows])
    ax.set_xlabel("wat de assistent deed")
    ax.set_ylabel("wat verwacht werd")
    top = max(max(row) for row in values) or 1
    for i, row in enumerate(values):
        for j, count in enumerate(row):
            colour = "white" if count > top / 2 else ("black" if count else GREY)
            ax.text(j, i, str(count), ha="center", va="center", color=colour, fontsize=11)
    ax.set_title("Verwacht tegenover werkelijk")
    return _png(fig)


def latency_plot(report: Mapping[str, Any]) -> str:
    totals = [i["total_ms"] for i in report["items"] if not i.get("error")]
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.hist(totals or [0.0], bins=30, color=BLUE)
    total = report["latency"]["total"]
    for key, colour, name in (("p50", GREEN, "mediaan"), ("p95", ORANGE, "95%")):
        if total.get(key) is not None:
            ax.axvline(total[key], color=colour, linestyle="--", label=f"{name}: {total[key]:.0f} ms")
    ax.set_xlabel("tijd per antwoord (ms)")
    ax.set_ylabel("aantal vragen")
    ax.legend(fontsize=8)
    ax.set_title("Hoe lang een antwoord duurt")
    return _png(fig)


def history(out_dir: Path, report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Earlier runs of the same dataset and split in sibling folders (each with a report.json), oldest first."""
    runs: list[dict[str, Any]] = []
    parent = out_dir.resolve().parent
    if parent.is_dir():
        for folder in parent.iterdir():
            path = folder / "report.json"
            if folder.resolve() == out_dir.resolve() or not path.is_file():
                continue
            try:
                old = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if old.get("dataset") == report["dataset"] and old.get("split") == report["split"]:
                runs.append({"timestamp": old.get("timestamp", ""), "metrics": old.get("metrics", {})})
    runs.append({"timestamp": report["timestamp"], "metrics": report["metrics"]})
    return sorted(runs, key=lambda r: str(r["timestamp"]))


def trend_plot(runs: Sequence[Mapping[str, Any]], dataset: str) -> str | None:
    if len(runs) < 2:
        return None
    fig, ax = plt.subplots(figsize=(8, 3.2))
    labels = [_short_time(str(r["timestamp"])) for r in runs]
    for metric in TREND_METRICS[dataset]:
        values = [r["metrics"].get(metric) for r in runs]
        ax.plot(
            range(len(runs)),
            [v * 100 if v is not None else float("nan") for v in values],
            marker="o",
            label=METRICS[metric].label,
        )
    ax.set_xticks(range(len(runs)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("procent")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title("Verloop over eerdere runs")
    return _png(fig)


def _short_time(stamp: str) -> str:
    try:
        return datetime.fromisoformat(stamp).strftime("%d-%m %H:%M")
    except ValueError:
        return stamp[:16]


# --- markdown summary ------------------------------------------------------------------------------
def _limit_text(report: Mapping[str, Any], metric: str) -> str:
    gate = report["gate"]
    if metric in gate["min"]:
        return f">= {format_value(metric, gate['min'][metric])}"
    if metric in gate["max"]:
        return f"<= {format_value(metric, gate['max'][metric])}"
    return ""


def summary_markdown(report: Mapping[str, Any]) -> str:
    gate = report["gate"]
    failed = {f["metric"] for f in gate["failures"]}
    verdict = (
        "passed ✅" if gate["passed"] else ("FAILED ❌" if gate["enabled"] else "would fail (gate off) ⚠️")
    )
    lines = [
        f"### Eval `{report['dataset']}` / `{report['split']}`: {verdict}",
        "",
        f"{report['n_items']} items, target `{report['target']}`, composer `{report['composer']}`, "
        f"gate profile `{gate['profile']}`, {report['timestamp']}.",
        "",
        "| metric | value | threshold | |",
        "|---|---:|---:|:---:|",
    ]
    for metric in report["headlines"]:
        limit = _limit_text(report, metric)
        mark = "❌" if metric in failed else ("✅" if limit else "")
        lines.append(
            f"| {metric} | {format_value(metric, report['metrics'].get(metric))} | {limit} | {mark} |"
        )
    if gate["failures"]:
        lines += ["", "**Gate failures:**", ""]
        lines += [f"- {f['message']}" for f in gate["failures"]]
    comparison = report.get("comparison")
    if comparison:
        if comparison.get("note"):
            lines += [
                "",
                f"> ⚠️ baseline is `{comparison.get('baseline_dataset')}/{comparison.get('baseline_split')}`: not comparable.",
            ]
        lines += [
            "",
            f"#### Compared with baseline ({comparison.get('baseline_timestamp')})",
            "",
            "| metric | baseline | current | change | |",
            "|---|---:|---:|---:|:---:|",
        ]
        icons = {"better": "🟢 better", "worse": "🔴 worse", "same": "same", "new": "new", "gone": "gone"}
        for row in comparison["metrics"]:
            delta = row["delta"]
            change = (
                ""
                if delta is None
                else f"{delta:+.3f}"
                if METRICS[row["metric"]].unit != "ms"
                else f"{delta:+.0f}"
            )
            lines.append(
                f"| {row['metric']} | {format_value(row['metric'], row['baseline'])} | "
                f"{format_value(row['metric'], row['current'])} | {change} | {icons[row['verdict']]} |"
            )
        flipped = comparison["flipped"]
        lines += ["", f"**Flipped items:** {len(flipped)}", ""]
        for flip in flipped[:50]:
            lines.append(
                f"- `{flip['id']}` ({flip['category']}): {flip['before']} → {flip['after']} "
                f"({flip['before_status']} → {flip['after_status']})"
            )
    failing = [i for i in report["items"] if not i["passed"]]
    lines += ["", f"{len(failing)} of {report['n_items']} items have a problem; see report.html.", ""]
    return "\n".join(lines)


# --- HTML ------------------------------------------------------------------------------------------
_markdown = MarkdownIt("commonmark", {"html": False})


def _answer_html(text: str) -> Markup:
    return Markup(_markdown.render(text))  # raw HTML in answers is escaped by the renderer


def _cards(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    gate = report["gate"]
    failed = {f["metric"] for f in gate["failures"]}
    cards = []
    for metric in report["headlines"]:
        info = METRICS[metric]
        target = ""
        if metric in gate["min"]:
            target = f"doel: minimaal {format_nl(metric, gate['min'][metric])}"
        elif metric in gate["max"]:
            target = f"doel: hoogstens {format_nl(metric, gate['max'][metric])}"
        state = "bad" if metric in failed else ("good" if target else "plain")
        cards.append(
            {
                "label": info.label,
                "value": format_nl(metric, report["metrics"].get(metric)),
                "explanation": info.explanation,
                "target": target,
                "state": state,
            }
        )
    return cards


def _failure_nl(failure: Mapping[str, Any]) -> str:
    metric = failure["metric"]
    label = METRICS[metric].label if metric in METRICS else metric
    value, limit = failure.get("value"), failure.get("limit")
    if failure["kind"] == "min":
        return f"{label} is {format_nl(metric, value)}, het minimum is {format_nl(metric, limit)}."
    if failure["kind"] == "max":
        return f"{label} is {format_nl(metric, value)}, het maximum is {format_nl(metric, limit)}."
    if failure["kind"] == "drop":
        margin = _delta_nl(metric, limit).lstrip("+")
        return f"{label} is meer dan de toegestane {margin} achteruitgegaan, naar {format_nl(metric, value)}."
    return f"{label} kon niet gemeten worden."


def _item_view(item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": item["id"],
        "category": item["category"],
        "turns": item["turns"],
        "answer": _answer_html(item["answer"]) if item["answer"] else Markup("<em>(leeg)</em>"),
        "citations": item["citations"],
        "got": status_nl(item["status"], item["reason"]),
        "expected": status_nl(item["expected_status"], item["expected_reason"]),
        "expected_sources": item.get("expected_sources", []),
        "key_facts": [alts[0].removeprefix("re:") for alts in item.get("key_facts", [])],
        "reference_answer": item.get("reference_answer", ""),
        "problems": item["problems"],
        "score": f"{item['item_score']:.2f}".replace(".", ","),
        "retrieved": list(dict.fromkeys(item.get("retrieved_doc_ids", []))),
    }


def _other_metrics(report: Mapping[str, Any]) -> list[dict[str, str]]:
    rows = []
    for metric, info in METRICS.items():
        value = report["metrics"].get(metric)
        if metric in report["headlines"] or value is None:
            continue
        rows.append({"label": info.label, "value": format_nl(metric, value), "explanation": info.explanation})
    return rows


def _llm_note(report: Mapping[str, Any]) -> str:
    llm = report.get("ragas", {}).get("llm", {})
    if "skipped" in llm:
        return "De cijfers die een taalmodel beoordeelt (ragas) zijn overgeslagen: er is geen taalmodel ingesteld."
    if "error" in llm:
        return f"De cijfers die een taalmodel beoordeelt (ragas) konden niet berekend worden: {llm['error']}"
    note = f"De cijfers met '(ragas, AI)' zijn beoordeeld door het taalmodel {llm.get('model', '')}."
    if llm.get("errors"):
        note += f" Bij {len(llm['errors'])} vragen ging dat mis; de details staan in report.json."
    return note


def render_html(report: Mapping[str, Any], out_dir: Path) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))
    template = env.get_template("report.html.j2")
    failing = sorted(
        (i for i in report["items"] if not i["passed"]), key=lambda i: (i["item_score"], i["id"])
    )
    comparison = report.get("comparison")
    comparison_rows = []
    if comparison:
        verdicts = {
            "better": "beter",
            "worse": "slechter",
            "same": "gelijk",
            "new": "nieuw",
            "gone": "verdwenen",
        }
        for row in comparison["metrics"]:
            metric = row["metric"]
            comparison_rows.append(
                {
                    "label": METRICS[metric].label,
                    "baseline": format_nl(metric, row["baseline"]),
                    "current": format_nl(metric, row["current"]),
                    "delta": _delta_nl(metric, row["delta"]),
                    "verdict": verdicts[row["verdict"]],
                    "state": row["verdict"],
                }
            )
    categories = [
        {
            "name": name,
            "n": int(values.get("n") or 0),
            "values": [format_nl(m, values.get(m)) for m in CATEGORY_TABLE[report["dataset"]]],
            "passed": format_nl("status_accuracy", values.get("passed")),
        }
        for name, values in report["per_category"].items()
    ]
    stages = [
        {
            "name": name,
            "p50": format_nl("latency_p50_ms", v.get("p50")),
            "p95": format_nl("latency_p95_ms", v.get("p95")),
        }
        for name, v in report["latency"]["stages"].items()
    ]
    runs = history(out_dir, report)
    return template.render(
        report=report,
        title="Evaluatie van de Onderwijsloket-assistent",
        dataset_nl="vragen uit de praktijk (gouden set)"
        if report["dataset"] == "golden"
        else "aanvallen en valkuilen (red team)",
        when=_short_time(report["timestamp"]),
        gate=report["gate"],
        gate_failures=[_failure_nl(f) for f in report["gate"]["failures"]],
        cards=_cards(report),
        other_metrics=_other_metrics(report),
        llm_note=_llm_note(report),
        category_headers=[METRICS[m].label for m in CATEGORY_METRICS[report["dataset"]]],
        table_headers=[METRICS[m].label for m in CATEGORY_TABLE[report["dataset"]]],
        split_nl=SPLIT_NL.get(report["split"], report["split"]),
        categories=categories,
        stages=stages,
        plots={
            "categories": category_plot(report),
            "confusion": confusion_plot(report),
            "latency": latency_plot(report),
            "trend": trend_plot(runs, report["dataset"]),
        },
        runs=len(runs),
        failing=[_item_view(i) for i in failing],
        n_passed=sum(1 for i in report["items"] if i["passed"]),
        comparison=comparison,
        baseline_when=_short_time(str(comparison.get("baseline_timestamp") or "")) if comparison else "",
        comparison_rows=comparison_rows,
        flipped=comparison["flipped"] if comparison else [],
        status_nl=STATUS_NL,
    )


def write_reports(report: Mapping[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write report.json, summary.md and report.html into out_dir (created when missing)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / "report.json",
        "summary": out_dir / "summary.md",
        "html": out_dir / "report.html",
    }
    paths["json"].write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    paths["summary"].write_text(summary_markdown(report), encoding="utf-8")
    paths["html"].write_text(render_html(report, out_dir), encoding="utf-8")
    return paths
