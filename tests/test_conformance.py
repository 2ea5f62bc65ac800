"""Upstream Nix's language tests: every test passes unless it is listed,
with its reason, in tests/conformance-divergences.txt.

The README's claims are held to their word: in CI (``CI=true``) a missing
corpus fails instead of skipping, and a listed divergence that starts
passing fails until it is removed from the list."""

from __future__ import annotations

import os

import conformance
import pytest

REPORT = None


def _report() -> conformance.Report:
    global REPORT
    if REPORT is None:
        REPORT = conformance.run()
    return REPORT


def in_ci() -> bool:
    """Whether the suite runs in CI (the ``CI`` variable CI services set)."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _need_corpus() -> None:
    if conformance.corpus_dir() is None:
        msg = "Nix language test corpus not found (set NIXLENS_LANG_TESTS)"
        if in_ci():
            pytest.fail(msg + "; CI must run the conformance suite")
        pytest.skip(msg)


def test_corpus_present_or_skip() -> None:
    _need_corpus()
    assert _report().outcomes, "the corpus was found but no test ran"


@pytest.mark.parametrize("kind", ["parse-okay", "parse-fail", "eval-okay", "eval-fail"])
def test_kind(kind: str) -> None:
    _need_corpus()
    report = _report()
    div = conformance.load_divergences()
    ran = [o for o in report.outcomes if o.kind == kind]
    assert ran, f"no {kind} tests found"
    unexpected = [f"{o.name}: {o.detail[:300]}" for o in ran if not o.ok and o.name not in div]
    assert not unexpected, "\n".join(unexpected)
    fixed = [o.name for o in ran if o.ok and o.name in div]
    assert not fixed, (
        f"listed in tests/conformance-divergences.txt but now passing: {' '.join(fixed)}; "
        "remove them from the list"
    )


def test_divergences_name_real_tests() -> None:
    _need_corpus()
    names = {o.name for o in _report().outcomes}
    stale = sorted(set(conformance.load_divergences()) - names)
    assert not stale, (
        f"tests/conformance-divergences.txt lists tests the corpus does not have: {stale}"
    )
