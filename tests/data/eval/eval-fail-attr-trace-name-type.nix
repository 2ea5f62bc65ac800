# A dynamic name that is not a string, in a select with a default.
let
  k = 1;
in
{ a = 1; }.${k} or 2
