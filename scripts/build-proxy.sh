#!/usr/bin/env bash
# Builds the proxy (proxy/, Go standard library only) into .cache/proxy/ (git-ignored). Skipped when
# the binary was built from the same sources; Go's build cache makes a rebuild take seconds.
# Prints the binary's path; `--stamp` prints only the stamp the current sources give (tests compare it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
out=.cache/proxy
binary="$out/observatory-proxy"
stamp="$out/sources.sha256"

current_stamp() {
  find proxy -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
    LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum | cut -d' ' -f1
}
sum=$(current_stamp)
if [ "${1:-}" = "--stamp" ]; then
  echo "$sum"
  exit 0
fi
if [ -x "$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
  echo "$binary"
  exit 0
fi
command -v go >/dev/null || { echo "building the proxy needs Go (https://go.dev/dl/)" >&2; exit 1; }
mkdir -p "$out"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -1)
# -trimpath: no build machine paths in the binary; CGO off: one static binary for any image.
(cd proxy && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" \
  -o "../$binary" .) >&2
echo "$sum" > "$stamp"
echo "$binary"
