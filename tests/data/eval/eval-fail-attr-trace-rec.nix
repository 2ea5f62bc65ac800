# rec set: the select .a is noted at a, not at the binding y it refers to.
rec {
  y = throw "boom";
  a = y;
}.a
