-- nixlens for Neovim: starts `nixlens serve` for Nix buffers.
--
-- `require("nixlens").setup(opts)` works from Neovim 0.7 on: it uses
-- `vim.lsp.start` where it exists (0.8+), else `vim.lsp.start_client` and
-- `vim.lsp.buf_attach_client`, with one client per root directory. On 0.11+
-- the `lsp/nixlens.lua` file also lets `vim.lsp.enable("nixlens")` do the same.

local M = {}

local uv = vim.uv or vim.loop

-- Every `nixlens.*` setting with its default (the server has the same ones).
M.default_settings = {
  server = { path = "nixlens", args = {} },
  eval = {
    enable = true,
    entry = "",
    budgetMs = 2000,
    maxSteps = 5000000,
    maxValues = 10000000,
    maxDepth = 2500000,
    maxMemoryMB = 2048,
  },
  hover = { budgetMs = 200, printDepth = 3, maxChars = 20000 },
  searchPath = {},
  diagnostics = { ignore = {}, debounceMs = 200, maxPerFile = 200 },
  inlayHints = { enable = false, maxLines = 5000 },
  formatting = { command = {} },
  sandbox = { enable = true, allowedPaths = {} },
  workers = 0,
}

M.defaults = {
  name = "nixlens",
  cmd = { "nixlens", "serve" },
  filetypes = { "nix" },
  root_markers = { "flake.nix", "default.nix", ".git" },
  settings = { nixlens = M.default_settings },
  autostart = true,
  -- false (or a function of the root returning false): static features only.
  trusted = true,
}

-- The options of the last setup() call.
M.options = nil

-- Root directory -> client id, for Neovim without vim.lsp.start.
local clients_by_root = {}

--- The directory holding this plugin (editors/nvim).
function M.plugin_dir()
  local source = debug.getinfo(1, "S").source:sub(2)
  return vim.fn.fnamemodify(source, ":p:h:h:h")
end

--- The directory with the tree-sitter queries for Nix (queries/nix).
function M.queries_dir()
  return M.plugin_dir() .. "/queries/nix"
end

--- The initializationOptions for a root: the `nixlens` settings section, plus
--- `trusted = false` when the `trusted` option (a boolean, or a function of
--- the root directory) says the user does not trust it; the server then runs
--- static features only (no evaluation, no formatter program).
function M.init_options(config, root)
  local options = vim.deepcopy((config.settings or {}).nixlens or {})
  local trusted = config.trusted
  if type(trusted) == "function" then
    trusted = trusted(root)
  end
  if trusted == false then
    options.trusted = false
  end
  return next(options) ~= nil and options or vim.empty_dict()
end

-- Sends the `nixlens` settings section as initializationOptions too, so the
-- server sees the same object both ways (it also asks workspace/configuration,
-- which Neovim answers from `settings`).
local function before_init(params, config)
  params.initializationOptions = M.init_options(config, config.root_dir)
end

--- The client config for vim.lsp.config / vim.lsp.start, merged with `opts`.
function M.lsp_config(opts)
  local config = vim.tbl_deep_extend("force", {}, M.defaults, opts or {})
  config.before_init = config.before_init or before_init
  return config
end

local function is_dir_with(dir, marker)
  return uv.fs_stat(dir .. "/" .. marker) ~= nil
end

--- The root directory of a file: the nearest ancestor holding the first marker
--- found (markers in priority order), else the file's own directory.
function M.find_root(path, markers)
  local start = vim.fn.fnamemodify(path, ":p:h")
  for _, marker in ipairs(markers) do
    local dir = start
    while dir and dir ~= "" do
      if is_dir_with(dir, marker) then
        return dir
      end
      local parent = vim.fn.fnamemodify(dir, ":h")
      if parent == dir then
        break
      end
      dir = parent
    end
  end
  return start
end

local function client_alive(id)
  local client = id and vim.lsp.get_client_by_id(id)
  return client ~= nil and not client.is_stopped()
end

--- Starts (or reuses) the client for a buffer and attaches it.
function M.start(bufnr, opts)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local config = M.lsp_config(opts or M.options)
  if vim.api.nvim_buf_get_option(bufnr, "buftype") ~= "" then
    return nil
  end
  local name = vim.api.nvim_buf_get_name(bufnr)
  local root = M.find_root(name ~= "" and name or uv.cwd() .. "/x", config.root_markers)
  config.root_dir = root
  config.workspace_folders = { { uri = vim.uri_from_fname(root), name = root } }
  config.init_options = M.init_options(config, root)
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  local id = clients_by_root[root]
  if not client_alive(id) then
    id = vim.lsp.start_client(config)
    clients_by_root[root] = id
  end
  if id then
    vim.lsp.buf_attach_client(bufnr, id)
  end
  return id
end

--- Stops every nixlens client and starts them again for open Nix buffers.
function M.restart()
  for _, client in pairs(vim.lsp.get_active_clients()) do
    if client.name == ((M.options or M.defaults).name or "nixlens") then
      client.stop()
    end
  end
  clients_by_root = {}
  vim.defer_fn(function()
    for _, buf in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(buf) and vim.api.nvim_buf_get_option(buf, "filetype") == "nix" then
        M.start(buf)
      end
    end
  end, 500)
end

--- Configures nixlens: filetype detection, the FileType autocommand that
--- starts the server, and the :NixlensRestart command.
function M.setup(opts)
  M.options = M.lsp_config(opts)
  local group = vim.api.nvim_create_augroup("nixlens", { clear = true })
  -- Works without `filetype on` too (e.g. `nvim -u NONE`).
  vim.api.nvim_create_autocmd({ "BufRead", "BufNewFile" }, {
    group = group,
    pattern = "*.nix",
    command = "setfiletype nix",
  })
  if M.options.autostart then
    vim.api.nvim_create_autocmd("FileType", {
      group = group,
      pattern = M.options.filetypes,
      callback = function(args)
        M.start(args.buf)
      end,
    })
  end
  vim.api.nvim_create_user_command("NixlensRestart", M.restart, { desc = "Restart the nixlens language server" })
  -- Buffers opened before setup().
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if M.options.autostart and vim.api.nvim_buf_is_loaded(buf)
      and vim.tbl_contains(M.options.filetypes, vim.api.nvim_buf_get_option(buf, "filetype")) then
      M.start(buf)
    end
  end
  return M.options
end

return M
