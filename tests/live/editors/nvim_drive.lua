-- Drive Neovim (0.7 and 0.11) headless against the incls server; write what it saw as JSON.
-- Run: nvim --headless -u NONE -i NONE -n -c 'luafile nvim_drive.lua'   (config: $INCLS_LIVE_CONFIG)
local conf = vim.fn.json_decode(table.concat(vim.fn.readfile(os.getenv("INCLS_LIVE_CONFIG")), "\n"))
local result = { status = {}, version = tostring(vim.version().major) .. "." .. tostring(vim.version().minor) .. "." .. tostring(vim.version().patch) }
local uv = vim.loop

local function ms_since(t) return (uv.hrtime() - t) / 1e6 end

local function finish()
  local ok, encoded = pcall(vim.fn.json_encode, result)
  if not ok then encoded = vim.fn.json_encode({ error = "could not encode the result: " .. tostring(encoded) }) end
  vim.fn.writefile({ encoded }, conf.out)
  vim.cmd("qall!")
end

local function fail(msg)
  result.error = msg
  finish()
end

local ok, err = pcall(function()
  vim.cmd("edit " .. vim.fn.fnameescape(conf.file))
  local buf = vim.api.nvim_get_current_buf()
  local t_open = uv.hrtime()
  local client_id = vim.lsp.start_client({
    name = "incls",
    cmd = conf.cmd,
    root_dir = conf.root,
    init_options = conf.init_options,
    flags = { debounce_text_changes = 0 },
    handlers = {
      ["incls/status"] = function(_, params) table.insert(result.status, params) end,
    },
    on_exit = function(code, signal) result.server_exit = { code = code, signal = signal } end,
  })
  if not client_id then return fail("vim.lsp.start_client returned nil") end
  vim.lsp.buf_attach_client(buf, client_id)

  -- The document-level diagnostic: on the first line, "Reads <label> (<p>)", most severe first.
  local function doc_diag()
    local best
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.lnum == 0 and type(d.message) == "string" and d.message:match("^Reads ") then
        if not best or (d.severity or 9) < (best.severity or 9) then best = d end
      end
    end
    if not best then return nil end
    local code = best.code
    if code == nil and best.user_data and best.user_data.lsp then code = best.user_data.lsp.code end
    return { message = best.message, code = code }
  end
  local function label_of(msg) return msg and msg:match("^Reads (%S+)") end

  local timeout = conf.timeout_ms
  -- conf.mode == "empty": wait for the server's status of the document ("empty"), then record
  -- what diagnostics the editor holds (none, for no tone).
  if conf.mode == "empty" then
    local state
    vim.wait(timeout, function()
      for _, s in ipairs(result.status) do if s.state == "empty" then state = s.state end end
      return state ~= nil or result.server_exit ~= nil
    end, 10)
    result.state = state
    result.diagnostics = {}
    for _, d in ipairs(vim.diagnostic.get(buf)) do table.insert(result.diagnostics, { message = d.message }) end
    vim.lsp.stop_client(client_id)
    vim.wait(2000, function() return result.server_exit ~= nil end, 20)
    return finish()
  end
  local first
  vim.wait(timeout, function()
    first = doc_diag()
    return first ~= nil or result.server_exit ~= nil
  end, 10)
  if not first then
    if result.server_exit then return fail("the server exited (code " .. tostring(result.server_exit.code) .. ") before any diagnostic") end
    return fail("no incls diagnostic within " .. timeout .. " ms of opening")
  end
  first.ms = ms_since(t_open)
  result.first = first

  -- conf.mode == "hints": every diagnostic of the first reading, as the editor holds it; no edits.
  if conf.mode == "hints" then
    result.diagnostics = {}
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      table.insert(result.diagnostics, {
        line = d.lnum, character = d.col, end_line = d.end_lnum, end_character = d.end_col,
        severity = d.severity, message = d.message, source = d.source,
      })
    end
    vim.lsp.stop_client(client_id)
    vim.wait(2000, function() return result.server_exit ~= nil end, 20)
    return finish()
  end

  -- Type the sentence at the end of the last non-empty line, in insert mode.
  local last = vim.api.nvim_buf_line_count(buf)
  while last > 1 and vim.api.nvim_buf_get_lines(buf, last - 1, last, false)[1] == "" do last = last - 1 end
  local before = vim.api.nvim_buf_get_lines(buf, last - 1, last, false)[1]
  vim.api.nvim_win_set_cursor(0, { last, 0 })
  vim.cmd("normal! A" .. conf.append)
  local t_edit = uv.hrtime()

  -- Wait until the diagnostic shows `pred` (a predicate on the label); returns it or nil.
  local function wait_for(pred, since, limit)
    local found, latest
    vim.wait(limit or timeout, function()
      latest = doc_diag()
      if latest and pred(latest) then found = latest end
      return found ~= nil or result.server_exit ~= nil
    end, 2)
    if found then found.ms = ms_since(since) end
    return found, latest
  end

  local update = wait_for(function(d) return d.message ~= first.message end, t_edit)
  if not update then return fail("no new incls diagnostic within " .. timeout .. " ms of typing") end
  result.update = update
  local flipped, latest = wait_for(function(d) return label_of(d.message) ~= label_of(first.message) end, t_edit,
    conf.flip_timeout_ms)
  if not flipped then
    result.update.last = latest and latest.message
  else
    result.flipped = flipped
    -- One-change round trips: cut the typed sentence (back to the first label), paste it again.
    local row = last - 1
    local line = vim.api.nvim_buf_get_lines(buf, row, row + 1, false)[1]
    local t_cut = uv.hrtime()
    vim.api.nvim_buf_set_text(buf, row, #before, row, #line, { "" })
    result.cut = wait_for(function(d) return label_of(d.message) == label_of(first.message) end, t_cut)
    local t_paste = uv.hrtime()
    vim.api.nvim_buf_set_text(buf, row, #before, row, #before, { line:sub(#before + 1) })
    result.paste = wait_for(function(d) return label_of(d.message) == label_of(flipped.message) end, t_paste)
  end

  -- Hover over the first line.
  local params = { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = 0, character = 1 } }
  local responses = vim.lsp.buf_request_sync(buf, "textDocument/hover", params, 10000) or {}
  for _, resp in pairs(responses) do
    local c = resp.result and resp.result.contents
    if type(c) == "string" then result.hover = c
    elseif type(c) == "table" and c.value then result.hover = c.value
    elseif type(c) == "table" then
      local parts = {}
      for _, part in ipairs(c) do table.insert(parts, type(part) == "string" and part or part.value) end
      result.hover = table.concat(parts, "\n")
    end
  end
  vim.lsp.stop_client(client_id)
  vim.wait(2000, function() return result.server_exit ~= nil end, 20)
  finish()
end)
if not ok then fail("lua error: " .. tostring(err)) end
