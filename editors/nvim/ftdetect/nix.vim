" nixlens: *.nix files are Nix.
autocmd BufRead,BufNewFile *.nix setfiletype nix
