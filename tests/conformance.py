"""Conformance runner over upstream Nix's language test suite.

Usable alone (``python tests/conformance.py [-v] [--stderr] [NAME-SUBSTRING ...]``;
``--stderr`` lists the eval tests whose whole stderr differs) and from pytest
(``tests/test_conformance.py``).  The corpus location comes from
``NIXLENS_LANG_TESTS`` (default ``../shared/nix-lang-tests`` from the repo
root).  Tests run in-process, in the environment upstream uses: the working
directory holds a ``lang`` link to the corpus, ``TEST_VAR=foo``,
``HOME=/fake-home``, ``NIX_PATH=lang/dir3:lang/dir4``, and the working
directory's absolute path is replaced by ``/pwd`` before comparing.

Kinds and checks:
- parse-okay: the AST dump equals ``.exp``; parse-fail: parsing fails.
- eval-okay: stdout equals ``.exp`` (or ``.exp.xml`` with ``--xml``); the
  stderr match against ``.err.exp`` is counted separately.
- eval-fail: exit status 1 and the innermost message (the last line starting
  with ``error:`` once indentation is stripped) equal to the expected one;
  the match of the whole stderr is counted separately.
"""

from __future__ import annotations

import contextlib
import io
import os
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass, field

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIVERGENCES = os.path.join(REPO, "tests", "conformance-divergences.txt")
PER_TEST_TIMEOUT = 20.0


def corpus_dir() -> str | None:
    d = os.environ.get("NIXLENS_LANG_TESTS") or os.path.join(REPO, "..", "shared", "nix-lang-tests")
    d = os.path.abspath(d)
    return d if os.path.isdir(d) else None


def load_divergences() -> dict[str, str]:
    """Test name -> reason, from the commented divergence list."""
    out: dict[str, str] = {}
    if not os.path.exists(DIVERGENCES):
        return out
    for line in open(DIVERGENCES, encoding="utf-8"):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        out[name] = reason.strip()
    return out


@dataclass
class Outcome:
    name: str
    kind: str
    ok: bool
    full_ok: bool  # stderr/trace match as well
    detail: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    def by_kind(self) -> dict[str, tuple[int, int, int]]:
        out: dict[str, list[int]] = {}
        for o in self.outcomes:
            c = out.setdefault(o.kind, [0, 0, 0])
            c[0] += 1
            c[1] += o.ok
            c[2] += o.full_ok
        return {k: (v[0], v[1], v[2]) for k, v in sorted(out.items())}

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]

    def summary(self) -> str:
        lines = []
        for kind, (total, ok, full) in self.by_kind().items():
            extra = ""
            if kind.startswith("eval"):
                extra = f" (full stderr match: {full}/{total})"
            lines.append(f"{kind}: {ok}/{total} passed{extra}")
        return "\n".join(lines)


def innermost_error(stderr: str) -> str | None:
    last = None
    for line in stderr.splitlines():
        s = line.strip()
        if s.startswith("error:"):
            last = s
    return last


@contextlib.contextmanager
def _environment(workdir: str):
    saved_env = dict(os.environ)
    saved_cwd = os.getcwd()
    os.environ["TEST_VAR"] = "foo"
    os.environ["HOME"] = "/fake-home"
    os.environ["NIX_PATH"] = "lang/dir3:lang/dir4"
    os.environ.pop("NIXLENS_LANG_TESTS", None)
    os.chdir(workdir)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def _run_cli(args: list[str], stdin_bytes: bytes | None = None) -> tuple[int, str, str]:
    from evaluator.cli import build_parser, evaluate_cli

    out, err = io.StringIO(), io.StringIO()
    try:
        ns = build_parser().parse_args(args)
    except SystemExit:
        return 2, "", "bad arguments: " + " ".join(args)
    if ns.timeout is None:
        ns.timeout = PER_TEST_TIMEOUT
    try:
        if stdin_bytes is not None:
            old = sys.stdin
            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin_bytes))
            try:
                rc = evaluate_cli(ns, out, err)
            finally:
                sys.stdin = old
        else:
            rc = evaluate_cli(ns, out, err)
    except Exception as e:  # an internal error is a failed test, not a crash
        import traceback

        return (
            99,
            out.getvalue(),
            err.getvalue() + "INTERNAL ERROR: " + "".join(traceback.format_exception(e)),
        )
    return rc, out.getvalue(), err.getvalue()


# Upstream's corpus holds these symlinks; the copy in shared/ has them
# flattened into regular files whose content is the link target (what git
# does without symlink support).  The runner works on a temporary copy and
# turns exactly these back into symlinks, as upstream has them.
UPSTREAM_SYMLINKS = (
    "readDir/ldir",
    "readDir/linked",
    "symlink-resolution/broken",
    "symlink-resolution/foo/overlays",
)


