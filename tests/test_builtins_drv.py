"""Derivations, store paths, string context and introspection builtins
(evaluator/builtins/derivations.py, context.py, misc.py).

Expected store paths were obtained from the reference ``nix-instantiate``
(Nix 2.8, ``--store dummy://``; a local store for the closure case) on the
same expressions and files.
"""

from __future__ import annotations

import os

import pytest

from evaluator.errors import NixError
from evaluator.eval import Evaluator
from evaluator.printer import show_value
from evaluator.report import format_error

S = "/nix/store/"


def ev_str(src: str, path: str | None = None) -> str:
    ev = Evaluator()
    v = ev.eval_text(src, path)
    ev.deep_force(v)
    return show_value(v)


def ev_err(src: str) -> NixError:
    ev = Evaluator()
    with pytest.raises(NixError) as info:
        ev.deep_force(ev.eval_text(src))
    return info.value


def trace_of(err: NixError) -> list[str]:
    return [msg for msg, _span in err.trace]


# Derivations shared by several tests (as in the reference run).
LET = """
let
  a = derivation { name = "a"; system = "x"; builder = "/bin/sh"; };
  b = derivation { name = "b"; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" "echo ${a} > $out" 1 true null [ "x" [ ] "y" ] ];
    flag = true; off = false; nul = null; num = 42; fl = 1.5; lst = [ 1 "two" [ 3 ] ]; };
  fod = derivation { name = "fod"; system = "x"; builder = "/bin/sh";
    outputHash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; outputHashMode = "recursive"; };
  fodflat = derivation { name = "fodflat"; system = "x"; builder = "/bin/sh"; outputHashAlgo = "sha256";
    outputHash = "0000000000000000000000000000000000000000000000000000000000000000"; };
  fodsha1 = derivation { name = "f1"; system = "x"; builder = "/bin/sh"; outputHashAlgo = "sha1";
    outputHash = "0000000000000000000000000000000000000000"; };
  multi = derivation { name = "multi"; system = "x"; builder = "/bin/sh"; outputs = [ "out" "dev" "lib" ]; };
  usesMulti = derivation { name = "um"; system = "x"; builder = "/bin/sh";
    d = multi.dev; l = multi.lib; o = "${multi}"; };
  usesFod = derivation { name = "uf"; system = "x"; builder = "/bin/sh"; src = fod; src2 = fodflat.outPath; };
  structured = derivation { name = "s"; system = "x"; builder = "/bin/sh"; __structuredAttrs = true;
    a = 1; b = [ true null "x" ]; c = { d = 1.5; e = a; }; outputs = [ "out" "bin" ]; };
  ign = derivation { name = "ign"; system = "x"; builder = "/bin/sh"; __ignoreNulls = true; x = null; y = "1"; };
  tf = builtins.toFile "foo.txt" "hello ${builtins.toFile "bar" "x"}";
  deep = derivation { name = "deep"; system = "x"; builder = "/bin/sh"; x = b.drvPath; y = usesMulti.drvPath; };
  discard = derivation { name = "disc"; system = "x"; builder = "/bin/sh";
    x = builtins.unsafeDiscardOutputDependency b.drvPath; };
  ph = derivation { name = "ph"; system = "x"; builder = "/bin/sh"; x = builtins.placeholder "out"; };
  unicode = derivation { name = "uni"; system = "x"; builder = "/bin/sh"; x = "h\\u00e9llo\\n\\t\\"q\\"\\\\"; };
  sj = derivation { name = "sj"; system = "x"; builder = "/bin/sh"; __structuredAttrs = true;
    s = "h\\u00e9llo\\n\\t\\"q\\"\\\\"; f = 0.1; big = 100000000000; neg = -3; fl2 = 1.0e20; };
in
""".replace("\\u00e9", "\u00e9")


