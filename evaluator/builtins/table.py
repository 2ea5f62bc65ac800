"""Every builtin's metadata in one table: name, parameters, documentation,
and whether it is visible without the ``builtins.`` prefix.

This is the single source: ``registry.builtin`` takes a builtin's arity and
documentation from here (registering a name the table lacks, or whose
parameters disagree, fails at import), scope analysis takes the global
names (``scope.GLOBAL_NAMES``), signature help the parameter names, and the
highlight query's lists of builtins (``queries/highlights.scm``) and the VS
Code grammar's list are generated from it (``python -m
evaluator.builtins.table --write``; a test checks they are current).

Parameter names are the Nix manual's (``.args`` of Nix's primops).  The
builtins are Nix 2.36's with default settings (the unsafe-native-code ones,
``importNative`` and ``exec``, and the experimental ``outputOf`` are left
out); constants take no parameters.
"""

from __future__ import annotations

import os
import sys


class BuiltinInfo:
    """One builtin: ``params`` empty for a constant; ``unprefixed``: visible
    as a bare name (otherwise only as ``__name`` and ``builtins.name``)."""

    __slots__ = ("name", "params", "doc", "unprefixed", "constant")

    def __init__(
        self, name: str, params: tuple[str, ...], doc: str, unprefixed: bool, constant: bool
    ) -> None:
        self.name = name
        self.params = params
        self.doc = doc
        self.unprefixed = unprefixed
        self.constant = constant

    @property
    def arity(self) -> int:
        """The number of arguments a primop takes (0 for a constant)."""
        return len(self.params)

    def __repr__(self) -> str:
        return f"BuiltinInfo({self.name!r}, {self.params!r})"


U = True  # visible without the ``builtins.`` prefix
P = False  # only as ``__name`` and ``builtins.name``

