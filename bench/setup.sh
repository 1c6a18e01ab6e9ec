#!/usr/bin/env bash
# Installs what the benchmarks measure against that NuGet does not bring: Debian's mimalloc
# (libmimalloc2.0, the shared library the benchmark project calls through P/Invoke).
set -euo pipefail
if ! ldconfig -p | grep -q 'libmimalloc\.so\.2'; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libmimalloc2.0
fi
echo "mimalloc: $(ldconfig -p | grep -o '/[^ ]*libmimalloc\.so\.2$' | head -1)"
