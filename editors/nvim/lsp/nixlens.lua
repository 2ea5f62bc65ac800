-- nixlens for Neovim 0.11+: `vim.lsp.enable("nixlens")` picks this up from
-- the runtime path; override with `vim.lsp.config("nixlens", { ... })`.
return {
  cmd = { "nixlens", "serve" },
  filetypes = { "nix" },
  root_markers = { "flake.nix", "default.nix", ".git" },
  settings = {
    nixlens = vim.deepcopy(require("nixlens").default_settings),
  },
  -- The same `nixlens` section also goes out as initializationOptions.
  before_init = function(params, config)
    params.initializationOptions = (config.settings or {}).nixlens or vim.empty_dict()
  end,
}