@pytest.mark.parametrize(
    ("expr", "want"),
    [
        ("a.drvPath", "l9ldjc53ry43x24hvq73jx7dx0489mhj-a.drv"),
        ("a.outPath", "0pd4llb3k36fnppfxwp6nlwsxwlv0y2c-a"),
        ("b.drvPath", "m85bdppynnblp7azlm473b34ppkaxli3-b.drv"),
        ("b.outPath", "jhwnjsa415jx13y1phxnzzzl0xvjhb3w-b"),
        ("fod.outPath", "awyplyl8y8yhm3g2ds39a7lg4w2x98lk-fod"),
        ("fod.drvPath", "lb2akc7jsnizjgbmz6wm4pr3akhj48xx-fod.drv"),
        ("fodflat.outPath", "wn22g5y4d9dxi17marghcfq0s6jflrl4-fodflat"),
        ("fodflat.drvPath", "pgj08jgbcl7702jcgfpbga230aqh0hbn-fodflat.drv"),
        ("fodsha1.outPath", "abm51s7kd7payqn2ixbjnks7rb8i4kf6-f1"),
        ("multi.drvPath", "2nvv1mjl69b1ppbr8693di5pds9svfvr-multi.drv"),
        ("multi.dev.outPath", "qyi73z9pcya99k9218lckbfm9bmhf63q-multi-dev"),
        ("multi.lib.outPath", "0zz7mpi52bsx129da4vq0n4p0cljwj1z-multi-lib"),
        ("usesMulti.drvPath", "hsw27mdp41hw0byrqx6s38gcqjzga36b-um.drv"),
        ("usesFod.drvPath", "i5ab3m5pi970krw05bjnq60frzawsgy7-uf.drv"),
        ("structured.drvPath", "5km0sd987bhr5prmhw2qaxxg2id3v37b-s.drv"),
        ("structured.bin.outPath", "2zz31c0ihfn69idvg1218sjmx3c27hq8-s-bin"),
        ("ign.drvPath", "kiqmb95akvf7vh1c16n8d07rad6n3i88-ign.drv"),
        ("tf", "p56fiz3g58n7s9ikc38384602c45f7fb-foo.txt"),
        # The closure of an all-outputs (``drvPath``) reference.
        ("deep.drvPath", "m7za11bhbiw3mjn1adazri4qfsa5vwaj-deep.drv"),
        ("discard.drvPath", "mbdfh0iqrxma2w39anbgzcvivbbbz9fz-disc.drv"),
        ("ph.drvPath", "fhj86nwljv1i6v45q3b0x9r4v8yqylbj-ph.drv"),
        ("unicode.drvPath", "dq0pjkmyj79rpprxzgaj1mimwhngqrwm-uni.drv"),
        ("sj.drvPath", "pmck4xjqxgyd1fkk3yk6xyfr63mds32b-sj.drv"),
    ],
)
def test_store_paths_match_nix(expr: str, want: str) -> None:
    assert ev_str(LET + expr) == f'"{S}{want}"'


def test_simple_drv_path() -> None:
    src = '(derivation { name = "a"; system = "x"; builder = "/bin/sh"; }).drvPath'
    assert ev_str(src) == f'"{S}l9ldjc53ry43x24hvq73jx7dx0489mhj-a.drv"'


def test_derivation_with_1000_attributes() -> None:
    src = """(derivation ({ name = "big"; system = "x"; builder = "/bin/sh"; }
      // builtins.listToAttrs (builtins.genList
           (i: { name = "attr${toString i}"; value = "v${toString (i * i)}"; }) 1000))).drvPath"""
    assert ev_str(src) == f'"{S}2p640g844bihv2n8aj1wcilgjwa2cnbr-big.drv"'


def test_derivation_attribute_structure() -> None:
    src = """let d = derivation { name = "x"; system = "x"; builder = "/bin/sh"; outputs = ["out" "dev"]; };
    in [ d.outputName d.dev.outputName (builtins.attrNames d) (builtins.attrNames d.dev) d.type
         (d.all == [d d.dev]) d.drvAttrs.name (builtins.typeOf builtins.derivation) (builtins.length d.all) ]"""
    names = '[ "all" "builder" "dev" "drvAttrs" "drvPath" "name" "out" "outPath" "outputName" "outputs" "system" "type" ]'
    assert ev_str(src) == f'[ "out" "dev" {names} {names} "derivation" true "x" "lambda" 2 ]'


def test_derivation_strict_result_and_context() -> None:
    src = """let r = builtins.derivationStrict { name = "m"; system = "x"; builder = "/bin/sh"; outputs = [ "out" "dev" ]; };
    in [ (builtins.attrNames r) (builtins.getContext r.drvPath) (builtins.getContext r.dev) ]"""
    out = ev_str(src)
    assert out.startswith('[ [ "dev" "drvPath" "out" ] { "/nix/store/')
    assert "allOutputs = true;" in out and 'outputs = [ "dev" ];' in out


