# An error selecting `x.a.value` is traced with the path as written.
let
  x = { a = { value = throw "boom"; }; };
in
x.a.value
