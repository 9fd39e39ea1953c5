#!/usr/bin/env bash
# Builds the project's collector from the rendered builder manifest into .cache/otelcol/ (git-ignored).
# Skipped when the binary was built from the same manifest and the same sources of the project's own
# components (the manifest's `path:` modules, e.g. collector/redactprocessor). Go's own module and
# build caches are left where Go keeps them, so a rebuild on the same machine takes seconds.
# Prints the binary's path; `--stamp` prints only the stamp the current sources give (tests compare it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin:$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
manifest=stack/otel-collector/manifest.yaml
out=.cache/otelcol
binary="$out/build/otelcol-observatory"
stamp="$out/manifest.sha256"

# The manifest, then every Go source, go.mod and go.sum of each local module, in a fixed order. The
# builder resolves `path:` from $out, where it runs.
current_stamp() {
  {
    sha256sum "$manifest"
    sed -n 's/^ *path: *//p' "$manifest" | while read -r rel; do
      src=$(realpath -m --relative-to=. "$out/$rel")
      find "$src" -type f \( -name '*.go' -o -name go.mod -o -name go.sum \) -print0 |
        LC_ALL=C sort -z | xargs -0 -r sha256sum
    done
  } | sha256sum | cut -d' ' -f1
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
command -v go >/dev/null || { echo "building the collector needs Go (https://go.dev/dl/)" >&2; exit 1; }
version=$(sed -n 's/^  version: *//p' "$manifest" | tr -d '"')
mkdir -p "$out/bin"
echo "building the collector v$version from $manifest (a first build takes a few minutes)" >&2
GOBIN="$PWD/$out/bin" go install "go.opentelemetry.io/collector/cmd/builder@v$version"
cp "$manifest" "$out/manifest.yaml"
# Strict versioning: a module that resolves to another release is an error, not a silent upgrade.
(cd "$out" && ./bin/builder --config=manifest.yaml --skip-strict-versioning=false >&2)
echo "$sum" > "$stamp"
echo "$binary"
