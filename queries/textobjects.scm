; Text objects for Nix (tree-sitter-nix 0.1.0), written for nixlens in the
; vocabulary of nvim-treesitter-textobjects (@function.outer,
; @function.inner, @parameter.inner, @call.outer, ...).
;
; Precedence: later patterns win when two capture the same node (the
; nvim-treesitter assumption). Only standard predicates are used, so a
; parameter's outer object is the parameter itself (no `#make-range!`).

; Comments
; --------

(comment) @comment.outer

; Functions and parameters
; ------------------------

(function_expression
  body: (_) @function.inner) @function.outer

(function_expression
  universal: (identifier) @parameter.inner @parameter.outer)

(formal) @parameter.outer

(formal
  name: (identifier) @parameter.inner)

; Calls
; -----

; `f a b` is `(f a) b`: the outermost application is the whole call, and
; every argument is a call.inner.
(apply_expression
  argument: (_) @call.inner) @call.outer

; Conditionals and assertions
; ---------------------------

(if_expression
  condition: (_) @conditional.inner) @conditional.outer

(if_expression
  consequence: (_) @conditional.inner)

(if_expression
  alternative: (_) @conditional.inner)

(assert_expression
  condition: (_) @conditional.inner) @conditional.outer

; Bindings
; --------

(binding
  attrpath: (_) @assignment.lhs
  expression: (_) @assignment.inner @assignment.rhs) @assignment.outer

(binding
  expression: (_) @attribute.inner) @attribute.outer

[
  (inherit)
  (inherit_from)
] @attribute.outer @assignment.outer

(inherited_attrs
  attr: (identifier) @attribute.inner)

; Blocks
; ------

(attrset_expression
  (binding_set) @block.inner) @block.outer

(rec_attrset_expression
  (binding_set) @block.inner) @block.outer

(let_expression
  body: (_) @block.inner) @block.outer

(with_expression
  body: (_) @block.inner) @block.outer

(list_expression) @block.outer

(list_expression
  element: (_) @block.inner)

; Literals
; --------

[
  (integer_expression)
  (float_expression)
] @number.inner

(string_expression) @string.outer

(indented_string_expression) @string.outer
