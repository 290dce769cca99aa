#!/usr/bin/env bash
# Fails when src/lib/api/schema.gen.ts no longer matches the panel API's OpenAPI
# document: regenerates it into a temporary file and compares.
#
#   web/scripts/check-api-drift.sh [openapi.json]
#
# Without an argument the document comes from $CARGO_TARGET_DIR/debug/switchyard-openapi
# (default ../target; cargo build -p panel-api --bin switchyard-openapi).
set -euo pipefail

web="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
committed="$web/src/lib/api/schema.gen.ts"
tmp="$(mktemp --suffix=.ts)"
trap 'rm -f "$tmp"' EXIT

cd "$web"
# An empty first argument tells gen-api.mjs to run the binary.
node scripts/gen-api.mjs "${1:-}" "$tmp"

if ! diff -u "$committed" "$tmp"; then
  echo >&2
  echo "check-api-drift: src/lib/api/schema.gen.ts differs from the API's OpenAPI document." >&2
  echo "check-api-drift: run npm run gen:api (in web/) and commit the result." >&2
  exit 1
fi
echo "check-api-drift: schema.gen.ts matches the OpenAPI document"
