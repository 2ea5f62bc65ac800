"""Tests for evaluator.store: hashes, store paths, NAR and derivations.

Expected values marked "nix 2.8" were produced by the reference evaluator,
``nix-instantiate (Nix) 2.8.0`` run with ``--store dummy://`` (paths only) or
``--store local?root=/tmp/...`` (to read back the written ``.drv`` ATerm),
and by ``nix-hash`` / ``nix-store --dump`` for NAR hashes. Values marked
"corpus" come from the .exp files of the upstream language tests (Nix 2.36).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from evaluator.store import (
    BadHash,
    BadStorePath,
    BadStorePathName,
    Derivation,
    Hash,
    RealFS,
    StoreError,
    base16_decode,
    base64_decode,
    base64_encode,
    check_derivation_name,
    check_name,
    compress_hash,
    compute_derivation_paths,
    hash_bytes,
    hash_derivation_modulo,
    hash_placeholder,
    make_fixed_output_path,
    make_output_path,
    make_store_path,
    make_text_path,
    nar_bytes,
    nar_hash_path,
    nix32_decode,
    nix32_encode,
    parse_hash,
    parse_hash_algo,
    parse_hash_allow_empty,
    parse_hash_format,
    parse_sri,
    path_to_store,
    split_store_path,
    to_store_path,
    unparse,
)

LANG_TESTS = Path(
    os.environ.get(
        "NIXLENS_LANG_TESTS",
        Path(__file__).resolve().parent.parent.parent / "shared/nix-lang-tests",
    )
)

EMPTY_SHA256_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
EMPTY_SHA256_NIX32 = "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
EMPTY_SHA256_B64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


# --------------------------------------------------------------------------
# Encodings and hashes


def test_nix32_known_vectors():
    # corpus: eval-okay-convertHash.exp (hash of "" in each algorithm)
    assert nix32_encode(bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e")) == (
        "3y8bwfr609h3lh9ch0izcqq7fl"
    )
    assert nix32_encode(bytes.fromhex("da39a3ee5e6b4b0d3255bfef95601890afd80709")) == (
        "143xibwh31h9bvxzalr0sjvbbvpa6ffs"
    )
    assert nix32_encode(bytes.fromhex(EMPTY_SHA256_HEX)) == EMPTY_SHA256_NIX32
    assert nix32_encode(b"") == ""


def test_nix32_roundtrip():
    for data in (b"\x00", b"\xff" * 20, bytes(range(64)), hash_bytes("sha256", b"x").digest):
        assert nix32_decode(nix32_encode(data)) == data


def test_nix32_decode_rejects_bad_char():
    with pytest.raises(BadHash, match="invalid character in Nix32"):
        nix32_decode("e" * 52)


def test_base16_and_base64():
    assert base16_decode("DEADbeef") == b"\xde\xad\xbe\xef"
    assert base64_encode(bytes.fromhex(EMPTY_SHA256_HEX)) == EMPTY_SHA256_B64
    assert base64_decode(EMPTY_SHA256_B64).hex() == EMPTY_SHA256_HEX
    # Nix skips newlines and stops at the first '='.
    assert base64_decode("aGVs\nbG8=ignored") == b"hello"
    with pytest.raises(BadHash, match="invalid character in Base64 string: '!'"):
        base64_decode("!!!!")


def test_compress_hash_xor_folds():
    assert compress_hash(bytes([1, 2, 3, 4, 5]), 2) == bytes([1 ^ 3 ^ 5, 2 ^ 4])
    assert len(compress_hash(bytes(32), 20)) == 20


def test_hash_to_string_formats():
    h = Hash("sha256", bytes.fromhex(EMPTY_SHA256_HEX))
    assert h.to_string("base16") == EMPTY_SHA256_HEX
    assert h.to_string("nix32", include_algo=True) == "sha256:" + EMPTY_SHA256_NIX32
    assert h.to_string("base64") == EMPTY_SHA256_B64
    assert h.sri == "sha256-" + EMPTY_SHA256_B64


def test_hash_string_reference():
    # nix 2.8: builtins.hashString "sha256" "x"
    assert hash_bytes("sha256", b"x").hex == (
        "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    )


@pytest.mark.parametrize(
    "text,algo",
    [
        (EMPTY_SHA256_HEX, "sha256"),
        (EMPTY_SHA256_NIX32, "sha256"),
        (EMPTY_SHA256_B64, "sha256"),
        ("sha256:" + EMPTY_SHA256_HEX, None),
        ("sha256:" + EMPTY_SHA256_NIX32, None),
        ("sha256:" + EMPTY_SHA256_B64, None),
        ("sha256-" + EMPTY_SHA256_B64, None),
        ("sha256-" + EMPTY_SHA256_B64, "sha256"),
        (EMPTY_SHA256_HEX.upper(), "sha256"),
    ],
)
def test_parse_hash_all_formats(text, algo):
    h = parse_hash(text, algo)
    assert h.algo == "sha256" and h.hex == EMPTY_SHA256_HEX


def test_parse_hash_errors():
    with pytest.raises(BadHash, match="does not include a type, nor is the type otherwise"):
        parse_hash(EMPTY_SHA256_HEX)
    with pytest.raises(BadHash, match="should have type 'sha1'"):
        parse_hash("sha256:" + EMPTY_SHA256_HEX, "sha1")
    with pytest.raises(BadHash, match="has wrong length for hash algorithm 'sha256'"):
        parse_hash("abc", "sha256")
    with pytest.raises(BadHash, match="unknown hash algorithm 'foo', expect 'blake3'"):
        parse_hash("foo:abc")
    with pytest.raises(BadHash, match=r"invalid SRI hash 'AAAA', length 3 != expected length 32"):
        parse_hash("sha256-AAAA")
    with pytest.raises(BadHash, match=r"invalid base16 hash .* length 0 != expected length 32"):
        parse_hash("z" * 64, "sha256")
    # A base-32 digit that overflows the top byte makes the result too long.
    with pytest.raises(BadHash, match=r"invalid nix32 hash .* length 33 != expected length 32"):
        parse_hash("z" * 52, "sha256")
    with pytest.raises(BadHash, match="is not SRI"):
        parse_sri(EMPTY_SHA256_HEX)


def test_parse_hash_algo_and_format():
    assert parse_hash_algo("sha512") == "sha512"
    with pytest.raises(BadHash, match="blake3-hashes"):
        parse_hash_algo("blake3")
    warnings: list[str] = []
    assert parse_hash_format("base32", warnings.append) == "nix32"
    assert warnings == ['"base32" is a deprecated alias for hash format "nix32".']
    with pytest.raises(BadHash, match="unknown hash format 'hex'"):
        parse_hash_format("hex")


def test_parse_hash_allow_empty():
    warnings: list[str] = []
    h = parse_hash_allow_empty("", "sha256", warnings.append)
    assert h.digest == bytes(32)
    assert warnings == ["found empty hash, assuming 'sha256-" + "A" * 43 + "='"]
    with pytest.raises(BadHash, match="empty hash requires explicit hash algorithm"):
        parse_hash_allow_empty("", None)


@pytest.mark.skipif(not LANG_TESTS.is_dir(), reason="language tests not available")
def test_convert_hash_corpus():
    # corpus: eval-okay-convertHash.exp lists each hash in every format.
    exp = (LANG_TESTS / "eval-okay-convertHash.exp").read_text()
    lists = dict(re.findall(r"(\w+) = \[ ([^\]]*) \];", exp))
    cols = {k: re.findall(r'"([^"]*)"', v) for k, v in lists.items()}
    algos = ["md5"] * 3 + ["sha1"] * 3 + ["sha256"] * 3 + ["sha512"] * 3
    for i, algo in enumerate(algos):
        expected = parse_hash(cols["hashesBase16"][i], algo)
        for fmt, key in (
            ("nix32", "hashesNix32"),
            ("base64", "hashesBase64"),
            ("sri", "hashesSRI"),
        ):
            assert expected.to_string(fmt) == cols[key][i]
            assert parse_hash(cols[key][i], algo) == expected


# --------------------------------------------------------------------------
# Store paths and names


def test_check_name_messages():
    check_name("hello-1.0_+?=")
    with pytest.raises(BadStorePathName, match="name must not be empty"):
        check_name("")
    with pytest.raises(BadStorePathName, match="contains illegal character '~'"):
        check_name("~jiggle~")
    with pytest.raises(BadStorePathName) as e:
        check_name("caf\u00e9")
    assert e.value.msg.endswith("contains illegal character '\udcc3'")
    with pytest.raises(BadStorePathName, match="must be no longer than 211 characters"):
        check_name("a" * 212)
    check_name("a" * 211)
    with pytest.raises(BadStorePathName, match=r"name '\.\.' is not valid"):
        check_name("..")
    with pytest.raises(BadStorePathName, match="first dash-separated component must not be '.'"):
        check_name(".-foo")
    check_name(".foo")


def test_check_derivation_name_corpus_message():
    # corpus: eval-fail-derivation-name.err.exp
    with pytest.raises(BadStorePathName) as e:
        check_derivation_name("~jiggle~")
    assert e.value.msg == (
        "invalid derivation name: name '~jiggle~' contains illegal character '~'. "
        "Please pass a different 'name'."
    )


def test_make_store_path_rejects_bad_name():
    with pytest.raises(BadStorePath, match="is not a valid store path: name 'a b'"):
        make_text_path("a b", "x")


def test_to_file_paths():
    # nix 2.8: builtins.toFile "foo" "bar"
    assert make_text_path("foo", "bar") == "/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo"
    # nix 2.8: builtins.toFile "ref" "see ${builtins.toFile "foo" "bar"}"
    foo = "/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo"
    assert make_text_path("ref", f"see {foo}", [foo]) == (
        "/nix/store/i2dwcv07dx5hkizqfgqrpghf625zgfn2-ref"
    )
    # nix 2.8: builtins.toFile "esc" "a\"b\\c\n"
    assert make_text_path("esc", 'a"b\\c\n') == "/nix/store/vwr0a2pyvxb4rjqvs9mxj836nqfnklrb-esc"


def test_make_store_path_fingerprint():
    inner = hash_bytes("sha256", b"bar").hex
    assert make_store_path("text", inner, "foo") == make_text_path("foo", b"bar")


def test_fixed_output_paths():
    empty = bytes.fromhex(EMPTY_SHA256_HEX)
    # nix 2.8: outPath of the fixed-output derivations in the ATerm tests below
    assert make_fixed_output_path("fod", "recursive", "sha256", empty) == (
        "/nix/store/awyplyl8y8yhm3g2ds39a7lg4w2x98lk-fod"
    )
    assert make_fixed_output_path("fodflat256", "flat", "sha256", empty) == (
        "/nix/store/s5x30y0mf8xkpc5nx2g7q4dsgq5wm1q6-fodflat256"
    )
    sha1 = bytes.fromhex("da39a3ee5e6b4b0d3255bfef95601890afd80709")
    assert make_fixed_output_path("fodflat", "flat", "sha1", sha1) == (
        "/nix/store/rn07p9f272w2pmiyhb0kx7g8n0i53csp-fodflat"
    )
    with pytest.raises(StoreError, match="is not allowed to refer to other store paths"):
        make_fixed_output_path("x", "flat", "sha256", empty, ["/nix/store/" + "a" * 32 + "-y"])


def test_output_path_and_placeholder():
    # nix 2.8: builtins.placeholder "out" / "dev"
    assert hash_placeholder("out") == "/1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9"
    assert hash_placeholder("dev") == "/02qcpld1y6xhs5gz9bchpxaw0xdhmsp5dv88lh25r2ss44kh8dxz"
    assert make_output_path("00" * 32, "dev", "x").endswith("-x-dev")
    assert make_output_path("00" * 32, "out", "x").endswith("-x")


def test_split_store_path():
    p = "/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo"
    assert split_store_path(p) == ("vxjiwkjkn7x4079qvh1jkl5pn05j2aw0", "foo")
    assert to_store_path(p + "/sub/file") == p
    assert to_store_path("/etc/passwd") is None
    with pytest.raises(BadStorePath, match="illegal base-32 character 'e'"):
        split_store_path("/nix/store/" + "e" * 32 + "-foo")
    with pytest.raises(BadStorePath, match="too short"):
        split_store_path("/nix/store/abc")


# --------------------------------------------------------------------------
# NAR


def _make_tree(root: Path) -> Path:
    """The tree hashed with nix-hash for the expected values below."""
    tree = root / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "sub" / "empty").mkdir(parents=True)
    (tree / "a.txt").write_bytes(b"hello\n")
    (tree / "bin" / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    (tree / "B").write_bytes(b"upper")
    (tree / "sub" / "z").write_bytes(b"")
    os.symlink("a.txt", tree / "link")
    os.symlink("../a.txt", tree / "sub" / "up")
    for f in ("a.txt", "B", "sub/z"):
        os.chmod(tree / f, 0o644)
    os.chmod(tree / "bin" / "run.sh", 0o755)
    return tree


def test_nar_hash_of_tree(tmp_path):
    tree = _make_tree(tmp_path)
    io = RealFS()
    # nix 2.8: nix-hash --type sha256 tree (and `nix-store --dump tree | sha256sum`)
    assert nar_hash_path(str(tree), io).hex() == (
        "8d1809b924aab9758c754b2803ed5a26b95868adba0e5a920aeeb7dd81a2a72e"
    )
    # nix 2.8: nix-hash --type sha256 --base32 of a symlink and an executable
    assert nix32_encode(nar_hash_path(str(tree / "link"), io)) == (
        "10afhdla3fy4d56mfb7b45i291h74jngwakp16wd3r36m37h0g4d"
    )
    assert nix32_encode(nar_hash_path(str(tree / "bin" / "run.sh"), io)) == (
        "183p8jhjfcpk6kac6hxwp4gzp9brkvkibylz27jfbvgd5kqcq2jy"
    )


def test_nar_layout_of_single_file(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"abc")
    os.chmod(f, 0o644)

    def s(b: bytes) -> bytes:
        return len(b).to_bytes(8, "little") + b + b"\0" * ((-len(b)) % 8)

    expected = b"".join(
        s(x) for x in (b"nix-archive-1", b"(", b"type", b"regular", b"contents", b"abc", b")")
    )
    assert nar_bytes(str(f), RealFS()) == expected


def test_path_to_store(tmp_path):
    tree = _make_tree(tmp_path)
    io = RealFS()
    # nix 2.8: "${./tree}", builtins.path with filters, a flat file, "${./tree/bin/run.sh}"
    assert (
        path_to_store(str(tree), "tree", io) == "/nix/store/m4xvg8241a6r3m2mrksymwf3fhlr15nf-tree"
    )
    assert (
        path_to_store(str(tree), "filtered", io, filter=lambda p, t: t != "symlink")
        == "/nix/store/ihi706vm9bgdi30caa3ly4p5xmcji1mi-filtered"
    )
    assert path_to_store(str(tree / "a.txt"), "a.txt", io, method="flat") == (
        "/nix/store/fdwm55r4skpypx1gwzb7x69ckav1rv09-a.txt"
    )
    assert (
        path_to_store(str(tree), "tree", io, filter=lambda p, t: os.path.basename(p) != "sub")
        == "/nix/store/5yikyp7ql7kaqci7755ai153p71j1sm7-tree"
    )
    assert path_to_store(str(tree / "bin" / "run.sh"), "run.sh", io) == (
        "/nix/store/hgl6cwhlhzpznapan2nfnls2nyyv4lqb-run.sh"
    )


def test_filter_sees_absolute_paths_and_types(tmp_path):
    tree = _make_tree(tmp_path)
    seen: list[tuple[str, str]] = []

    def record(p: str, t: str) -> bool:
        seen.append((os.path.relpath(p, tree), t))
        return True

    nar_hash_path(str(tree), RealFS(), record)
    assert seen == [
        ("B", "regular"),
        ("a.txt", "regular"),
        ("bin", "directory"),
        ("bin/run.sh", "regular"),
        ("link", "symlink"),
        ("sub", "directory"),
        ("sub/empty", "directory"),
        ("sub/up", "symlink"),
        ("sub/z", "regular"),
    ]


@pytest.mark.skipif(not LANG_TESTS.is_dir(), reason="language tests not available")
def test_path_corpus():
    io = RealFS()
    # corpus: eval-okay-path.exp
    assert (
        path_to_store(
            str(LANG_TESTS), "output", io, filter=lambda p, t: os.path.basename(p) == "data"
        )
        == "/nix/store/ya937r4ydw0l6kayq8jkyqaips9c75jm-output"
    )
    assert path_to_store(str(LANG_TESTS / "data"), "output", io, method="flat") == (
        "/nix/store/m7y372g6jb0g4hh1dzmj847rd356fhnz-output"
    )
    assert path_to_store(str(LANG_TESTS / "dir1"), "output", io) == (
        "/nix/store/a517xfygy9w2q5i3c2dbm50sw4p70b4c-output"
    )
    # The sha256 the same test declares for dir1 is its NAR hash.
    assert nix32_encode(nar_hash_path(str(LANG_TESTS / "dir1"), io)) == (
        "02vlkcjkl1rvy081n6d40qi73biv2w4b9x9biklay4ncgk77zr1f"
    )
    # corpus: eval-okay-toString-peel.exp ("${./dir1/a.nix}")
    assert path_to_store(str(LANG_TESTS / "dir1" / "a.nix"), "a.nix", io) == (
        "/nix/store/m1a49k28kbvny5dnbkymp1nia4b403q8-a.nix"
    )


# --------------------------------------------------------------------------
# Derivations


def _simple(name: str, **extra: str) -> dict[str, str]:
    """The env of a derivation with builder /bin/sh on x86_64-linux."""
    return {"builder": "/bin/sh", "name": name, "system": "x86_64-linux", **extra}


def test_simple_derivation():
    # nix 2.8: derivation { name = "a"; system = "x86_64-linux"; builder = "/bin/sh"; }
    r = compute_derivation_paths("a", ["out"], _simple("a"), [], {}, "x86_64-linux", "/bin/sh", [])
    assert r.drv_path == "/nix/store/7g5giqf764p3y3zv7a8rqsy9sqqq5kw4-a.drv"
    assert r.output_paths == {"out": "/nix/store/f37kxm5wf98b2s839zaiybv38zil0s40-a"}
    assert r.aterm == (
        'Derive([("out","/nix/store/f37kxm5wf98b2s839zaiybv38zil0s40-a","","")],[],[],'
        '"x86_64-linux","/bin/sh",[],[("builder","/bin/sh"),("name","a"),'
        '("out","/nix/store/f37kxm5wf98b2s839zaiybv38zil0s40-a"),("system","x86_64-linux")])'
    )


FOD_ATERM = (
    'Derive([("out","/nix/store/awyplyl8y8yhm3g2ds39a7lg4w2x98lk-fod","r:sha256",'
    '"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")],[],[],'
    '"x86_64-linux","/bin/sh",[],[("builder","/bin/sh"),("name","fod"),'
    '("out","/nix/store/awyplyl8y8yhm3g2ds39a7lg4w2x98lk-fod"),'
    '("outputHash","sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="),'
    '("outputHashMode","recursive"),("system","x86_64-linux")])'
)


def _fod():
    env = _simple("fod", outputHash="sha256-" + EMPTY_SHA256_B64, outputHashMode="recursive")
    return compute_derivation_paths(
        "fod",
        ["out"],
        env,
        [],
        {},
        "x86_64-linux",
        "/bin/sh",
        [],
        fixed_output=("sha256", "sha256-" + EMPTY_SHA256_B64, "recursive"),
    )


def test_fixed_output_derivation():
    # nix 2.8: derivation { name = "fod"; ...; outputHash = "sha256-47DE..."; outputHashMode = "recursive"; }
    r = _fod()
    assert r.drv_path == "/nix/store/3c0wb0bc87mrjlxp75dzgkb5svsw6rdv-fod.drv"
    assert r.output_paths == {"out": "/nix/store/awyplyl8y8yhm3g2ds39a7lg4w2x98lk-fod"}
    assert r.aterm == FOD_ATERM


def test_flat_fixed_output_derivations():
    # nix 2.8: outputHashAlgo = "sha1"; outputHash = "da39..." (flat)
    env = _simple(
        "fodflat", outputHash="da39a3ee5e6b4b0d3255bfef95601890afd80709", outputHashAlgo="sha1"
    )
    r = compute_derivation_paths(
        "fodflat",
        ["out"],
        env,
        [],
        {},
        "x86_64-linux",
        "/bin/sh",
        [],
        fixed_output=("sha1", bytes.fromhex("da39a3ee5e6b4b0d3255bfef95601890afd80709"), "flat"),
    )
    assert r.drv_path == "/nix/store/d91h92q7r2k43iskhhmd2gwvh0y7wj0l-fodflat.drv"
    assert r.output_paths["out"] == "/nix/store/rn07p9f272w2pmiyhb0kx7g8n0i53csp-fodflat"
    assert '"sha1","da39a3ee5e6b4b0d3255bfef95601890afd80709")' in r.aterm

    env = _simple("fodflat256", outputHash=EMPTY_SHA256_NIX32, outputHashAlgo="sha256")
    r = compute_derivation_paths(
        "fodflat256",
        ["out"],
        env,
        [],
        {},
        "x86_64-linux",
        "/bin/sh",
        [],
        fixed_output=("sha256", EMPTY_SHA256_NIX32, "flat"),
    )
    assert r.drv_path == "/nix/store/2l36bl7jcclkxjd09mfmxrcdm13yixbq-fodflat256.drv"
    assert r.output_paths["out"] == "/nix/store/s5x30y0mf8xkpc5nx2g7q4dsgq5wm1q6-fodflat256"


MULTI_ARGS = ["-c", 'echo "hi"\n\ttab\\ \r']


def _multi():
    env = _simple("multi", outputs="out dev bin")
    return compute_derivation_paths(
        "multi", ["out", "dev", "bin"], env, [], {}, "x86_64-linux", "/bin/sh", MULTI_ARGS
    )


def test_multi_output_derivation_and_escaping():
    # nix 2.8: outputs = [ "out" "dev" "bin" ]; args = [ "-c" "echo \"hi\"\n\ttab\\ \r" ];
    r = _multi()
    assert r.drv_path == "/nix/store/33fb095c298jyifi0yng5lkaqjkb1144-multi.drv"
    assert r.output_paths == {
        "out": "/nix/store/19r3b5y92qhk5v5jrkzgz5q8g6yfxzjy-multi",
        "dev": "/nix/store/za81vwrx1rkq0081f1ir3z91606v92c8-multi-dev",
        "bin": "/nix/store/hfsap80cyiyk100kg4sz18cb2qpw0694-multi-bin",
    }
    assert r.aterm == (
        'Derive([("bin","/nix/store/hfsap80cyiyk100kg4sz18cb2qpw0694-multi-bin","",""),'
        '("dev","/nix/store/za81vwrx1rkq0081f1ir3z91606v92c8-multi-dev","",""),'
        '("out","/nix/store/19r3b5y92qhk5v5jrkzgz5q8g6yfxzjy-multi","","")],[],[],'
        '"x86_64-linux","/bin/sh",["-c","echo \\"hi\\"\\n\\ttab\\\\ \\r"],'
        '[("bin","/nix/store/hfsap80cyiyk100kg4sz18cb2qpw0694-multi-bin"),("builder","/bin/sh"),'
        '("dev","/nix/store/za81vwrx1rkq0081f1ir3z91606v92c8-multi-dev"),("name","multi"),'
        '("out","/nix/store/19r3b5y92qhk5v5jrkzgz5q8g6yfxzjy-multi"),("outputs","out dev bin"),'
        '("system","x86_64-linux")])'
    )


def test_corpus_multi_output_drv_paths():
    # corpus: eval-fail-addDrvOutputDependencies-multi-elem-context.err.exp
    for name, expected in (
        ("fail", "/nix/store/pg9yqs4yd85yhdm3f4i5dyaqp5jahrsz-fail.drv"),
        ("fail-2", "/nix/store/2dxd5frb715z451vbf7s8birlf3argbk-fail-2.drv"),
    ):
        env = {"builder": "/bin/false", "name": name, "outputs": "out foo"}
        env["system"] = "x86_64-linux"
        r = compute_derivation_paths(
            name, ["out", "foo"], env, [], {}, "x86_64-linux", "/bin/false", []
        )
        assert r.drv_path == expected


def test_derivation_with_inputs():
    # nix 2.8: dep = derivation { ...; a = "${multi.dev}"; b = fod; c = ./src.txt;
    #   d = builtins.toFile "t" "x ${builtins.toFile "inner" "y"}"; }
    multi, fod = _multi(), _fod()
    cache = {multi.drv_path: multi.modulo_hash, fod.drv_path: fod.modulo_hash}
    inner = make_text_path("inner", "y")
    assert inner == "/nix/store/w8lg9wl66x76wkn34sp5bdvnzmisjk60-inner"
    t = make_text_path("t", f"x {inner}", [inner])
    assert t == "/nix/store/cxyyslqx34ds7jqs6bzvb8mpy9qxnz8x-t"
    src_txt = make_fixed_output_path("src.txt", "recursive", "sha256", _nar_of_regular(b"hello\n"))
    assert src_txt == "/nix/store/1017cjpgpdg6f0vvqhcby1c8v2jyn7i8-src.txt"
    env = _simple(
        "dep",
        a=multi.output_paths["dev"],
        b=fod.output_paths["out"],
        c=src_txt,
        d=t,
    )
    r = compute_derivation_paths(
        "dep",
        ["out"],
        env,
        [src_txt, t],
        {multi.drv_path: {"dev"}, fod.drv_path: {"out"}},
        "x86_64-linux",
        "/bin/sh",
        [],
        modulo_hash_of=cache.__getitem__,
    )
    assert r.drv_path == "/nix/store/kk5nzllf2rnwyrwy1lassxk8g4w7mxi9-dep.drv"
    assert r.output_paths == {"out": "/nix/store/l41krh0r9js6qph1zgrcr4lyhaq8pd13-dep"}
    assert r.aterm.startswith(
        'Derive([("out","/nix/store/l41krh0r9js6qph1zgrcr4lyhaq8pd13-dep","","")],'
        '[("/nix/store/33fb095c298jyifi0yng5lkaqjkb1144-multi.drv",["dev"]),'
        '("/nix/store/3c0wb0bc87mrjlxp75dzgkb5svsw6rdv-fod.drv",["out"])],'
        '["/nix/store/1017cjpgpdg6f0vvqhcby1c8v2jyn7i8-src.txt",'
        '"/nix/store/cxyyslqx34ds7jqs6bzvb8mpy9qxnz8x-t"],'
    )


def _nar_of_regular(data: bytes) -> bytes:
    """sha256 of the NAR of a non-executable regular file holding ``data``."""

    def s(b: bytes) -> bytes:
        return len(b).to_bytes(8, "little") + b + b"\0" * ((-len(b)) % 8)

    parts = (b"nix-archive-1", b"(", b"type", b"regular", b"contents", data, b")")
    return hashlib.sha256(b"".join(s(p) for p in parts)).digest()


def test_structured_attrs_corpus():
    # corpus: eval-okay-derivation-legacy.exp; ATerm read back from nix 2.8
    name = "eval-okay-derivation-legacy"
    js = (
        '{"allowedReferences":[],"allowedRequisites":[],"builder":"/dontcare",'
        '"disallowedReferences":[],"disallowedRequisites":[],"maxClosureSize":12345,'
        '"maxSize":1234,"name":"eval-okay-derivation-legacy","system":"x86_64-linux"}'
    )
    r = compute_derivation_paths(
        name, ["out"], {}, [], {}, "x86_64-linux", "/dontcare", [], structured_attrs_json=js
    )
    assert r.output_paths["out"] == (
        "/nix/store/mzgwvrjjir216ra58mwwizi8wj6y9ddr-eval-okay-derivation-legacy"
    )
    assert r.drv_path == (
        "/nix/store/v6lcwy09cvs07qp5djn3nsf3qi67apnw-eval-okay-derivation-legacy.drv"
    )


def test_hash_derivation_modulo_fixed_output_ignores_builder():
    a = Derivation(
        name="f",
        outputs={"out": ("/nix/store/" + "a" * 32 + "-f", "r:sha256", "00" * 32)},
        builder="/bin/one",
    )
    b = Derivation(name="f", outputs=dict(a.outputs), builder="/bin/two")
    assert unparse(a) != unparse(b)
    assert hash_derivation_modulo(a, lambda p: "") == hash_derivation_modulo(b, lambda p: "")


def test_derivation_errors():
    with pytest.raises(StoreError, match="multiple outputs are not supported"):
        compute_derivation_paths(
            "x",
            ["out", "dev"],
            {},
            [],
            {},
            "s",
            "b",
            [],
            fixed_output=("sha256", bytes(32), "flat"),
        )
    with pytest.raises(StoreError, match="allowed to end in '.drv' only if"):
        compute_derivation_paths("x.drv", ["out"], {}, [], {}, "s", "b", [])
