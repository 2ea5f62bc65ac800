"""Cursor-marker fixtures for the editor analyses (``$0`` marks the cursor)."""

from __future__ import annotations

from evaluator.ide import (
    apply_edits,
    code_actions,
    completion,
    definition,
    document_highlight,
    document_links,
    document_symbols,
    inlay_hints,
    prepare_rename,
    references,
    rename,
    resolve_completion,
    selection_ranges,
    signature_help,
    workspace_symbols,
)


def cursor(fixture: str) -> tuple[str, int]:
    """The text without ``$0`` and the byte offset of the marker."""
    return fixture.replace("$0", ""), fixture.encode().index(b"$0")


def texts(text: str, spans: list) -> list[str]:
    data = text.encode()
    return [data[s.start : s.end].decode() for s in spans]


def check_definition(
    fixture: str, expected: list[tuple[int, int]], path: str | None = None
) -> None:
    text, off = cursor(fixture)
    got = [(loc.span.start, loc.span.end) for loc in definition(text, path, off)]
    assert got == expected


def test_definition_let() -> None:
    check_definition("let a = 1; in $0a", [(4, 5)])


def test_definition_formal_and_rec() -> None:
    check_definition("{ x, y }: $0y", [(5, 6)])
    check_definition("rec { a = 1; b = $0a; }", [(6, 7)])


def test_definition_inherit_goes_outside() -> None:
    check_definition("let a = 1; in { inherit $0a; }", [(4, 5)])


def test_definition_inherit_from_by_evaluation() -> None:
    check_definition("let s = { q = 1; }; in { inherit (s) $0q; }", [(10, 11)])


def test_definition_with_and_select() -> None:
    check_definition("let s = { q = 1; }; in with s; $0q", [(10, 11)])
    check_definition("let s = { q.r = 1; }; in s.q.$0r", [(10, 13)])


def test_definition_path_to_file(tmp_path) -> None:
    (tmp_path / "lib.nix").write_text("{ }")
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "default.nix").write_text("1")
    main = str(tmp_path / "main.nix")
    text, off = cursor("import $0./lib.nix")
    assert [loc.path for loc in definition(text, main, off)] == [str(tmp_path / "lib.nix")]
    text, off = cursor("import $0./dir")
    assert [loc.path for loc in definition(text, main, off)] == [str(tmp_path / "dir/default.nix")]


def check_refs(fixture: str, expected: list[str], include: bool = True) -> None:
    text, off = cursor(fixture)
    spans = [loc.span for loc in references(text, None, off, include)]
    assert [(s.start, texts(text, [s])[0]) for s in spans] == expected


def test_references_shadowing() -> None:
    check_refs("let a = 1; in [ $0a (let a = 2; in a) a ]", [(4, "a"), (16, "a"), (36, "a")])
    check_refs("let a = 1; in [ $0a (let a = 2; in a) a ]", [(16, "a"), (36, "a")], False)


def test_references_with_names() -> None:
    check_refs("with { x = 1; }; [ $0x x ]", [(19, "x"), (21, "x")])


def test_document_highlight() -> None:
    text, off = cursor("let $0a = 1; in a + a")
    got = [(h.span.start, h.kind) for h in document_highlight(text, None, off)]
    assert got == [(4, "write"), (14, "read"), (18, "read")]


def check_rename(fixture: str, new: str, expected: str) -> None:
    text, off = cursor(fixture)
    result = rename(text, None, off, new)
    got = result if isinstance(result, str) else apply_edits(text.encode(), result).decode()
    assert got == expected


def test_rename_simple_and_inherit() -> None:
    check_rename("let a = 1; in $0a + a", "b", "let b = 1; in b + b")
    check_rename("let $0a = 1; in { inherit a; }", "z", "let z = 1; in { a = z; }")
    check_rename(
        "let $0a = 1; y = 2; in { inherit a y; }", "z", "let z = 1; y = 2; in { inherit y; a = z; }"
    )
    check_rename("x: let inherit $0x; in x", "z", "z: let x = z; in x")


def test_rename_refuses_capture() -> None:
    text, off = cursor("let a = 1; in let b = 2; in $0a + b")
    assert "would refer to another 'b'" in str(rename(text, None, off, "b"))
    text, off = cursor("let $0a = 1; in with {}; b")
    assert "would then refer to the renamed binding" in str(rename(text, None, off, "b"))
    text, off = cursor("$0map")
    assert "builtin" in str(rename(text, None, off, "f"))
    assert "not a valid" in str(rename("let a = 1; in a", None, 14, "in"))


def test_prepare_rename() -> None:
    text, off = cursor("let a = 1; in $0a")
    span = prepare_rename(text, None, off)
    assert not isinstance(span, str) and (span.start, span.end) == (14, 15)


def test_document_symbols() -> None:
    text = "{ a.b = { x, y ? 2 }: let z = 1; in z; inherit c; e = { }; }"
    syms = document_symbols(text)
    assert [(s.name, s.kind) for s in syms] == [
        ("a.b", "function"),
        ("c", "field"),
        ("e", "object"),
    ]
    assert [(c.name, c.kind) for c in syms[0].children] == [
        ("x", "parameter"),
        ("y", "parameter"),
        ("z", "variable"),
    ]


