# inherit (x) a is a select of x.a: both selects are noted.
let
  x = { a = throw "inherited"; };
  y = {
    inherit (x) a;
  };
in
y.a
