#!/usr/bin/env bash
# Debian packages the test suite needs beyond PyPI: headless Chromium and its driver (dashboard browser test),
# docker-compose (validates docker-compose.yml without an engine), promtool from `prometheus` (checks and
# unit-tests the alert rules of deploy/prometheus), a C compiler (the clock shim of the dated
# time-skipping tests), runuser (PostgreSQL runs unprivileged when we are root), CJK and emoji fonts
# (readable dashboard screenshots). Installs only what is missing; `make test` runs it first.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v runuser >/dev/null 2>&1 || need+=(util-linux)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
dpkg -s fonts-noto-color-emoji >/dev/null 2>&1 || need+=(fonts-noto-color-emoji)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]} (run as root: apt-get install -y ${need[*]})" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${need[@]}"
