-- nixlens for Neovim 0.11+: `vim.lsp.enable("nixlens")` picks this up from
-- the runtime path; override with `vim.lsp.config("nixlens", { ... })`.
return {
  cmd = { "nixlens", "serve" },
  filetypes = { "nix" },
  root_markers = { "flake.nix", "default.nix", ".git" },
  settings = {
    nixlens = vim.deepcopy(require("nixlens").default_settings),
  },
  -- false (or a function of the root returning false): static features only.
  trusted = true,
  -- The same `nixlens` section also goes out as initializationOptions (with
  -- `trusted = false` for an untrusted root).
  before_init = function(params, config)
    params.initializationOptions = require("nixlens").init_options(config, config.root_dir)
  end,
}
