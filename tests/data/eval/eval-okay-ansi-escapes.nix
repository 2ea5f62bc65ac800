# Output that is not a terminal gets no escape sequences (colours, hyperlinks);
# tabs become spaces to the next multiple of 8; carriage returns are dropped.
let e = builtins.fromJSON ''"\u001b"''; in
builtins.trace "tr\t${e}[1;31mred${e}[0m!" (builtins.warn "wa ${e}[35mmag${e}[0m\tb\r" (
  builtins.trace "${e}]8;;http://x${e}\\link${e}]8;;${e}\\ end\n\tnext line" 1))
