# Forcing the result deeply notes every attribute on the way; list
# elements add nothing, an attribute without a position a note without one.
{
  a.b = [ { c = throw "deep"; } ];
  d = builtins.mapAttrs (n: v: v) { e = 1; };
}
