"""The shipped corpus passes `assistant corpus check`, and the check names file and field for bad files."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from assistant.cli import app
from assistant.ingest.check import check_corpus
from tests.conftest import ROOT


def test_shipped_corpus_is_valid_and_complete() -> None:
    report = check_corpus(ROOT / "corpus")
    assert report.errors == [], "\n".join(f"{e.file}: {e.message}" for e in report.errors)
    assert report.counts["article"] >= 45
    assert report.counts["faq"] >= 80
    assert report.counts["podcast_episode"] >= 6
    assert report.counts["testimonial"] >= 4


def test_podcast_transcripts_are_long_enough_with_two_or_more_speakers() -> None:
    from assistant.ingest.loaders import load_corpus

    episodes = [d for d in load_corpus(ROOT / "corpus") if d.collection == "podcast_episode"]
    for episode in episodes:
        assert episode.cues[-1].end - episode.cues[0].start >= 480, episode.id
        assert 2 <= len({c.speaker for c in episode.cues}) <= 3, episode.id
        assert episode.sample


def _write(folder: Path, name: str, text: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


GOOD = """---
id: art-goed
collection: article
title: Goed
slug: goed
url: /kennisbank/artikelen/goed
sectors: [po]
roles: [leraar]
topics: [pabo]
updated: 2026-01-01
reviewed: {reviewed}
sources:
  - title: Bron
    url: {url}
sample: false
---

## Kop

Tekst met een [link](/kennisbank/artikelen/{link}).
"""


def test_bad_files_are_named_with_their_field(tmp_path: Path) -> None:
    (tmp_path / "taxonomy.yaml").write_text((ROOT / "corpus" / "taxonomy.yaml").read_text(), encoding="utf-8")
    _write(
        tmp_path, "articles/goed.md", GOOD.format(reviewed="2026-01-01", url="https://duo.nl/x", link="goed")
    )
    _write(
        tmp_path,
        "articles/oud.md",
        GOOD.format(reviewed="2024-01-01", url="https://duo.nl/x", link="goed").replace("goed", "oud", 3),
    )
    _write(
        tmp_path,
        "articles/kapot.md",
        GOOD.format(reviewed="2026-01-01", url="geen-url", link="bestaat-niet")
        .replace("goed", "kapot", 3)
        .replace("[po]", "[kleuterschool]"),
    )
    _write(tmp_path, "faqs/zonder-id.md", "---\ncollection: faq\ntitle: x\n---\nantwoord\n")
    report = check_corpus(tmp_path, today=date(2026, 11, 29))
    messages = {(e.file, e.message.split(":")[0]) for e in report.errors}
    assert ("articles/kapot.md", "sectors") in messages
    assert ("articles/kapot.md", "sources") in messages
    assert ("articles/kapot.md", "link") in messages
    assert any(e.file == "faqs/zonder-id.md" and "id" in e.message for e in report.errors)
    assert not [e for e in report.errors if e.file == "articles/goed.md"]
    assert [w.file for w in report.warnings] == ["articles/oud.md"]


def test_the_cli_check_exits_non_zero_on_errors(tmp_path: Path) -> None:
    (tmp_path / "taxonomy.yaml").write_text((ROOT / "corpus" / "taxonomy.yaml").read_text(), encoding="utf-8")
    _write(
        tmp_path, "articles/goed.md", GOOD.format(reviewed="2026-01-01", url="https://duo.nl/x", link="goed")
    )
    runner = CliRunner()
    assert runner.invoke(app, ["corpus", "check", "--path", str(tmp_path)]).exit_code == 0
    _write(tmp_path, "articles/slecht.md", "geen front matter")
    result = runner.invoke(app, ["corpus", "check", "--path", str(tmp_path)])
    assert result.exit_code == 1