def test_files_and_paths(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    with open(os.path.join(root, "data.txt"), "w") as f:
        f.write("hello\n")
    os.makedirs(os.path.join(root, "d", "sub"))
    with open(os.path.join(root, "d", "a"), "w") as f:
        f.write("a\n")
    with open(os.path.join(root, "d", "sub", "b"), "w") as f:
        f.write("b\n")
    os.symlink("a", os.path.join(root, "d", "link"))
    src = """let
      pathFilt = builtins.path { path = ./d; name = "filtered"; filter = p: t: t != "symlink"; };
      flt = builtins.filterSource (p: t: baseNameOf p != "sub") ./d;
      flat = builtins.path { path = ./data.txt; recursive = false; };
      tf = builtins.toFile "foo.txt" "hello ${builtins.toFile "bar" "x"}";
      withFile = derivation { name = "wf"; system = "x"; builder = "/bin/sh"; f = tf; p = ./data.txt; dir = ./d; };
      withPaths = derivation { name = "wp"; system = "x"; builder = "/bin/sh"; a = pathFilt; b = flt; c = flat; };
    in [ pathFilt flt flat withFile.drvPath withPaths.drvPath ]"""
    want = [
        "dfqk9pqbi89vvlm8s5h1fn60i293pigr-filtered",
        "2j8r1lzj1dkkvqsyw4xllkih1ds4r34f-d",
        "snvwng24c1v75d5hqy346rp3122n7yk4-data.txt",
        "08961vd8vvl2m25zhwwlpanq4lhlms9r-wf.drv",
        "vzh39gvm5xi7idqir3pg03v9jlr9p20n-wp.drv",
    ]
    got = ev_str(src, os.path.join(root, "default.nix"))
    assert got == "[ " + " ".join(f'"{S}{w}"' for w in want) + " ]"


def test_path_sha256_mismatch(tmp_path: os.PathLike[str]) -> None:
    p = os.path.join(str(tmp_path), "f")
    with open(p, "w") as f:
        f.write("x")
    ev = Evaluator()
    with pytest.raises(NixError) as info:
        ev.eval_text(f'builtins.path {{ path = {p}; sha256 = "{"0" * 52}"; }}')
    assert info.value.msg.startswith("store path mismatch in (possibly filtered) path added from")
    assert trace_of(info.value)[0] == f"while adding path '{p}'"


def test_filter_is_called_per_entry(tmp_path: os.PathLike[str]) -> None:
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "d", "skip"))
    for rel in ("d/x", "d/skip/y"):
        with open(os.path.join(root, rel), "w") as f:
            f.write(rel)
    src = f"""let seen = builtins.filterSource
      (p: t: builtins.trace "${{baseNameOf p}}:${{t}}" (baseNameOf p != "skip")) {root}/d;
    in builtins.seq seen true"""
    ev = Evaluator()
    assert ev.eval_text(src) is True
    assert [w.message for w in ev.warnings] == ["skip:directory", "x:regular"]


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("attrs", "msg"),
    [
        ('name = "foo";', "required attribute 'builder' missing"),
        ('name = "foo"; builder = "b";', "required attribute 'system' missing"),
        (
            'name = "~x"; builder = "b"; system = "s";',
            "invalid derivation name: name '~x' "
            "contains illegal character '~'. Please pass a different 'name'.",
        ),
        (
            'name = "f"; builder = 1; system = 1; outputs = [ "out" "out" ];',
            "duplicate derivation output 'out'",
        ),
        (
            'name = "f"; builder = 1; system = 1; outputs = [ ];',
            "derivation cannot have an empty set of outputs",
        ),
        (
            'name = "f"; builder = 1; system = 1; outputs = "drvPath";',
            "invalid derivation output name 'drvPath'",
        ),
        (
            'name = "f"; builder = 1; outputHashMode = "custom";',
            "invalid value 'custom' for 'outputHashMode' attribute",
        ),
        (
            'name = "f"; builder = 1; system = 1; outputs = [ "out" "dev" ]; outputHash = "";'
            ' outputHashAlgo = "sha256";',
            "multiple outputs are not supported in fixed-output derivations",
        ),
        (
            'name = "f.drv"; builder = 1; system = 1;',
            "derivation names are allowed to end in '.drv' only if they produce a single derivation file",
        ),
        ('name = "f"; builder = 1; system = 1; x = { };', "cannot coerce a set to a string: { }"),
    ],
)
def test_derivation_strict_errors(attrs: str, msg: str) -> None:
    err = ev_err(f"builtins.derivationStrict {{ {attrs} }}")
    assert err.msg == msg


def test_derivation_error_trace() -> None:
    err = ev_err('builtins.derivationStrict {\n  name = "foo";\n  builder = 1;\n  system = { };\n}')
    assert trace_of(err)[:3] == [
        "while evaluating attribute 'system' of derivation 'foo'",
        "while evaluating derivation 'foo'\n  whose name attribute is located at «string»:2:3",
        "while calling the 'derivationStrict' builtin",
    ]
    text = format_error(err)
    assert "         whose name attribute is located at «string»:2:3\n" in text


