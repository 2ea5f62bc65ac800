# Store paths made earlier in the evaluation are readable and importable
# (nixlens serves them from its virtual store and writes nothing).
let
  f = builtins.toFile "m.nix" "{ a = 1; }";
  d = "${./store-read-dir}";
  p = builtins.path { path = ./store-read-dir; name = "dd"; };
  fs = builtins.filterSource (path: type: baseNameOf path != "a.txt") ./store-read-dir;
  flat = builtins.path { path = ./store-read-dir/a.txt; recursive = false; };
in {
  imp = import f;
  impString = import "${builtins.toFile "m.nix" "{ }"}";
  read = builtins.readFile f;
  exists = builtins.pathExists f;
  notExists = builtins.pathExists "${f}x";
  dirRead = builtins.readDir d;
  dirFile = builtins.readFile "${d}/a.txt";
  dirImp = import "${d}/sub";
  pRead = builtins.readDir p;
  fsRead = builtins.readDir fs;
  fsA = builtins.pathExists "${fs}/a.txt";
  flatRead = builtins.readFile flat;
  ftype = builtins.readFileType f;
  ftype2 = builtins.readFileType "${d}/sub";
  link = builtins.readFile "${d}/link";
  hashF = builtins.hashFile "sha256" f;
  pathOfStore = builtins.readFile (builtins.path { path = f; name = "again"; });
}
