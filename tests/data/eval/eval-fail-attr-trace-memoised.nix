# A failed attribute selected a second time is noted once.
let
  s = { a = throw "again"; };
in
builtins.seq (builtins.tryEval s.a) s.a