# Primops: name, parameters, visibility, documentation.
_PRIMOPS: tuple[tuple[str, str, bool, str], ...] = (
    ("abort", "s", U, "Abort evaluation with a fatal error."),
    ("add", "e1 e2", P, "Add two numbers."),
    (
        "addDrvOutputDependencies",
        "s",
        P,
        "Turn the one plain ``.drv`` reference of a string into an all-outputs one.",
    ),
    (
        "addErrorContext",
        "s e",
        P,
        "Return ``e``; an error while forcing it gets ``s`` in its trace.",
    ),
    ("all", "pred list", P, "Whether the predicate holds for every element of the list."),
    ("any", "pred list", P, "Whether the predicate holds for some element of the list."),
    (
        "appendContext",
        "s context",
        P,
        "Add the context described as by ``getContext`` to a string.",
    ),
    ("attrNames", "set", P, "The names of a set's attributes, sorted."),
    ("attrValues", "set", P, "The values of a set's attributes, sorted by name."),
    (
        "baseNameOf",
        "x",
        U,
        'The last component of a path or string (``"a/b/"`` -> ``"b"``).',
    ),
    ("bitAnd", "e1 e2", P, "Bitwise AND of two integers."),
    ("bitOr", "e1 e2", P, "Bitwise OR of two integers."),
    ("bitXor", "e1 e2", P, "Bitwise XOR of two integers."),
    ("break", "v", U, "Return the argument (a breakpoint when a debugger is attached)."),
    (
        "catAttrs",
        "attr list",
        P,
        "The values of attribute ``attr`` in the sets of a list that have it.",
    ),
    ("ceil", "double", P, "Round a number (ceil)."),
    ("compareVersions", "s1 s2", P, "Compare two version strings: -1, 0 or 1."),
    ("concatLists", "lists", P, "Concatenate a list of lists."),
    ("concatMap", "f list", P, "``concatLists (map f list)``, strictly."),
    ("concatStringsSep", "separator list", P, "Join a list of strings with a separator."),
    (
        "convertHash",
        "args",
        P,
        "Re-encode a hash: ``{ hash; hashAlgo ? null; toHashFormat; }``.",
    ),
    ("deepSeq", "e1 e2", P, "Force ``e1`` deeply, then return ``e2``."),
    ("derivationStrict", "attrs", U, "Compute a derivation's ``.drv`` path and output paths."),
    ("dirOf", "s", U, "The directory part of a path (a path) or string (a string)."),
    ("div", "e1 e2", P, "Divide two numbers (integer division truncates)."),
    ("elem", "x xs", P, "Whether a value is an element of a list (Nix equality)."),
    ("elemAt", "xs n", P, "The element of a list at an index (from 0)."),
    ("fetchClosure", "args", P, "Copy a store closure from a binary cache (offline in nixlens)."),
    ("fetchGit", "args", U, "Fetch a Git repository (offline in nixlens)."),
    ("fetchMercurial", "args", U, "Fetch a Mercurial repository (offline in nixlens)."),
    ("fetchTarball", "args", U, "Download and unpack a tarball (offline in nixlens)."),
    (
        "fetchTree",
        "input",
        U,
        "Fetch a source tree (offline in nixlens: checks arguments, then fails).",
    ),
    (
        "fetchurl",
        "args",
        P,
        "Download a file (offline in nixlens: checks arguments, then fails).",
    ),
    ("filter", "f list", P, "The elements of a list for which the predicate is true."),
    (
        "filterSource",
        "e1 e2",
        P,
        "Copy a path to the store, keeping only what the filter accepts.",
    ),
    ("findFile", "search-path lookup-path", P, "Resolve ``<name>`` against a search path list."),
    (
        "flakeRefToString",
        "attrs",
        P,
        "Print a flake reference given as attributes in its URL form.",
    ),
    ("floor", "double", P, "Round a number (floor)."),
    ("foldl'", "op nul list", P, "Left fold, forcing the accumulator at each step."),
    ("fromJSON", "e", P, "Parse a JSON string into a Nix value."),
    ("fromTOML", "e", U, "Parse a TOML string into a Nix value."),
    ("functionArgs", "f", P, "The formal arguments of a function: name -> has a default."),
    (
        "genericClosure",
        "attrset",
        P,
        "The closure of ``startSet`` under ``operator``, unique by ``key``.",
    ),
    ("genList", "generator length", P, "``[ (generator 0) ... (generator (length - 1)) ]``."),
    ("getAttr", "s set", P, "``set.${s}``."),
    (
        "getContext",
        "s",
        P,
        "The context of a string as ``{ <path> = { path?; allOutputs?; outputs?; }; }``.",
    ),
    ("getEnv", "s", P, 'The value of an environment variable ("" when unset).'),
    (
        "getFlake",
        "args",
        P,
        "Evaluate a flake: a path, or a reference locked by narHash found in the store (offline).",
    ),
    ("groupBy", "f list", P, "Group the elements of a list by the string ``f`` returns for each."),
    ("hasAttr", "s set", P, "``set ? ${s}``."),
    ("hasContext", "s", P, "Whether a string has a non-empty context."),
    ("hashFile", "type p", P, "The base-16 hash of a file's contents."),
    ("hashString", "type s", P, "The base-16 hash of a string (md5, sha1, sha256 or sha512)."),
    ("head", "list", P, "The first element of a list."),
    ("import", "path", U, "Evaluate the Nix file at a path (``default.nix`` for a directory)."),
    (
        "intersectAttrs",
        "e1 e2",
        P,
        "The attributes of the second set whose names are in the first.",
    ),
    ("isAttrs", "e", P, "Whether the argument is attrs."),
    ("isBool", "e", P, "Whether the argument is bool."),
    ("isFloat", "e", P, "Whether the argument is float."),
    ("isFunction", "e", P, "Whether the argument is function."),
    ("isInt", "e", P, "Whether the argument is int."),
    ("isList", "e", P, "Whether the argument is list."),
    ("isNull", "e", U, "Whether the argument is null."),
    ("isPath", "e", P, "Whether the argument is path."),
    ("isString", "e", P, "Whether the argument is string."),
    ("length", "e", P, "The number of elements of a list."),
    ("lessThan", "e1 e2", P, "``e1 < e2`` for numbers, strings, paths and lists."),
    (
        "listToAttrs",
        "e",
        P,
        "A set from a list of ``{ name; value; }`` (first occurrence wins).",
    ),
    ("map", "f list", U, "Apply a function to every element of a list (lazily)."),
    ("mapAttrs", "f attrset", P, "Apply ``f name value`` to every attribute (lazily)."),
    ("match", "regex str", P, "The groups of a POSIX regex matching the whole string, or null."),
    ("mul", "e1 e2", P, "Multiply two numbers."),
    (
        "parseDrvName",
        "s",
        P,
        "Split a package name into ``{ name; version; }`` at the first dash\n"
        "not followed by a letter.",
    ),
    (
        "parseFlakeRef",
        "flake-ref",
        P,
        "Parse a flake reference string into its attributes (no fetching).",
    ),
    (
        "partition",
        "pred list",
        P,
        "``{ right = [ x | pred x ]; wrong = [ x | !pred x ]; }``.",
    ),
    ("path", "args", P, "``builtins.path { path; name?; filter?; recursive?; sha256?; }``."),
    (
        "pathExists",
        "path",
        P,
        "Whether a path exists (a trailing ``/`` or ``/.`` requires a directory).",
    ),
    ("placeholder", "output", U, "The placeholder string for a derivation output."),
    (
        "readDir",
        "path",
        P,
        'A directory\'s entries: name -> "regular"/"directory"/"symlink"/"unknown".',
    ),
    ("readFile", "path", P, "The contents of a file as a string."),
    (
        "readFileType",
        "p",
        P,
        'The type of a file: "regular", "directory", "symlink" or "unknown".',
    ),
    ("removeAttrs", "set list", U, "A set without the named attributes."),
    (
        "replaceStrings",
        "from to s",
        P,
        "Replace every occurrence of the ``from`` strings by the ``to`` ones.",
    ),
    ("scopedImport", "scope path", U, "``import`` with extra names in the file's outermost scope."),
    ("seq", "e1 e2", P, "Force ``e1`` to weak head normal form, then return ``e2``."),
    ("sort", "comparator list", P, 'Stable sort of a list by a "less than" comparator.'),
    ("split", "regex str", P, "Non-matching pieces of a string interleaved with the match groups."),
    ("splitVersion", "s", P, "The components of a version string."),
    ("storePath", "path", P, "Use an existing store path (with itself as context)."),
    ("stringLength", "e", P, "The length of a string in bytes."),
    ("sub", "e1 e2", P, "Subtract two numbers."),
    ("substring", "start len s", P, "``len`` bytes of ``s`` from byte ``start``."),
    ("tail", "list", P, "A list without its first element."),
    ("throw", "s", U, "Throw a catchable error with the given message."),
    (
        "toFile",
        "name s",
        P,
        "Store a string as a text file; its path (references from the context).",
    ),
    ("toJSON", "e", P, "The JSON text of a value (strings keep their context)."),
    ("toPath", "s", P, "Deprecated: an absolute path string, canonicalised."),
    ("toString", "e", U, "Convert a value to a string (the rules of ``toString``)."),
    ("toXML", "e", P, "The XML rendering of a value, as ``nix-instantiate --xml`` prints it."),
    ("trace", "e1 e2", P, "Print ``e1`` to stderr (deep-forced), then return ``e2``."),
    (
        "traceVerbose",
        "e1 e2",
        P,
        "Like ``trace`` when the trace-verbose setting is on (it is off): ``e2``.",
    ),
    ("tryEval", "e", P, "Evaluate ``e``; ``{ success; value; }``, catching throw/assert only."),
    ("typeOf", "e", P, "The type of a value as a string: int, string, set, lambda, ..."),
    (
        "unsafeDiscardOutputDependency",
        "s",
        P,
        "Turn every ``=drv`` (all outputs) element into a plain reference to the drv.",
    ),
    ("unsafeDiscardStringContext", "s", P, "The string without its context."),
    (
        "unsafeGetAttrPos",
        "s set",
        P,
        "Where an attribute was defined: ``{ file; line; column; }`` or null.",
    ),
    ("warn", "e1 e2", P, "Emit the evaluation warning ``e1``, then return ``e2``."),
    (
        "zipAttrsWith",
        "f list",
        P,
        "``{ name = f name [ values of name in each set ]; }`` over a list of sets.",
    ),
)

