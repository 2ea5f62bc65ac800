; Folds for Nix (tree-sitter-nix 0.1.0), written for nixlens.
;
; Precedence: later patterns win when two capture the same node (the
; nvim-treesitter assumption); here every pattern captures @fold, so order
; does not matter. Editors fold only nodes that span several lines.

; Attribute sets and lists
; ------------------------

[
  (attrset_expression)
  (rec_attrset_expression)
  (let_attrset_expression)
  (list_expression)
] @fold

; Bindings and bodies
; -------------------

[
  (let_expression)
  (with_expression)
  (if_expression)
  (binding)
  (formals)
  (parenthesized_expression)
] @fold

; Strings and comments
; --------------------

[
  (indented_string_expression)
  (comment)
] @fold
