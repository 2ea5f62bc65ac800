# With abort-on-warn, builtins.warn prints its warning, then fails (not catchable).
builtins.seq (builtins.tryEval (builtins.warn "careful" 1)) 1