def _materialise(corpus: str, dest: str) -> None:
    """A temporary copy of the corpus with upstream's symlinks restored."""
    shutil.copytree(corpus, dest, symlinks=True)
    for rel in UPSTREAM_SYMLINKS:
        path = os.path.join(dest, rel)
        if os.path.isfile(path) and not os.path.islink(path):
            target = open(path, encoding="utf-8").read().strip()
            os.chmod(os.path.dirname(path), 0o755)
            os.remove(path)
            os.symlink(target, path)
    for root, dirs, _files in os.walk(dest):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)


def _read(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "surrogateescape")


def run(filter_: list[str] | None = None, verbose: bool = False) -> Report:
    """Run the corpus; returns the report."""
    corpus = corpus_dir()
    report = Report()
    if corpus is None:
        return report
    workdir = tempfile.mkdtemp(prefix="nixlens-conf-")
    _materialise(corpus, os.path.join(workdir, "lang"))
    names = sorted(f[:-4] for f in os.listdir(corpus) if f.endswith(".nix"))
    names = [n for n in names if n.split("-")[0] in ("eval", "parse")]
    if filter_:
        names = [n for n in names if any(f in n for f in filter_)]
    try:
        with _environment(workdir):
            for name in names:
                o = run_one(corpus, workdir, name)
                report.outcomes.append(o)
                if verbose and not o.ok:
                    print(f"FAIL {name}: {o.detail}", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def _fix(text: str, workdir: str) -> str:
    return text.replace(workdir, "/pwd").replace(os.path.realpath(workdir), "/pwd")


def run_one(corpus: str, workdir: str, name: str) -> Outcome:
    base = os.path.join(corpus, name)
    kind = "-".join(name.split("-")[:2])
    flags_file = base + ".flags"
    flags = shlex.split(_read(flags_file)) if os.path.exists(flags_file) else None
    if kind == "parse-okay" or kind == "parse-fail":
        src = open(base + ".nix", "rb").read()
        rc, out, err = _run_cli(["--parse", "-"], stdin_bytes=src)
        if kind == "parse-okay":
            exp = _read(base + ".exp")
            ok = rc == 0 and _fix(out, workdir) == exp
            return Outcome(name, kind, ok, ok, "" if ok else f"got {out[:300]!r} {err[:300]!r}")
        ok = rc != 0
        return Outcome(name, kind, ok, ok, "" if ok else "parsed without error")
    rel = f"lang/{name}.nix"
    if kind == "eval-okay":
        xml = os.path.exists(base + ".exp.xml")
        exp_file = base + (".exp.xml" if xml else ".exp")
        if not os.path.exists(exp_file) and os.path.exists(base + ".exp-disabled"):
            # Switched off upstream because C++ Nix's stack is too small;
            # nixlens's VM has no such limit, so run it anyway.
            exp_file = base + ".exp-disabled"
        if not os.path.exists(exp_file):
            return Outcome(name, kind, False, False, "no expected output")
        args = ["--eval", "--strict"] + (["--xml", "--no-location"] if xml else [])
        args = (flags or []) + args + [rel]
        rc, out, err = _run_cli(args)
        exp = _read(exp_file)
        got = _fix(out, workdir)
        ok = rc == 0 and got == exp
        err_exp = _read(base + ".err.exp") if os.path.exists(base + ".err.exp") else ""
        full = ok and _fix(err, workdir) == err_exp
        detail = "" if ok else f"rc={rc} got {got[:300]!r} want {exp[:300]!r} err {err[-600:]!r}"
        return Outcome(name, kind, ok, full, detail)
    if kind == "eval-fail":
        args = (flags if flags is not None else ["--eval", "--strict", "--show-trace"]) + [rel]
        if "--strict" not in args:
            args = ["--strict"] + args
        rc, out, err = _run_cli(args)
        err = _fix(err, workdir)
        exp = _read(base + ".err.exp")
        want = innermost_error(exp)
        got = innermost_error(err)
        ok = rc == 1 and got == want
        full = ok and err == exp
        detail = (
            ""
            if ok
            else f"rc={rc} got {got!r} want {want!r}"
            + (f" {err[-800:]!r}" if rc not in (0, 1) or got is None else "")
        )
        return Outcome(name, kind, ok, full, detail)
    return Outcome(name, kind, False, False, "unknown kind")


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    filt = [a for a in argv if not a.startswith("-")]
    report = run(filt or None, verbose=verbose)
    if not report.outcomes:
        print("conformance: corpus not found (set NIXLENS_LANG_TESTS); skipped")
        return 0
    print(report.summary())
    if "--stderr" in argv:
        for o in report.outcomes:
            if o.kind.startswith("eval-") and not o.full_ok:
                print(f"  stderr differs: {o.name}{'' if o.ok else ' (failing)'}")
    div = load_divergences()
    unexpected = [o for o in report.failures() if o.name not in div]
    fixed = [n for n in div if any(o.name == n and o.ok for o in report.outcomes)]
    if unexpected:
        print(f"failing and not in the divergence list ({len(unexpected)}):")
        for o in unexpected:
            print(f"  {o.name}: {o.detail[:400]}" if verbose else f"  {o.name}")
    if fixed:
        print(f"listed as divergent but now passing ({len(fixed)}): {' '.join(fixed)}")
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    sys.exit(main(sys.argv[1:]))
