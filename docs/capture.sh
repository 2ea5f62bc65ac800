#!/usr/bin/env bash
# Re-create docs/neovim.svg: headless-terminal Neovim (in tmux) with the
# nixlens plugin from this tree, docs/demo.nix open, evaluation diagnostics
# inline and the hover of `message`.  Needs tmux, nvim and `nixlens` on PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'tmux kill-session -t nixlens-shot 2>/dev/null || true; rm -rf "$work"' EXIT
cp "$here/demo.nix" "$work/demo.nix"
cat > "$work/init.lua" <<'LUA'
vim.o.termguicolors = true
vim.o.number = true
vim.o.signcolumn = "yes"
vim.o.laststatus = 0
vim.cmd("highlight LineNr guibg=NONE guifg=#707070")
vim.cmd("highlight SignColumn guibg=NONE")
vim.cmd("highlight NormalFloat guibg=#303446 guifg=#e0e0e0")
require("nixlens").setup({})
LUA
tmux new-session -d -s nixlens-shot -x 140 -y 26 \
  "nvim -u '$work/init.lua' --cmd 'set rtp^=$here/../editors/nvim' -i NONE '$work/demo.nix'"
sleep 6                                   # server start, evaluation, diagnostics
tmux send-keys -t nixlens-shot '12G' '3|' # on `message`
sleep 0.5
tmux send-keys -t nixlens-shot ':lua vim.lsp.buf.hover()' Enter
sleep 3
tmux send-keys -t nixlens-shot ':' C-u     # clear the command line
sleep 0.3
tmux capture-pane -t nixlens-shot -p -e > "$work/capture.ansi"
cp "$work/capture.ansi" /tmp/last-capture.ansi 2>/dev/null || true
python3 "$here/ansi2svg.py" "$work/capture.ansi" "$here/neovim.svg"
echo "wrote $here/neovim.svg"
