#!/usr/bin/env bash
# A producer depends on okra-queue with default-features = false: check that it gets none of the
# binaries' dependencies. Run by `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
heavy='^(axum|clap|indicatif|comfy-table|metrics-exporter-prometheus|mimalloc|tracing-subscriber|anyhow|utoipa)$'
deps=$(cargo tree --locked --no-default-features -e normal --prefix none | sed 's/ v[0-9].*//' | sort -u)
found=$(echo "$deps" | grep -E "$heavy" || true)
if [ -n "$found" ]; then
  echo "the library without default features still pulls in: $(echo $found)" >&2
  exit 1
fi
echo "lean library: $(echo "$deps" | wc -l) packages without default features, none of the binaries' own"
cargo build --locked --quiet --no-default-features --lib --example producer --example worker
