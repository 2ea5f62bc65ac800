# builtins.getAttr adds no attribute note.
builtins.getAttr "a" { a = throw "got"; }