def test_document_symbols_on_40000_lines() -> None:
    # Its speed is measured by bench/bench_lsp.py, not asserted here.
    lines = ["{"]
    for i in range(3999):
        lines.append(f"  pkg{i} = {{ a, b ? 1 }}: let x = a + b; in {{")
        lines += [f'    name = "p{i}";', '    meta.description = "d";']
        lines += [f"    f{j} = x + {j};" for j in range(6)]
        lines.append("  };")
    lines.append("}")
    text = "\n".join(lines)
    assert len(lines) >= 39_990
    syms = document_symbols(text)
    assert len(syms) == 3999
    last = syms[-1]
    assert (last.name, last.kind) == ("pkg3998", "function")
    assert [c.name for c in last.children][:3] == ["a", "b", "x"]


def test_workspace_symbols() -> None:
    got = workspace_symbols({"/a.nix": "{ foo = 1; bar.foo = 2; baz = 3; }"}, "fo")
    assert sorted(s.name for s in got) == ["bar.foo", "foo"]


def test_selection_ranges() -> None:
    (sel,) = selection_ranges("{ a = [ 1 2 ]; }", [8])
    spans = []
    node = sel
    while node is not None:
        spans.append((node.span.start, node.span.end))
        node = node.parent
    assert spans == [(8, 9), (6, 13), (2, 14), (0, 16)]


def test_document_links(tmp_path) -> None:
    (tmp_path / "x.nix").write_text("1")
    text = '[ ./x.nix ./missing.nix http://e.org "see https://n.org/a." ]'
    links = document_links(text, str(tmp_path / "main.nix"))
    assert [link.target for link in links] == [
        str(tmp_path / "x.nix"),
        "http://e.org",
        "https://n.org/a",
    ]


def labels(fixture: str, path: str | None = None, n: int = 5) -> list[str]:
    text, off = cursor(fixture)
    return [c.label for c in completion(text, path, off)[:n]]


def test_completion_scope_ranked() -> None:
    assert labels("let abc = 1; in a$0", n=2) == ["abc", "abort"]
    assert labels("with { zzz = 1; }; zz$0", n=1) == ["zzz"]


def test_completion_attributes_of_incomplete_select() -> None:
    assert labels("let lib = { foo = 1; bar = x: x; }; in lib.$0") == ["bar", "foo"]
    assert labels("let lib = { foo = 1; bar = x: x; }; in { a = lib.$0 }") == ["bar", "foo"]


def test_completion_import(tmp_path) -> None:
    (tmp_path / "lib.nix").write_text("{ mkThing = x: x; version = 1; }")
    path = str(tmp_path / "main.nix")
    assert labels("let lib = import ./lib.nix; in lib.$0", path) == ["mkThing", "version"]
    assert labels("./li$0", path) == ["lib.nix"]


def test_completion_formals_and_inherit_from() -> None:
    assert labels("let f = { alpha, beta ? 1 }: alpha; in f { $0 }") == ["alpha", "beta"]
    assert labels("let f = { alpha, beta ? 1 }: alpha; in f { alpha = 1; $0 }") == ["beta"]
    assert labels("let s = { q = 1; r = 2; }; in { inherit (s) $0 }") == ["q", "r"]


def test_completion_after_an_edit_sees_the_new_names() -> None:
    before = "let lib = { foo = 1; }; abc = 1; in with lib; { x = $0; }"
    assert "foo" in labels(before, n=50) and "bar" not in labels(before, n=50)
    # The same text again (answered from the document's remembered evaluation),
    # then edits: a new attribute of the `with` set, a new let binding.
    assert labels(before, n=50) == labels(before, n=50)
    after = "let lib = { foo = 1; bar = 2; }; abc = 1; in with lib; { x = $0; }"
    assert {"foo", "bar"} <= set(labels(after, n=50))
    added = "let lib = { foo = 1; bar = 2; }; abc = 1; abd = 2; in with lib; { x = ab$0; }"
    assert labels(added, n=3) == ["abc", "abd", "abort"]
    assert labels(before.replace("$0", "ba$0"), n=1) != ["bar"]


def test_completion_remembers_attribute_names_of_pure_evaluations(monkeypatch) -> None:
    from evaluator.ide import _doc

    runs: list[int] = []
    real = _doc.FocusCompiler.compile_focus

    def counting(self, root):  # type: ignore[no-untyped-def]
        runs.append(1)
        return real(self, root)

    monkeypatch.setattr(_doc.FocusCompiler, "compile_focus", counting)
    text = "let lib = { foo = 1; bar = x: x; }; in with lib; { a = lib.fo; b = fo; }"
    in_select, in_scope = text.index("lib.fo") + 5, text.index("b = fo") + 5
    for _ in range(3):
        assert [c.label for c in completion(text, None, in_select)] == ["foo"]
        assert [c.label for c in completion(text, None, in_scope)][:1] == ["foo"]
    assert len(runs) == 2  # once per evaluated node, for this text
    # Another text: evaluated again.
    other = text.replace("foo = 1;", "foo = 1; fox = 2;")
    assert [c.label for c in completion(other, None, in_select + 10)] == ["foo", "fox"]
    assert len(runs) == 3


