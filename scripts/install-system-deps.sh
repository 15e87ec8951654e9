#!/usr/bin/env bash
# Installs the system packages kvbox's build needs on Debian/Ubuntu.
#
# The native addon needs Rust (rustup stable >= 1.95) and Node >= 20.11, which
# this script does not install. The WebAssembly guests need either rustup's
# wasm32-wasip2 target (then nothing here is needed) or, where rustup cannot
# download targets, Debian's rustc-web toolchain with the standard library
# sources, lld-19 and wasi-libc (see scripts/build-guests.mjs).
set -euo pipefail

# e2fsprogs: mkfs.ext4, for the full-disk test's loop-mounted image.
# redis-tools, redis-server: redis-cli / redis-benchmark as real clients of `kvbox serve` in its tests,
# and redis-server as the bench's yardstick (started by the bench on its own loopback port, memory only).
pkgs=(e2fsprogs redis-tools redis-server)
if rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
  echo "install-system-deps: rustup has wasm32-wasip2; no guest toolchain packages needed"
else
  pkgs+=(rustc-web cargo-web rust-web-src lld-19 wasi-libc)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-deps: all present (${pkgs[*]})"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
echo "install-system-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
