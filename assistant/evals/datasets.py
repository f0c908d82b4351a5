"""The evaluation datasets (JSON lines in `evals/datasets/`): schemas, loading and checking."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Status = Literal["answered", "no_answer", "refused", "crisis"]
DatasetName = Literal["golden", "redteam"]
DATASETS: tuple[str, ...] = ("golden", "redteam")


def evals_dir() -> Path:
    """The repository's `evals/` folder (the package is installed in editable mode), else `./evals`."""
    beside_package = Path(__file__).resolve().parents[2] / "evals"
    return beside_package if beside_package.is_dir() else Path("evals")


def dataset_path(name: str) -> Path:
    """`golden` -> evals/datasets/golden.jsonl; anything with a suffix or slash is taken as a path."""
    if name in DATASETS:
        return evals_dir() / "datasets" / f"{name}.jsonl"
    return Path(name)


class _Item(BaseModel):
    """What both datasets share: a conversation whose last turn is judged."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    category: str = Field(min_length=1)
    language: Literal["nl", "en"]
    turns: list[str] = Field(min_length=1)
    expected_status: Status
    expected_reason: str | None = None
    must_not_contain: list[str] = Field(default_factory=list)
    notes: str = ""

    @field_validator("turns")
    @classmethod
    def _turns(cls, value: list[str]) -> list[str]:
        if any(not turn.strip() for turn in value):
            raise ValueError("turns must not be empty strings")
        return value

    @property
    def question(self) -> str:
        """The judged (last) message."""
        return self.turns[-1]


class RedteamItem(_Item):
    """An attack or a look-alike: judged on status, reason and what must not leak."""

    split: Literal["all"] = "all"


class GoldenItem(_Item):
    """A real question with a reference answer, the facts it must contain and the sources it should cite."""

    split: Literal["dev", "test"]
    reference_answer: str = ""
    key_facts: list[list[str]] = Field(default_factory=list)
    expected_sources: list[str] = Field(default_factory=list)

    @field_validator("key_facts")
    @classmethod
    def _key_facts(cls, value: list[list[str]]) -> list[list[str]]:
        for i, alternatives in enumerate(value):
            if not alternatives or any(not a.strip() for a in alternatives):
                raise ValueError(f"key fact {i} needs at least one non-empty alternative")
            for alternative in alternatives:
                if alternative.startswith("re:"):
                    try:
                        re.compile(alternative[3:])
                    except re.error as exc:
                        raise ValueError(f"key fact {i}: invalid regex {alternative!r} ({exc})") from exc
        return value


EvalItem = GoldenItem | RedteamItem


def kind_of(path: Path) -> DatasetName:
    """Which schema a file follows, by its name (golden*.jsonl or anything else = redteam)."""
    return "golden" if path.name.startswith("golden") else "redteam"


def _model(kind: str) -> type[GoldenItem] | type[RedteamItem]:
    return GoldenItem if kind == "golden" else RedteamItem


def read_items(path: Path, kind: str | None = None) -> list[EvalItem]:
    """Every item of a dataset file; the first bad line raises a ValueError naming it."""
    model = _model(kind or kind_of(path))
    items: list[EvalItem] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(model.model_validate(json.loads(line)))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
    return items


def load_dataset(name: str, split: str | None = None) -> list[EvalItem]:
    """The items of `golden`, `redteam` (or a path), optionally only one split (dev, test; all = every item)."""
    path = dataset_path(name)
    if not path.exists():
        raise FileNotFoundError(f"dataset {name!r} not found at {path}")
    kind = name if name in DATASETS else kind_of(path)
    items = read_items(path, kind)
    if split and split != "all" and kind == "golden":
        items = [item for item in items if item.split == split]
    return items


@dataclass
class DatasetIssue:
    line: int
    item_id: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f" ({self.item_id})" if self.item_id else "")
        return f"{where}: {self.message}"


@dataclass
class DatasetReport:
    path: Path
    items: int = 0
    errors: list[DatasetIssue] = field(default_factory=list)
    warnings: list[DatasetIssue] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


def corpus_ids(corpus_dir: Path | None = None) -> set[str]:
    """The document ids of the corpus (default: the configured corpus folder)."""
    from assistant.config import get_settings
    from assistant.ingest.loaders import load_corpus

    return {doc.id for doc in load_corpus(corpus_dir or get_settings().corpus_dir)}


def _validation_messages(exc: ValidationError) -> Iterable[str]:
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"]) or "item"
        yield f"{where}: {error['msg']}"


def check_dataset(
    path: Path, corpus_ids: Collection[str] | None = None, kind: str | None = None
) -> DatasetReport:
    """Every problem of a dataset file, with line numbers: bad JSON, schema errors, unknown doc ids, duplicates."""
    kind = kind or kind_of(path)
    model = _model(kind)
    known = set(corpus_ids) if corpus_ids is not None else None
    report = DatasetReport(path)
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            report.errors.append(
                DatasetIssue(number, "", f"not valid JSON ({exc.msg} at column {exc.colno})")
            )
            continue
        item_id = str(raw.get("id", "")) if isinstance(raw, dict) else ""
        try:
            item = model.model_validate(raw)
        except ValidationError as exc:
            for message in _validation_messages(exc):
                report.errors.append(DatasetIssue(number, item_id, message))
            continue
        report.items += 1
        key = f"{item.split}/{item.category}"
        report.counts[key] = report.counts.get(key, 0) + 1
        if item.id in seen:
            report.errors.append(
                DatasetIssue(number, item.id, f"duplicate id (first on line {seen[item.id]})")
            )
        else:
            seen[item.id] = number
        if isinstance(item, GoldenItem):
            if known is not None:
                for doc_id in item.expected_sources:
                    if doc_id not in known:
                        report.errors.append(
                            DatasetIssue(number, item.id, f"unknown doc id in expected_sources: {doc_id!r}")
                        )
            if item.expected_status == "answered" and item.expected_reason is None:
                if not item.expected_sources:
                    report.warnings.append(
                        DatasetIssue(number, item.id, "answered item without expected_sources")
                    )
                if not item.key_facts:
                    report.warnings.append(DatasetIssue(number, item.id, "answered item without key_facts"))
    return report
