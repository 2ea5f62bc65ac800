; Syntax highlighting for Nix (tree-sitter-nix 0.1.0), written for nixlens.
;
; Capture names follow nvim-treesitter's vocabulary (@variable.member,
; @function.call, @string.special.path, ...).
;
; Precedence: when several patterns capture the same node, the LATER pattern
; wins, as nvim-treesitter assumes. So general patterns come first and more
; specific ones after them; an editor with first-match-wins semantics (Helix)
; would have to reverse the order. Captures on a smaller (inner) node beat
; captures on an enclosing node whatever their order.
;
; These queries only see syntax: a local variable that shadows a builtin is
; still coloured as the builtin here. The server's semantic tokens, computed
; from its own name resolution, correct that in editors that use them.

; Comments
; --------

(comment) @comment @spell

; Identifiers (fallbacks, refined below)
; -----------

(identifier) @variable

(variable_expression
  name: (identifier) @variable)

; Attribute names
; ---------------

; `{ a.b = 1; }`: every part of a binding's path names an attribute.
(binding
  attrpath: (attrpath
    attr: (identifier) @variable.member))

; `x.a.b` and `x ? a.b`
(select_expression
  attrpath: (attrpath
    attr: (identifier) @variable.member))

(has_attr_expression
  attrpath: (attrpath
    attr: (identifier) @variable.member))

; `inherit a;` and `inherit (x) a;` in an attribute set
(inherited_attrs
  attr: (identifier) @variable.member)

; In `let`, the first part of a binding's path and inherited names are
; variables, not attributes.
(let_expression
  (binding_set
    binding: (binding
      attrpath: (attrpath
        .
        attr: (identifier) @variable))))

(let_expression
  (binding_set
    binding: (inherit
      attrs: (inherited_attrs
        attr: (identifier) @variable))))

(let_expression
  (binding_set
    binding: (inherit_from
      attrs: (inherited_attrs
        attr: (identifier) @variable))))

; Functions
; ---------

; `x: body`
(function_expression
  universal: (identifier) @variable.parameter)

; `{ a, b ? 1 }: body`
(formal
  name: (identifier) @variable.parameter)

; `...` in formals
(ellipses) @variable.parameter.builtin

; `f = x: ...;`: the last part of the path names a function.
(binding
  attrpath: (attrpath
    attr: (identifier) @function
    .)
  expression: (function_expression))

; `f x`
(apply_expression
  function: (variable_expression
    name: (identifier) @function.call))

; `a.b.f x`
(apply_expression
  function: (select_expression
    attrpath: (attrpath
      attr: (identifier) @function.call
      .)))

; Builtins
; --------

; `builtins.name`
(select_expression
  expression: (variable_expression
    name: (identifier) @_builtins)
  attrpath: (attrpath
    .
    attr: (identifier) @function.builtin)
  (#eq? @_builtins "builtins"))

; `builtins.currentSystem` and the other builtin constants
(select_expression
  expression: (variable_expression
    name: (identifier) @_builtins)
  attrpath: (attrpath
    .
    attr: (identifier) @constant.builtin)
  (#eq? @_builtins "builtins")
  (#any-of? @constant.builtin
    "currentSystem" "currentTime" "langVersion" "nixPath" "nixVersion" "storeDir"
    "false" "null" "true" "builtins"))

; Every builtin is also visible as `__name`.
((variable_expression
  name: (identifier) @function.builtin)
  (#match? @function.builtin "^__[a-zA-Z]"))

; Builtins visible without the `builtins.` prefix
((variable_expression
  name: (identifier) @function.builtin)
  (#any-of? @function.builtin
    "abort" "baseNameOf" "break" "derivation" "derivationStrict" "dirOf"
    "fetchGit" "fetchMercurial" "fetchTarball" "fetchTree" "fromTOML" "isNull"
    "map" "placeholder" "removeAttrs" "scopedImport" "throw" "toString"))

; Builtin constants (Nix has no boolean or null literals: these are names)
((variable_expression
  name: (identifier) @constant.builtin)
  (#any-of? @constant.builtin
    "builtins" "true" "false" "null"
    "__currentSystem" "__currentTime" "__langVersion" "__nixPath" "__nixVersion"
    "__storeDir"))

; `import` is a builtin function, highlighted as nvim-treesitter does.
((variable_expression
  name: (identifier) @keyword.import)
  (#eq? @keyword.import "import"))

; Keywords
; --------

[
  "assert"
  "in"
  "inherit"
  "let"
  "rec"
  "with"
] @keyword

[
  "if"
  "then"
  "else"
] @keyword.conditional

; `a.b or default`
"or" @keyword.operator

; Operators
; ---------

(unary_expression
  operator: _ @operator)

(binary_expression
  operator: _ @operator)

[
  "="
  "@"
  "?"
] @operator

; Punctuation
; -----------

[
  "."
  ","
  ";"
] @punctuation.delimiter

; The `:` of `x: body`
(function_expression
  ":" @punctuation.special)

[
  "("
  ")"
  "["
  "]"
  "{"
  "}"
] @punctuation.bracket

; Literals
; --------

(integer_expression) @number

(float_expression) @number.float

; `-1` and `-1.5`
(unary_expression
  "-" @number
  .
  (integer_expression))

(unary_expression
  "-" @number.float
  .
  (float_expression))

; Strings
; -------

; Only the fragments and delimiters: interpolated code keeps its own colours.
(string_fragment) @string

(string_expression
  "\"" @string)

(indented_string_expression
  "''" @string)

; `\n` in "..." and `''\n`, `'''` in ''...''
(escape_sequence) @string.escape

; `''${` and `$${`
(dollar_escape) @string.escape

; `${ ... }`
(interpolation
  "${" @punctuation.special
  "}" @punctuation.special)

; Paths and URLs
; --------------

[
  (path_expression)
  (hpath_expression)
  (spath_expression)
] @string.special.path

; The fragments of `./a/${b}/c` would otherwise be plain strings.
(path_fragment) @string.special.path

(uri_expression) @string.special.url
