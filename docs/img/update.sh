#!/usr/bin/env bash
# docs/img/update.sh — refreshes the web panel's screenshots in docs/web.md from the browser
# tests' artifacts (run `npm run test:e2e` in web/ first). Each picture is the screenshot a
# story took of that page; pngquant (Debian package `pngquant`), when present, shrinks it.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
artifacts=${SWITCHYARD_E2E_ARTIFACTS:-$SWITCHYARD_ROOT/web/e2e/artifacts}
out=$SWITCHYARD_ROOT/docs/img

# docs/img name → story/<screenshot name> (the NN- number in front may change).
pictures=(
	"web-login.png admin-zone-live/admin-login"
	"web-overview.png admin-zone-live/admin-overview-with-zone"
	"web-domains.png admin-zone-live/admin-domains"
	"web-zone-diff.png admin-zone-live/admin-zone-diff"
	"web-zone-live.png admin-zone-live/admin-zone-live"
	"web-zones.png admin-zone-live/admin-zones"
	"web-api-key-once.png api-keys/admin-key-shown-once"
	"web-import-bad-row.png bulk-import/admin-bad-row"
	"web-degraded.png postgres-outage/admin-zones-from-redis"
	"web-dark.png dark-mode/admin-zones-dark"
	"web-zone-rollback.png zone-history/admin-zone-rollback-diff"
	"web-history.png zone-history/admin-history"
)
for entry in "${pictures[@]}"; do
	read -r name source <<<"$entry"
	story=${source%%/*} shot=${source#*/}
	# shellcheck disable=SC2206 # the glob is meant
	found=("$artifacts/$story/"[0-9][0-9]-"$shot".png)
	[[ -f ${found[0]} ]] || {
		warn "no screenshot $story/NN-$shot.png (did that story pass?); keeping docs/img/$name"
		continue
	}
	if command -v pngquant >/dev/null; then
		pngquant --force --quality=60-85 --speed 1 --strip -o "$out/$name" -- "${found[0]}"
	else
		cp -- "${found[0]}" "$out/$name"
	fi
	say "docs/img/$name ← $(shown "${found[0]}") ($(du -k "$out/$name" | cut -f1) KiB)"
done
