let
  pkgs = { hello = { version = "2.12"; }; };
  greet = name: "hello, ${name}";
  unused = 1;
  version = builtins.trace "checking version" pkgs.hello.version;
  check = assert builtins.compareVersions version "3.0" >= 0; version;
in
{
  message = greet "nix";
  inherit version check;
}
