# listToAttrs gives an attribute the position of its value.
(builtins.listToAttrs [
  {
    name = "a";
    value = throw "listed";
  }
]).a
