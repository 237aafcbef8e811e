#!/usr/bin/env bash
# Reproduces templates/static/vendor/: fetches the pinned packages from the
# npm registry with `npm pack` into a temporary directory and copies only
# the minified browser builds and their licence files. The files are
# embedded in the binary and served from /static — never from a CDN.
#
#   htmx.org  dist/htmx.min.js               partial page updates (inbox)
#   echarts   dist/echarts.common.min.js     bar and line charts (dashboard);
#             the "common" build (line, bar, pie, scatter, grid, tooltip,
#             legend, title, dataZoom) is a third smaller than the full one.
set -euo pipefail
cd "$(dirname "$0")/.."

HTMX_VERSION=2.0.11
ECHARTS_VERSION=6.1.0

dest=templates/static/vendor
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "htmx.org@$HTMX_VERSION" "echarts@$ECHARTS_VERSION" >/dev/null)
mkdir -p "$tmp/htmx" "$tmp/echarts" "$dest"
tar -xzf "$tmp/htmx.org-$HTMX_VERSION.tgz" -C "$tmp/htmx" --strip-components=1
tar -xzf "$tmp/echarts-$ECHARTS_VERSION.tgz" -C "$tmp/echarts" --strip-components=1

cp "$tmp/htmx/dist/htmx.min.js" "$dest/htmx.min.js"
cp "$tmp/htmx/LICENSE" "$dest/htmx.LICENSE"
cp "$tmp/echarts/dist/echarts.common.min.js" "$dest/echarts.min.js"
cp "$tmp/echarts/LICENSE" "$dest/echarts.LICENSE"
cp "$tmp/echarts/NOTICE" "$dest/echarts.NOTICE"
cat > "$dest/VERSIONS" <<VERSIONS
htmx.org $HTMX_VERSION (npm, dist/htmx.min.js)
echarts $ECHARTS_VERSION (npm, dist/echarts.common.min.js)
VERSIONS
ls -l "$dest"
