let
  pkgs = { hello = { version = "2.12"; }; };
  greet = name: "hello, ${name}";
  unused = 1;
  version = builtins.trace "checking version" pkgs.hello.version;
in
assert version != "";
{
  check = assert builtins.compareVersions version "3.0" >= 0; version;
  old = throw "old was removed, use message";
  inherit version;
  message = greet "nix";
}
