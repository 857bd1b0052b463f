"""Shared fixtures: one Analyzer for the session (loading rules takes a fraction of a second)."""

from pathlib import Path

import pytest

from pipeline.nlp import Analyzer
from pipeline.run import process_texts

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
PATTERNS = ROOT / "patterns"


@pytest.fixture(scope="session")
def analyzer():
    return Analyzer(PATTERNS)


@pytest.fixture(scope="session")
def run(analyzer):
    """text -> ReportResult."""

    def _run(text):
        return process_texts(analyzer, [text])[0]

    return _run
