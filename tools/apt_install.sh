#!/usr/bin/env bash
# Install Debian packages, refreshing the package lists once if the first try cannot find them.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq "$@" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq "$@" >/dev/null; }