# Constants: name, visibility, documentation.  ``true``, ``false``, ``null``
# and ``builtins`` are global names too (Nix has no literals for them).
_CONSTANTS: tuple[tuple[str, bool, str], ...] = (
    ("builtins", U, "The set of every builtin."),
    ("currentSystem", P, 'The platform Nix evaluates for, e.g. ``"x86_64-linux"``.'),
    ("currentTime", P, "Seconds since the epoch when the evaluation started (impure)."),
    (
        "derivation",
        U,
        "Describe a build: ``derivation { name; system; builder; ... }`` (Nix's derivation.nix).",
    ),
    ("false", U, "The Boolean false."),
    ("langVersion", P, "The version of the Nix language (an integer)."),
    ("nixPath", P, "The search path (``-I``, ``NIX_PATH``) as a list of ``{ prefix; path; }``."),
    ("nixVersion", P, "The version of Nix nixlens answers as."),
    ("null", U, "The null value."),
    ("storeDir", P, 'The store directory, ``"/nix/store"``.'),
    ("true", U, "The Boolean true."),
)

BUILTINS: dict[str, BuiltinInfo] = {
    **{
        name: BuiltinInfo(name, tuple(params.split()), doc, unprefixed, False)
        for name, params, unprefixed, doc in _PRIMOPS
    },
    **{name: BuiltinInfo(name, (), doc, unprefixed, True) for name, unprefixed, doc in _CONSTANTS},
}

#: Builtins visible as bare names (besides every ``__name``).
UNPREFIXED: frozenset[str] = frozenset(n for n, i in BUILTINS.items() if i.unprefixed)


