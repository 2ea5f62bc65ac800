; Scopes, definitions and references for Nix (tree-sitter-nix 0.1.0),
; written for nixlens in nvim-treesitter's locals vocabulary.
;
; Precedence: later patterns win when two capture the same node (the
; nvim-treesitter assumption).
;
; This is an approximation. Nix `let` and `rec { }` are lazy and recursive:
; a binding is visible in the whole scope, including the bindings written
; before it, while order-based locals resolution (nvim-treesitter's) only
; looks at definitions that come first. `with` brings names into scope that
; cannot be known without evaluation, and `inherit (e) a;` defines `a` without
; a reference to it. The server's own name resolution (go to definition,
; references, rename, semantic tokens) is the truth; these queries are for
; editors that want something without the server.

; Scopes
; ------

[
  (source_code)
  (let_expression)
  (rec_attrset_expression)
  (let_attrset_expression)
  (function_expression)
] @local.scope

; Definitions
; -----------

; `let a = ...; a.b = ...;`: only the first part of the path is a name.
(let_expression
  (binding_set
    binding: (binding
      attrpath: (attrpath
        .
        attr: (identifier) @local.definition.var))))

; `let inherit a; inherit (e) b;`
(let_expression
  (binding_set
    binding: (inherit
      attrs: (inherited_attrs
        attr: (identifier) @local.definition.var))))

(let_expression
  (binding_set
    binding: (inherit_from
      attrs: (inherited_attrs
        attr: (identifier) @local.definition.var))))

; `rec { a = ...; }` and the legacy `let { a = ...; body = ...; }`: attributes
; that are also visible as variables inside the set.
(rec_attrset_expression
  (binding_set
    binding: (binding
      attrpath: (attrpath
        .
        attr: (identifier) @local.definition.field))))

(rec_attrset_expression
  (binding_set
    binding: [
      (inherit
        attrs: (inherited_attrs
          attr: (identifier) @local.definition.field))
      (inherit_from
        attrs: (inherited_attrs
          attr: (identifier) @local.definition.field))
    ]))

(let_attrset_expression
  (binding_set
    binding: (binding
      attrpath: (attrpath
        .
        attr: (identifier) @local.definition.field))))

; `x: body`
(function_expression
  universal: (identifier) @local.definition.parameter)

; `{ a, b ? 1 }: body`
(formal
  name: (identifier) @local.definition.parameter)

; References
; ----------

; Only variables: attribute names after `.` or in a binding's path are not
; references to a scope.
(variable_expression
  name: (identifier) @local.reference)
