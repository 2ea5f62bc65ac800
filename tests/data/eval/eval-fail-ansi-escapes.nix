# An error message's escapes are filtered too (tabs counted over the whole text).
let e = builtins.fromJSON ''"\u001b"''; in
throw "a\tb ${e}[1;31mred${e}[0m x\ry ab\tc ${e}]8;;http://x${e}\\link${e}]8;;${e}\\ end"
