#!/usr/bin/env bash
# Make sure the headless browser of the console tests is installed: Debian's chromium and a CJK
# font (fonts-wqy-microhei), so Chinese text renders in screenshots. Installs with apt-get as root
# if missing; never downloads a browser build of its own (no `playwright install`).
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
fc-list 2>/dev/null | grep -qiE 'wqy|noto.*cjk' || missing+=(fonts-wqy-microhei)
if ((${#missing[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "ensure-browser: ${missing[*]} missing; as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "ensure-browser: installing ${missing[*]} ..." >&2
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v chromium >/dev/null || { echo "ensure-browser: chromium did not install" >&2; exit 1; }