def test_to_file_rejects_derivation_outputs() -> None:
    err = ev_err(
        'builtins.toFile "f" "${derivation { name = "a"; system = "x"; builder = "/bin/sh"; }}"'
    )
    assert err.msg == (
        "files created by builtins.toFile may not reference derivations, but f references "
        f"!out!{S}l9ldjc53ry43x24hvq73jx7dx0489mhj-a.drv"
    )


def test_store_path() -> None:
    p = f"{S}l9ldjc53ry43x24hvq73jx7dx0489mhj-a.drv"
    assert (
        ev_str(f'builtins.getContext (builtins.storePath "{p}/sub")')
        == f'{{ "{p}" = {{ path = true; }}; }}'
    )
    assert ev_err('builtins.storePath "/tmp/x"').msg == "path '/tmp/x' is not in the Nix store"


# ---------------------------------------------------------------- context
DRV = 'derivation { name = "fail"; builder = "/bin/false"; system = "x86_64-linux"; outputs = [ "out" "foo" ]; }'


def test_get_and_append_context_round_trip() -> None:
    src = f"""let drv = {DRV};
      s = "${{drv.outPath}}${{drv.foo.outPath}}${{drv.drvPath}}${{builtins.toFile "t" "x"}}";
      ctx = builtins.getContext s;
    in [ (builtins.appendContext (builtins.unsafeDiscardStringContext s) ctx == s)
         (builtins.getContext (builtins.appendContext (builtins.unsafeDiscardStringContext s) ctx) == ctx)
         (builtins.hasContext s) (builtins.hasContext (builtins.unsafeDiscardStringContext s))
         (builtins.attrValues ctx) ]"""
    assert ev_str(src) == (
        "[ true true true false [ { path = true; } "
        '{ allOutputs = true; outputs = [ "foo" "out" ]; } ] ]'
    )


def test_output_dependency_conversions() -> None:
    src = f"""let drv = {DRV};
      plain = builtins.unsafeDiscardOutputDependency drv.drvPath;
    in [ (builtins.getContext plain) (builtins.getContext (builtins.addDrvOutputDependencies plain)) ]"""
    out = ev_str(src)
    assert "{ path = true; }" in out and "{ allOutputs = true; }" in out


@pytest.mark.parametrize(
    ("src", "msg"),
    [
        (
            'builtins.addDrvOutputDependencies ""',
            "context of string '' must have exactly one element, but has 0",
        ),
        (
            f"builtins.addDrvOutputDependencies ({DRV}).outPath",
            "`addDrvOutputDependencies` can only act on derivations, not on a derivation output such as 'out'",
        ),
        (
            'builtins.appendContext "" { "/tmp/x" = { path = true; }; }',
            "context key '/tmp/x' is not a store path",
        ),
        (
            f'builtins.appendContext "" {{ "{S}l9ldjc53ry43x24hvq73jx7dx0489mhj-a" = {{ allOutputs = true; }}; }}',
            f"tried to add all-outputs context of {S}l9ldjc53ry43x24hvq73jx7dx0489mhj-a, "
            "which is not a derivation, to a string",
        ),
    ],
)
def test_context_errors(src: str, msg: str) -> None:
    assert ev_err(src).msg == msg


# ------------------------------------------------------------------- misc
def test_unsafe_get_attr_pos(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(str(tmp_path), "f.nix")
    src = 'let s = {\n  foo = 1;\n}; in [ (builtins.unsafeGetAttrPos "foo" s) (builtins.unsafeGetAttrPos "bar" s) ]'
    assert ev_str(src, path) == f'[ {{ column = 3; file = "{path}"; line = 2; }} null ]'
    assert ev_str('builtins.unsafeGetAttrPos "abort" builtins') == "null"


def test_add_error_context() -> None:
    err = ev_err('builtins.addErrorContext "while doing ${"x"}" (throw "boom")')
    assert err.msg == "boom"
    assert "while doing x" in trace_of(err)
    assert "while calling the 'addErrorContext' builtin" not in trace_of(err)
    # The message is only evaluated when there is an error.
    assert ev_str('builtins.addErrorContext (throw "unused") 1') == "1"


def test_break_and_trace_verbose() -> None:
    assert ev_str("builtins.break (1 + 2)") == "3"
    assert ev_str('builtins.traceVerbose "msg" 4') == "4"
