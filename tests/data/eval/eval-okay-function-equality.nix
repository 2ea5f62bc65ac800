# Functions compare equal when both sides are the same value (inside lists
# and sets, and for elem); a bare f == f is false (Nix 2.26).
let
  f = x: x;
  g = f;
  s = { inherit f; };
  l = [ f ];
in {
  list = [ f ] == [ f ];
  set = { a = f; } == { a = f; };
  bare = f == f;
  alias = [ f ] == [ g ];
  lits = [ (x: x) ] == [ (x: x) ];
  mapped = l == map (x: x) l;
  same = l == l;
  sameSet = s == s;
  sel = [ s.f ] == [ s.f ];
  nested = { a = [ f ]; } == { a = [ f ]; };
  builtin = [ builtins.map ] == [ builtins.map ];
  builtinBare = builtins.map == builtins.map;
  primApp = let m = builtins.map f; in [ m ] == [ m ];
  imports = [ (import ./function-equality-lib.nix) ] == [ (import ./function-equality-lib.nix) ];
  importsInList = [ (import ./function-equality-lib.nix).id ] == [ (import ./function-equality-lib.nix).id ];
  importsBare = import ./function-equality-lib.nix == import ./function-equality-lib.nix;
  withFn = { a = 1; f = f; } == { f = f; a = 1; };
  inh = let a = { inherit f; }; b = { inherit f; }; in a == b;
  attrSel = let a = { inherit f; }; in [ a.f ] == [ a.f ];
  elem = builtins.elem f [ f ];
  # The import cache shares a file's value, not copies of a function in it.
  importFn = [ (import ./function-equality-id.nix) ] == [ (import ./function-equality-id.nix) ];
  importFnLet = let i = import ./function-equality-id.nix; j = import ./function-equality-id.nix; in [ i ] == [ j ];
  importFnSame = let i = import ./function-equality-id.nix; in [ i ] == [ i ];
  importFnElem = builtins.elem (import ./function-equality-id.nix) [ (import ./function-equality-id.nix) ];
  importAttrSel = let l = import ./function-equality-lib.nix; in [ l.id ] == [ l.id ];
}
