# A binding used by name adds no note; the select x.a.value notes the path
# as written at the last attribute found (value, in opt).
let
  mergedValue = throw "boom";
  opt = { value = mergedValue; };
  x = { a = opt; };
in
x.a.value
