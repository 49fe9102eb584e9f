" Drive Vim 9 + ALE (Debian's vim-ale) against the incls server; write what it saw as JSON.
" Run: vim -N -u NONE -i NONE -es -c 'source ale_drive.vim'   (config: $INCLS_LIVE_CONFIG)
" ALE sends the whole text on each lint; leaving insert mode triggers one, script edits do not.
let s:conf = json_decode(join(readfile($INCLS_LIVE_CONFIG), "\n"))
let s:result = {'version': printf('%d.%d.%d', v:version / 100, v:version % 100, v:versionlong % 10000), 'status': []}

function! s:Finish(...) abort
  if a:0 | let s:result.error = a:1 | endif
  call writefile([json_encode(s:result)], s:conf.out)
  qall!
endfunction

function! s:Ms(since) abort
  return reltimefloat(reltime(a:since)) * 1000.0
endfunction

try
  set nocompatible
  let &runtimepath = '/usr/share/vim-ale,' . &runtimepath . ',/usr/share/vim-ale/after'
  filetype plugin on
  let g:ale_linters = {'text': ['incls']}
  let g:ale_lint_delay = 0
  let g:ale_lint_on_text_changed = 'always'
  let g:ale_lint_on_insert_leave = 1
  let g:ale_lint_on_enter = 1
  let g:ale_echo_cursor = 0
  let g:ale_set_signs = 0
  let g:ale_set_highlights = 0
  runtime plugin/ale.vim
  call ale#linter#Define('text', {
  \   'name': 'incls',
  \   'lsp': 'stdio',
  \   'executable': s:conf.cmd[0],
  \   'command': join(map(copy(s:conf.cmd), 'ale#Escape(v:val)')),
  \   'project_root': s:conf.root,
  \   'language': 'plaintext',
  \   'initialization_options': get(s:conf, 'init_options', {}),
  \})

  let s:t_open = reltime()
  execute 'edit ' . fnameescape(s:conf.file)
  setlocal filetype=text
  let s:buf = bufnr('%')
  ALELint

  " The document-level diagnostic: line 1, "Reads <label> (<p>)".
  function! s:DocDiag() abort
    for l:item in ale#engine#GetLoclist(s:buf)
      if l:item.lnum == 1 && l:item.text =~# '^Reads \S\+ ([0-9.]\+)$'
        return {'message': l:item.text, 'code': get(l:item, 'code', v:null)}
      endif
    endfor
    return {}
  endfunction
  function! s:Label(d) abort
    return matchstr(get(a:d, 'message', ''), '^Reads \zs\S\+')
  endfunction
  " Wait until Pred(diag) holds; returns the diagnostic with ms since `since`, or {}.
  function! s:Wait(Pred, since, ...) abort
    let l:deadline = a:0 ? a:1 : s:conf.timeout_ms
    let l:start = reltime()
    while s:Ms(l:start) < l:deadline
      let l:d = s:DocDiag()
      if !empty(l:d) && a:Pred(l:d)
        let l:d.ms = s:Ms(a:since)
        return l:d
      endif
      sleep 2m
    endwhile
    return {}
  endfunction

  let s:first = s:Wait({d -> 1}, s:t_open)
  if empty(s:first)
    call s:Finish('no incls diagnostic within ' . s:conf.timeout_ms . ' ms of opening')
  endif
  let s:result.first = s:first

  " mode "hints": every diagnostic of the first reading as ALE lists it (0-based; ALE 3.3 shows
  " hints and information as warnings, 'W'), no edits.
  if get(s:conf, 'mode', '') is# 'hints'
    let s:result.diagnostics = map(copy(ale#engine#GetLoclist(s:buf)), {_, d -> {
    \   'line': d.lnum - 1, 'character': d.col - 1, 'end_line': get(d, 'end_lnum', d.lnum) - 1,
    \   'end_character': get(d, 'end_col', v:null), 'type': d.type, 'message': d.text}})
    call s:Finish()
  endif

  " Listen to the server's incls/status notifications on ALE's connection.
  function! s:OnMessage(conn_id, message) abort
    if get(a:message, 'method', '') is# 'incls/status'
      call add(s:result.status, a:message.params)
    endif
  endfunction
  function! s:OnReady(linter, details) abort
    call ale#lsp#RegisterCallback(a:details.connection_id, function('s:OnMessage'))
  endfunction
  let s:linter = filter(copy(ale#linter#GetAll(['text'])), {_, v -> v.name is# 'incls'})[0]
  call ale#lsp_linter#StartLSP(s:buf, s:linter, function('s:OnReady'))

  " Type the sentence at the end of the last non-empty line and leave insert mode.
  let s:last = prevnonblank(line('$'))
  let s:before = getline(s:last)
  call cursor(s:last, 1)
  call feedkeys('A' . s:conf.append . "\<Esc>", 'xt')
  let s:t_edit = reltime()
  let s:update = s:Wait({d -> d.message isnot# s:first.message}, s:t_edit)
  if empty(s:update)
    call s:Finish('no new incls diagnostic after typing (leaving insert mode)')
  endif
  let s:result.update = s:update
  let s:flipped = s:Wait({d -> s:Label(d) isnot# s:Label(s:first)}, s:t_edit, s:conf.flip_timeout_ms)
  if empty(s:flipped)
    let s:result.update.last = get(s:DocDiag(), 'message', v:null)
  else
    let s:result.flipped = s:flipped
    " One-change round trips: cut the sentence, paste it back (script edits: lint by hand).
    let s:typed = getline(s:last)
    let s:t_cut = reltime()
    call setline(s:last, s:before)
    ALELint
    let s:result.cut = s:Wait({d -> s:Label(d) is# s:Label(s:first)}, s:t_cut)
    let s:t_paste = reltime()
    call setline(s:last, s:typed)
    ALELint
    let s:result.paste = s:Wait({d -> s:Label(d) is# s:Label(s:flipped)}, s:t_paste)
  endif

  " Hover over the first line, as a request on ALE's connection.
  let s:hover = v:null
  function! s:OnHover(response) abort
    let s:hover = get(a:response, 'result', {})
  endfunction
  call ale#lsp_linter#SendRequest(s:buf, 'incls', [0, 'textDocument/hover', {
  \   'textDocument': {'uri': ale#path#ToFileURI(s:conf.file)},
  \   'position': {'line': 0, 'character': 1},
  \}], function('s:OnHover'))
  let s:start = reltime()
  while s:hover is v:null && s:Ms(s:start) < 10000
    sleep 5m
  endwhile
  if type(s:hover) == v:t_dict
    let s:contents = get(s:hover, 'contents', '')
    if type(s:contents) == v:t_string
      let s:result.hover = s:contents
    elseif type(s:contents) == v:t_dict
      let s:result.hover = get(s:contents, 'value', '')
    elseif type(s:contents) == v:t_list
      let s:result.hover = join(map(copy(s:contents), {_, c -> type(c) == v:t_string ? c : get(c, 'value', '')}), "\n")
    endif
  endif
  call s:Finish()
catch
  call s:Finish('vim error: ' . v:exception . ' at ' . v:throwpoint)
endtry
