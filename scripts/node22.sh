# Puts Node 22 on PATH when the system's node is older: `source scripts/node22.sh`.
# Node 22 comes from the npm registry's node-linux-<arch> package (no other download), cached in
# ${XDG_CACHE_HOME:-$HOME/.cache}/message-trace-collector/node22. Used by .ci/run and by developers.
mtc_want=22
mtc_have=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$mtc_have" -lt "$mtc_want" ]; then
  case "$(uname -m)" in
    x86_64) mtc_arch=x64 ;;
    aarch64|arm64) mtc_arch=arm64 ;;
    *) echo "node22.sh: unsupported machine $(uname -m); install Node $mtc_want yourself" >&2; return 1 2>/dev/null || exit 1 ;;
  esac
  mtc_prefix="${XDG_CACHE_HOME:-$HOME/.cache}/message-trace-collector/node$mtc_want"
  if [ ! -x "$mtc_prefix/bin/node" ] || [ "$("$mtc_prefix/bin/node" -p 'process.versions.node.split(".")[0]')" != "$mtc_want" ]; then
    echo "node22.sh: system node is $(node -v 2>/dev/null || echo missing); installing node-linux-$mtc_arch@$mtc_want from the npm registry" >&2
    mtc_tmp=$(mktemp -d)
    npm install --no-save --no-package-lock --ignore-scripts --prefix "$mtc_tmp" "node-linux-$mtc_arch@$mtc_want" >/dev/null || { rm -rf "$mtc_tmp"; return 1 2>/dev/null || exit 1; }
    rm -rf "$mtc_prefix" && mkdir -p "$(dirname "$mtc_prefix")"
    mv "$mtc_tmp/node_modules/node-linux-$mtc_arch" "$mtc_prefix"
    rm -rf "$mtc_tmp"
  fi
  export PATH="$mtc_prefix/bin:$PATH"
fi
unset mtc_want mtc_have mtc_arch mtc_prefix mtc_tmp
