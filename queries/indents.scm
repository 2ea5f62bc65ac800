; Indentation for Nix (tree-sitter-nix 0.1.0), written for nixlens in
; nvim-treesitter's indents vocabulary (@indent.begin, @indent.branch,
; @indent.end, @indent.dedent, @indent.auto, @indent.ignore).
;
; Precedence: later patterns win when two capture the same node (the
; nvim-treesitter assumption).

; Nodes whose contents are indented one level
; -------------------------------------------

[
  (attrset_expression)
  (rec_attrset_expression)
  (let_attrset_expression)
  (list_expression)
  (parenthesized_expression)
  (formals)
  (let_expression)
  (if_expression)
  (binding)
  (indented_string_expression)
] @indent.begin

; Lines that start at the level of the node that opened them
; ----------------------------------------------------------

[
  "}"
  "]"
  ")"
] @indent.branch @indent.end

; `let ... in`, `if ... then ... else`
(let_expression
  "in" @indent.branch)

(if_expression
  [
    "then"
    "else"
  ] @indent.branch)

; The closing `''` of an indented string
(indented_string_expression
  "''" @indent.branch
  .)

; The closing `;` of a binding ends its indentation.
(binding
  ";" @indent.end)

; Leave alone
; -----------

; Indented string contents are the user's: keep what they wrote.
(indented_string_expression
  (string_fragment) @indent.ignore)

(comment) @indent.auto
