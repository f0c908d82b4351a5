"""Benchmarks: ingest time, incremental re-ingest, /v1/chat latency on loopback, and retrieval quality.

Usage: python bench/run.py [ingest] [latency] [retrieval]   (no argument = all). Figures go to the README by hand.
"""

from __future__ import annotations

import json
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.config import Settings  # noqa: E402
from assistant.service import Assistant  # noqa: E402


def settings(data: Path, corpus: Path) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        data_dir=data,
        corpus_dir=corpus,
        prompts_dir=ROOT / "prompts",
        rate_limit_per_minute=0,
    )


def golden() -> list[dict[str, object]]:
    lines = (ROOT / "evals" / "datasets" / "golden.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def bench_ingest() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)
        assistant = Assistant(settings(Path(tmp) / "data", corpus))
        started = time.perf_counter()
        first = assistant.ingest()
        print(
            f"ingest (full): {time.perf_counter() - started:.1f}s for {first.documents} documents, {first.chunks} chunks"
        )
        article = corpus / "articles" / "pabo-voltijd.md"
        article.write_text(
            article.read_text(encoding="utf-8") + "\n\nEen extra alinea voor de benchmark.\n",
            encoding="utf-8",
        )
        started = time.perf_counter()
        second = assistant.ingest()
        embedded = second.report.embedded if second.report else 0
        print(
            f"re-ingest after changing one article: {time.perf_counter() - started:.2f}s ({embedded} chunks embedded)"
        )


def bench_latency(n: int = 200) -> None:
    import threading

    import uvicorn

    from assistant.api.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        s = settings(Path(tmp) / "data", ROOT / "corpus")
        assistant = Assistant(s)
        assistant.ingest()
        with socket.socket() as probe:  # a free loopback port: a fixed one may be taken
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(s, assistant=assistant), host="127.0.0.1", port=port, log_level="warning"
            )
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            if not thread.is_alive():
                raise SystemExit(f"the server did not start on 127.0.0.1:{port}")
            time.sleep(0.05)
        questions = [str(item["turns"][-1]) for item in golden()]  # type: ignore[index]
        questions = (questions * (n // len(questions) + 1))[:n]
        timings: list[float] = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            client.post("/v1/chat", json={"message": "warm-up"})
            for question in questions:
                started = time.perf_counter()
                response = client.post("/v1/chat", json={"message": question})
                timings.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, response.text
        server.should_exit = True
        timings.sort()
        p50 = statistics.median(timings)
        p95 = timings[int(len(timings) * 0.95) - 1]
        print(f"POST /v1/chat (extractive) over {n} questions: p50 {p50:.1f} ms, p95 {p95:.1f} ms")


def bench_retrieval() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        assistant = Assistant(settings(Path(tmp) / "data", ROOT / "corpus"))
        assistant.ingest()
        labelled = [i for i in golden() if i["expected_sources"]]
        # The README quotes the test split (the dev split was looked at while tuning the fusion).
        for split, items in (("test", [i for i in labelled if i["split"] == "test"]), ("all", labelled)):
            _retrieval_table(assistant, split, items)


def _retrieval_table(assistant: Assistant, split: str, items: list[dict[str, object]]) -> None:
    for mode in ("dense", "bm25", "hybrid"):
        hit1 = hit5 = rr = 0.0
        for item in items:
            question = " ".join(str(t) for t in item["turns"])  # type: ignore[attr-defined]
            docs = [r.chunk.doc_id for r in assistant.retriever.search(question, k=5, mode=mode)]  # type: ignore[arg-type]
            expected = set(item["expected_sources"])  # type: ignore[call-overload]
            ranks = [i for i, d in enumerate(docs, start=1) if d in expected]
            hit1 += bool(ranks and ranks[0] == 1)
            hit5 += bool(ranks)
            rr += 1 / ranks[0] if ranks else 0
        n = len(items)
        print(f"{split:4s} {mode:7s} hit@1 {hit1 / n:.3f}  hit@5 {hit5 / n:.3f}  MRR {rr / n:.3f}  (n={n})")


if __name__ == "__main__":
    wanted = set(sys.argv[1:]) or {"ingest", "latency", "retrieval"}
    if "retrieval" in wanted:
        bench_retrieval()
    if "latency" in wanted:
        bench_latency()
    if "ingest" in wanted:
        bench_ingest()
