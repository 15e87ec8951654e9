#!/usr/bin/env bash
# Rust unit tests. Built for the host triple given explicitly, as `napi build`
# does, and in the same target directory as the build (scripts/target-dir.mjs),
# so the tests reuse the addon's compiled dependencies (wasmtime takes minutes
# on 2 cores) instead of building them a second time.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO_TARGET_DIR=$(node scripts/target-dir.mjs)
export CARGO_TARGET_DIR
host=$(rustc -vV | sed -n 's/^host: //p')
cargo test --release --target "$host" --manifest-path native/Cargo.toml -p kvbox-core
cargo test --release --target "$host" --manifest-path native/Cargo.toml -p kvbox-cabi
cargo test --release --target "$host" --manifest-path native/Cargo.toml -p kvbox-node
cargo test --manifest-path crates/layout/Cargo.toml
# Lints: clippy with warnings as errors, where clippy is installed.
if cargo clippy --version >/dev/null 2>&1; then
  cargo clippy --release --target "$host" --manifest-path native/Cargo.toml --workspace -- -D warnings
  # The connector SDK, checked for the host (its code is target-independent; the guests build it for wasm).
  cargo clippy --release --target "$host" --manifest-path crates/connector-sdk/Cargo.toml -- -D warnings
else
  echo "test-rust: clippy not installed; lints not checked"
fi
# Formatting (native/rustfmt.toml), where rustfmt is installed.
if cargo fmt --version >/dev/null 2>&1; then
  cargo fmt --manifest-path native/Cargo.toml --all --check
  # The guests, the SDK and the layout crate (crates/rustfmt.toml, guests/rustfmt.toml).
  cargo fmt --manifest-path guests/Cargo.toml --all --check
else
  echo "test-rust: rustfmt not installed; formatting not checked"
fi