def global_names() -> frozenset[str]:
    """Every name of Nix's global scope: the unprefixed builtins and
    ``__name`` for the others (``builtins`` itself has no ``__`` form)."""
    out = set(UNPREFIXED)
    for name, info in BUILTINS.items():
        if not info.unprefixed:
            out.add("__" + name)
    return frozenset(out)


# ------------------------------------------------------ generated lists
def _any_of(capture: str, names: list[str], indent: str = "    ") -> str:
    """A ``#any-of?`` predicate listing ``names``, wrapped at 80 columns."""
    lines, line = [], f'{indent}"{names[0]}"'
    for name in names[1:]:
        word = f'"{name}"'
        if len(line) + 1 + len(word) > 80:
            lines.append(line)
            line = indent + word
        else:
            line += " " + word
    lines.append(line)
    return f"  (#any-of? {capture}\n" + "\n".join(lines) + ")"


def highlight_block() -> str:
    """The builtin lists of ``queries/highlights.scm`` (between its markers)."""
    prefixed_consts = sorted(n for n, i in BUILTINS.items() if i.constant and not i.unprefixed)
    bare_fns = sorted(n for n, i in BUILTINS.items() if i.unprefixed and not i.constant)
    bare_consts = sorted(
        n for n, i in BUILTINS.items() if i.unprefixed and i.constant and n != "derivation"
    )
    # ``import`` has its own capture (@keyword.import, as nvim-treesitter);
    # ``derivation`` is a function value, highlighted as one.
    bare_fns = sorted([n for n in bare_fns if n != "import"] + ["derivation"])
    return "\n".join(
        [
            "; `builtins.currentSystem` and the other builtin constants",
            "(select_expression",
            "  expression: (variable_expression",
            "    name: (identifier) @_builtins)",
            "  attrpath: (attrpath",
            "    .",
            "    attr: (identifier) @constant.builtin)",
            '  (#eq? @_builtins "builtins")',
            _any_of("@constant.builtin", prefixed_consts + bare_consts) + ")",
            "",
            "; Every builtin is also visible as `__name`.",
            "((variable_expression",
            "  name: (identifier) @function.builtin)",
            '  (#match? @function.builtin "^__[a-zA-Z]"))',
            "",
            "; Builtins visible without the `builtins.` prefix",
            "((variable_expression",
            "  name: (identifier) @function.builtin)",
            _any_of("@function.builtin", bare_fns) + ")",
            "",
            "; Builtin constants (Nix has no boolean or null literals: these are names)",
            "((variable_expression",
            "  name: (identifier) @constant.builtin)",
            _any_of("@constant.builtin", bare_consts + ["__" + n for n in prefixed_consts]) + ")",
        ]
    )


def textmate_patterns() -> dict[str, str]:
    """The VS Code grammar's regular expressions for bare builtin functions
    (``builtin``) and constants (``constant``), by repository rule."""
    fns = sorted(
        [n for n, i in BUILTINS.items() if i.unprefixed and not i.constant and n != "import"]
        + ["derivation"]
    )
    consts = sorted(
        n for n, i in BUILTINS.items() if i.unprefixed and i.constant and n != "derivation"
    )
    end = "\\b(?![\\w'-])"
    return {
        "builtin": "\\b(" + "|".join(fns) + "|__[a-zA-Z][\\w']*)" + end,
        "constant": "\\b(" + "|".join(consts) + ")" + end,
    }


BEGIN = ";; BEGIN builtins (generated by `python -m evaluator.builtins.table --write`)"
END = ";; END builtins"


def with_block(text: str) -> str:
    """``text`` (a highlights.scm) with the generated block replaced."""
    start = text.index(BEGIN) + len(BEGIN)
    end = text.index(END)
    return text[:start] + "\n" + highlight_block() + "\n" + text[end:]


def with_patterns(text: str) -> str:
    """``text`` (the VS Code grammar) with the generated patterns, its
    formatting kept."""
    import json

    rules = json.loads(text)["repository"]
    for rule, pattern in textmate_patterns().items():
        old = json.dumps(rules[rule]["match"], ensure_ascii=False)
        text = text.replace(f'"match": {old}', f'"match": {json.dumps(pattern)}', 1)
    return text


HIGHLIGHTS = os.path.join("queries", "highlights.scm")
GRAMMAR = os.path.join("editors", "vscode", "syntaxes", "nix.tmLanguage.json")


def _write(repo: str) -> list[str]:
    changed = []
    for rel, update in ((HIGHLIGHTS, with_block), (GRAMMAR, with_patterns)):
        path = os.path.join(repo, rel)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        new = update(text)
        if new != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(new)
            changed.append(path)
    return changed


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.stdout.write(highlight_block() + "\n")
        sys.exit(0)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for p in _write(root):
        sys.stdout.write(f"wrote {p}\n")
