; Language injections for Nix (tree-sitter-nix 0.1.0), written for nixlens.
;
; Precedence: later patterns win when two capture the same node (the
; nvim-treesitter assumption).
;
; Only portable predicates are used (#eq?, #any-of?, #match? with patterns
; that mean the same in Rust, PCRE and Vim "very magic" regex) so that Neovim,
; Helix and nixlens' own tests read these the same way.
;
; The content captured is the string fragments only: interpolations
; (`${...}`) are Nix, and `injection.combined` parses all fragments of a
; string as one document.

; Comments
; --------

((comment) @injection.content
  (#set! injection.language "comment"))

; Shell in derivation attributes
; ------------------------------

; `buildPhase = ''...'';`, `installCheckPhase`, `script`, `preStart`,
; `postInstall`, `shellHook`, `preHook`, `setupHook`, `startupScript`, ...
; The last part of the attribute path decides: `systemd.services.x.script`.
((binding
  attrpath: (attrpath
    attr: (identifier) @_name
    .)
  expression: (indented_string_expression
    (string_fragment) @injection.content))
  (#match? @_name "^([a-zA-Z]*Phase|script|[a-zA-Z]*Script|(pre|post)[A-Z][a-zA-Z]*|[a-zA-Z]*Hook)$")
  (#set! injection.language "bash")
  (#set! injection.combined))

; `writeShellScript "name" ''...''`, `pkgs.writeShellScriptBin "name" ''...''`
((apply_expression
  function: (apply_expression
    function: [
      (variable_expression
        name: (identifier) @_fn)
      (select_expression
        attrpath: (attrpath
          attr: (identifier) @_fn
          .))
    ])
  argument: (indented_string_expression
    (string_fragment) @injection.content))
  (#any-of? @_fn "writeShellScript" "writeShellScriptBin")
  (#set! injection.language "bash")
  (#set! injection.combined))

; Regular expressions
; -------------------

; The first argument of `builtins.match` and `builtins.split` (POSIX extended
; regular expressions; the `regex` grammar is close enough to colour them).
((apply_expression
  function: (select_expression
    expression: (variable_expression
      name: (identifier) @_builtins)
    attrpath: (attrpath
      .
      attr: (identifier) @_fn
      .))
  argument: [
    (string_expression
      (string_fragment) @injection.content)
    (indented_string_expression
      (string_fragment) @injection.content)
  ])
  (#eq? @_builtins "builtins")
  (#any-of? @_fn "match" "split")
  (#set! injection.language "regex")
  (#set! injection.combined))

; `match` and `split` brought into scope by `inherit (builtins) match;` or
; `with builtins;`, and their `__match`/`__split` aliases.
((apply_expression
  function: (variable_expression
    name: (identifier) @_fn)
  argument: [
    (string_expression
      (string_fragment) @injection.content)
    (indented_string_expression
      (string_fragment) @injection.content)
  ])
  (#any-of? @_fn "match" "split" "__match" "__split")
  (#set! injection.language "regex")
  (#set! injection.combined))
