"""The evaluation suite: datasets, a runner (in-process or over HTTP), metrics, reports and a quality gate.

`assistant eval` is the entry point; `assistant.evals.runner.evaluate` is the same thing as a function.
"""

from __future__ import annotations

import os

# ragas must never phone home; set before anything imports it.
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
