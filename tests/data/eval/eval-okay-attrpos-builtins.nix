# Which sets made by builtins keep their attributes' positions (Nix 2.26):
# mapAttrs and zipAttrsWith make none, listToAttrs takes the `value`
# attribute's, `//`, removeAttrs and intersectAttrs keep the operands'.
let
  s = { a = 1; b = 2; };
  t = { c = 3; };
  p = n: x: builtins.unsafeGetAttrPos n x;
  e = {
    name = "a";
    value = 1; };
in {
  plain = p "a" s;
  update = p "a" (s // t);
  update2 = p "c" (s // t);
  mapAttrs = p "a" (builtins.mapAttrs (n: v: v) s);
  listToAttrs = p "a" (builtins.listToAttrs [ e ]);
  listToAttrsFirst = p "a" (builtins.listToAttrs [ { name = "a"; value = 1; } { name = "a"; value = 2; } ]);
  listToAttrsJSON = p "a" (builtins.listToAttrs [ (builtins.fromJSON ''{"name":"a","value":1}'') ]);
  removeAttrs = p "a" (builtins.removeAttrs s [ "b" ]);
  intersectAttrs = p "a" (builtins.intersectAttrs { a = 1; } s);
  zipAttrsWith = p "a" (builtins.zipAttrsWith (n: v: v) [ s ]);
  rec_ = p "a" (rec { a = 1; });
  inherit_ = p "a" (let a = 1; in { inherit a; });
  inheritFrom = p "a" { inherit (s) a; };
  dyn = p "a" { ${"a"} = 1; };
  nested = p "y" { x.y = 1; };
  nested2 = p "x" { x.y = 1; };
  fromJSON = p "a" (builtins.fromJSON ''{"a":1}'');
  functionArgs = p "a" (builtins.functionArgs ({ a }: a));
  groupBy = p "a" (builtins.groupBy (x: x) [ "a" ]);
  parseDrvName = p "name" (builtins.parseDrvName "a-1");
  builtins_ = p "map" builtins;
  withDefault = p "a" (({ a ? 1 }@args: args) { a = 2; });
}
