#!/usr/bin/env bash
# The C-ABI pieces (docs/c-abi.md):
#  - native/libkvbox_connector.so, the drop-in C-ABI library (native/cabi), built
#    for the host triple given explicitly, as `napi build` does, so it reuses the
#    addon's compiled dependencies;
#  - from C sources, with the system's cc: the test connectors (a correct one and
#    a flawed one), the C harness, and the bench driver, into test/cabi/dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --target "$host" --manifest-path native/Cargo.toml -p kvbox-cabi
target_dir="${CARGO_TARGET_DIR:-native/target}"
cp "$target_dir/$host/release/libkvbox_connector.so" native/libkvbox_connector.so

out=test/cabi/dist
mkdir -p "$out"
cc="${CC:-cc}"
flags=(-O2 -g -Wall -Wextra -Werror)
"$cc" "${flags[@]}" -shared -fPIC -o "$out/libkvbox_test_fs.so" test/cabi/fs_connector.c
"$cc" "${flags[@]}" -shared -fPIC -o "$out/libkvbox_test_flawed.so" test/cabi/flawed_connector.c
"$cc" "${flags[@]}" -I native/cabi -o "$out/harness" test/cabi/harness.c -ldl -lpthread
"$cc" "${flags[@]}" -I native/cabi -o "$out/cabi_bench" bench/cabi_driver.c -ldl
echo "build-cabi: native/libkvbox_connector.so and $out/ ready"
