# A dynamic name is shown as computed.
let
  k = "a";
in
{ a = { b = throw "dynamic"; }; }.${k}.b