def test_completion_does_not_remember_what_read_files(tmp_path) -> None:
    lib = tmp_path / "lib.nix"
    lib.write_text("{ alpha = 1; }")
    path = str(tmp_path / "main.nix")
    fixture = "let lib = import ./lib.nix; in with lib; { x = $0; }"
    assert "alpha" in labels(fixture, path, n=50)
    lib.write_text("{ alpha = 1; beta = 2; }")
    assert {"alpha", "beta"} <= set(labels(fixture, path, n=50))


def test_completion_does_not_remember_an_evaluation_out_of_budget(monkeypatch) -> None:
    from evaluator.errors import EvalLimit
    from evaluator.ide import _doc

    def out_of_budget(self, root):  # type: ignore[no-untyped-def]
        raise EvalLimit("evaluation limit: time budget exceeded", "deadline")

    fixture = "let lib = { foo = 1; }; in with lib; { x = $0; }"
    monkeypatch.setattr(_doc.FocusCompiler, "compile_focus", out_of_budget)
    assert "foo" not in labels(fixture, n=50)
    monkeypatch.undo()
    assert "foo" in labels(fixture, n=50)


def test_tree_index_around_equals_a_walk_on_wide_sets() -> None:
    """``around`` bisects the children of wide nodes: it still finds every
    node containing the offset (also values of `a.b = v;` merged sets, whose
    extents overlap their siblings), in walk order."""
    from evaluator.ide._doc import TreeIndex, analyse
    from evaluator.walk import walk

    binds = []
    for i in range(120):
        binds.append(f"v{i} = {{ x = {i}; y = [ {i} ]; }};")
        if i % 7 == 0:
            binds.append(f"s.a{i} = {i} + 1;")  # merged into one set `s`
        if i % 11 == 0:
            binds.append(f"t = {{ b{i} = {i}; }}; " if i == 0 else f"t.c{i} = {i};")
    text = "let " + " ".join(binds) + " in [ s t ]"
    doc = analyse(text, None)
    assert doc.root is not None
    index = TreeIndex(doc.root)
    everything = list(walk(doc.root))
    for offset in range(0, len(text) + 1, 3):
        expected = [n for n in everything if n.span.start <= offset <= n.span.end]
        assert list(index.around(offset)) == expected, offset


def test_completion_resolve_builtin_doc() -> None:
    item = next(c for c in completion("ma", None, 2) if c.label == "map")
    assert item.documentation is None
    assert "list" in (resolve_completion(item).documentation or "")


def test_signature_help() -> None:
    text, off = cursor("builtins.map (x: x) $0")
    sig = signature_help(text, None, off)
    assert sig is not None and sig.parameters == ["f", "list"] and sig.active_parameter == 1
    text, off = cursor("let f = { alpha, beta ? 1 }: alpha; in f { beta = $0 }")
    sig = signature_help(text, None, off)
    assert sig is not None and sig.label == "{ alpha, beta ? 1 }: …" and sig.active_parameter == 1


def check_actions(fixture: str, expected: list[tuple[str, str]]) -> None:
    text, off = cursor(fixture)
    got = [
        (a.title, apply_edits(text.encode(), a.edits).decode())
        for a in code_actions(text, None, (off, off))
    ]
    assert got == expected


def test_quick_fixes() -> None:
    check_actions("let a = 1; $0b = 2; in a", [("Remove unused binding", "let a = 1; in a")])
    check_actions("$0rec { a = 1; }", [("Remove `rec`", "{ a = 1; }")])
    check_actions("$0http://x.org", [("Quote URL", '"http://x.org"')])
    check_actions("$0x: 1", [("Prefix with `_`", "_x: 1")])
    check_actions("{ x, ... }: $0y", [("Add `y` to the function's formals", "{ x, y, ... }: y")])
    check_actions("let $0in 1", [("Remove empty `let`", "1")])


def test_refactors() -> None:
    check_actions("{ $0a = a; }", [("Convert to `inherit a;`", "{ inherit a; }")])
    check_actions("{ inherit $0a; }", [("Convert to `a = a;`", "{ a = a; }")])
    check_actions("{ $0a.b = 1; }", [("Pack into `a = { … };`", "{ a = { b = 1; }; }")])
    check_actions("{ $0a = { b = 1; }; }", [("Flatten into `a.…`", "{ a.b = 1; }")])
    text = "let y = 2; in { a = y + 1; }"
    (act,) = code_actions(text, None, (20, 25))
    assert (
        apply_edits(text.encode(), act.edits).decode()
        == "let y = 2; in let value = y + 1; in { a = value; }"
    )


def test_inlay_hints() -> None:
    text = 'let a = 1 + 2; b = x: x; d = throw "x"; e = 1; in a'
    assert [(h.offset, h.label) for h in inlay_hints(text, None)] == [(13, "= 3")]
    assert inlay_hints("y: let a = y + 1; in a", None) == []
