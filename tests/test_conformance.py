"""Upstream Nix's language tests: every test passes unless it is listed,
with its reason, in tests/conformance-divergences.txt."""

from __future__ import annotations

import conformance
import pytest

REPORT = None


def _report() -> conformance.Report:
    global REPORT
    if REPORT is None:
        REPORT = conformance.run()
    return REPORT


def test_corpus_present_or_skip() -> None:
    if conformance.corpus_dir() is None:
        pytest.skip("Nix language test corpus not found (set NIXLENS_LANG_TESTS)")
    assert _report().outcomes, "the corpus was found but no test ran"


@pytest.mark.parametrize("kind", ["parse-okay", "parse-fail", "eval-okay", "eval-fail"])
def test_kind(kind: str) -> None:
    if conformance.corpus_dir() is None:
        pytest.skip("Nix language test corpus not found (set NIXLENS_LANG_TESTS)")
    report = _report()
    div = conformance.load_divergences()
    ran = [o for o in report.outcomes if o.kind == kind]
    assert ran, f"no {kind} tests found"
    unexpected = [f"{o.name}: {o.detail[:300]}" for o in ran if not o.ok and o.name not in div]
    assert not unexpected, "\n".join(unexpected)
