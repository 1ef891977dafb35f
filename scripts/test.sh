#!/usr/bin/env bash
# The test command (README): sets up what it needs on a fresh machine, then runs every check.
# Needs ../shared (the external suites) beside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."

shared=../shared/testdata
if [ ! -d "$shared/bpf_conformance" ]; then
    echo "error: $shared/bpf_conformance not found: clone the repository beside shared/" >&2
    exit 2
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "error: cargo not found (this project needs the Rust toolchain, 1.95)" >&2
    exit 2
fi
# Make sure the linters are there (rustup ships them as components).
if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
    rustup component add clippy rustfmt
fi
# The bare-metal kernel's target.
if ! rustup target list --installed | grep -qx x86_64-unknown-none; then
    rustup target add x86_64-unknown-none
fi

# The file-system tests build real images: e2fsprogs (mke2fs -d, debugfs, e2fsck), dosfstools
# (mkfs.fat) and mtools (mcopy). Install them from Debian's packages when missing.
need=()
for tool in mke2fs:e2fsprogs debugfs:e2fsprogs e2fsck:e2fsprogs mkfs.fat:dosfstools mcopy:mtools; do
    command -v "${tool%%:*}" >/dev/null 2>&1 || PATH="$PATH:/sbin:/usr/sbin" command -v "${tool%%:*}" >/dev/null 2>&1 \
        || need+=("${tool#*:}")
done
# The libpcap oracle (tools/pcap_oracle.c, the reference for the pcap-filter and classic-BPF
# tests and the filter benchmark): a C compiler and libpcap's headers.
if ! command -v cc >/dev/null 2>&1; then
    need+=(gcc libc6-dev libpcap-dev)
elif ! printf '#include <pcap/pcap.h>\n' | cc -E -x c - >/dev/null 2>&1; then
    need+=(libpcap-dev)
fi
# tcpdump: `udf filter -w` is compared with `tcpdump -r IN -w OUT EXPR` (cli/tests/filter_write.rs).
command -v tcpdump >/dev/null 2>&1 || PATH="$PATH:/sbin:/usr/sbin" command -v tcpdump >/dev/null 2>&1 \
    || need+=(tcpdump)
# C programs (ELF objects from `clang -target bpf`; cli/tests/elf.rs, compiler/tests/elf.rs,
# corpus/tests/c_programs.rs, whose oracle is the same C built by gcc above): clang 19 and its
# LLVM tools.
if [ -n "${UDF_CLANG:-}" ]; then
    command -v "$UDF_CLANG" >/dev/null 2>&1 || { echo "error: UDF_CLANG=$UDF_CLANG not found" >&2; exit 2; }
elif ! command -v clang-19 >/dev/null 2>&1; then
    need+=(clang-19 llvm-19)
fi
# qemu: the bare-metal kernel (kernel/) boots under qemu-system-x86_64 (TCG) in
# cli/tests/kernel_boot.rs.
command -v qemu-system-x86_64 >/dev/null 2>&1 || need+=(qemu-system-x86)
if [ ${#need[@]} -gt 0 ]; then
    echo "== installing ${need[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $(printf '%s\n' "${need[@]}" | sort -u) >/dev/null
fi
export PATH="$PATH:/sbin:/usr/sbin"
# The C program tests compile with it; under CI they fail when it is missing.
export UDF_CLANG="${UDF_CLANG:-clang-19}"

export CARGO_TERM_COLOR=never

echo "== the libpcap oracle (tools/pcap_oracle.c)"
mkdir -p target
cc -O2 -Wall -Wextra -o target/pcap_oracle tools/pcap_oracle.c -lpcap
# The tests that compare with libpcap find it here; under CI they fail when it is missing.
export UDF_PCAP_ORACLE="$PWD/target/pcap_oracle"

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== no_std crates build without std"
cargo build -q -p udf-bytecode
cargo build -q -p udf-verifier
cargo build -q -p udf-runtime --no-default-features
cargo build -q -p udf-kernel-glue

echo "== the bare-metal kernel (kernel/: its own workspace, built for x86_64-unknown-none)"
# Its own format, lints and build (its .cargo/config.toml sets the target and its flags, which
# a RUSTFLAGS from the environment would replace). cli/tests/kernel_boot.rs boots the image.
kernel_target="${CARGO_TARGET_DIR:-$PWD/target}/kernel-image"
(
    cd kernel
    cargo fmt -- --check
    env -u RUSTFLAGS cargo clippy -q --release --target-dir "$kernel_target" -- -D warnings
    env -u RUSTFLAGS cargo build -q --release --target-dir "$kernel_target"
)
export UDF_KERNEL_IMAGE="$kernel_target/x86_64-unknown-none/release/udf-kernel"

echo "== dependency invariants (ARCHITECTURE.md)"
deps() { cargo tree -q -e normal -p "$@" --prefix none | awk '{print $1}' | sort -u | grep -v "^$1\$" || true; }
[ -z "$(deps udf-bytecode)" ] || { echo "udf-bytecode must depend on nothing: $(deps udf-bytecode)" >&2; exit 1; }
[ "$(deps udf-verifier)" = "udf-bytecode" ] || { echo "udf-verifier may depend on udf-bytecode only: $(deps udf-verifier)" >&2; exit 1; }
# The runtime's core: the bytecode, the verifier, and the HMAC crates (it maps native code only
# from package bytes it authenticated itself, with the one implementation of the tag).
direct() { cargo tree -q -e normal --depth 1 -p "$@" --prefix none | awk '{print $1}' | sort -u | grep -v "^$1\$" || true; }
[ "$(direct udf-runtime --no-default-features | tr '\n' ' ')" = "hmac sha2 udf-bytecode udf-verifier " ] || { echo "udf-runtime's core may depend on udf-bytecode, udf-verifier, hmac and sha2 only: $(direct udf-runtime --no-default-features)" >&2; exit 1; }
# With std, executable memory adds memmap2 and nothing else.
[ "$(direct udf-runtime | tr '\n' ' ')" = "hmac memmap2 sha2 udf-bytecode udf-verifier " ] || { echo "udf-runtime (std) may add memmap2 only: $(direct udf-runtime)" >&2; exit 1; }
# kernel-glue maps no code itself.
if grep -rn unsafe kernel-glue/src | grep -v 'forbid(unsafe_code)'; then echo "kernel-glue must hold no unsafe" >&2; exit 1; fi
# The JIT builds on the verifier's facts and the runtime's native contract; nothing below it
# knows about it.
for c in udf-bytecode udf-verifier udf-runtime; do
    if deps "$c" | grep -q -e '^udf-jit$' -e '^cranelift'; then echo "$c must not depend on the JIT" >&2; exit 1; fi
done
# The kernel-facing crates never compile source: only the command line, the corpus tests and
# the benchmarks know the compiler.
for c in udf-bytecode udf-verifier udf-runtime udf-jit udf-kernel-glue; do
    if deps "$c" | grep -q -e '^udf-compiler$' -e '^udf-pcap$' -e '^lalrpop' -e '^logos'; then echo "$c must not depend on the compiler" >&2; exit 1; fi
done
if deps udf-kernel-glue --features jit | grep -q -e '^udf-compiler$' -e '^udf-pcap$' -e '^lalrpop' -e '^logos'; then
    echo "udf-kernel-glue (jit) must not depend on the compiler" >&2; exit 1
fi
# The kernel's core: the bytecode, the verifier, the runtime's core and the HMAC crates.
if deps udf-kernel-glue | grep -q -e '^udf-jit$' -e '^cranelift' -e '^memmap2$'; then
    echo "udf-kernel-glue without features must not depend on the JIT or executable memory" >&2; exit 1
fi
# The planted-bug switch is for tests only: the command line never builds with it.
if cargo tree -q -e features,normal -p udf-cli | grep -q fault-injection; then
    echo "udf-cli must not enable udf-verifier/fault-injection" >&2; exit 1
fi
# The fuzzing oracles are for the fuzz targets and the tests: nothing that ships builds them.
for args in "-p udf-cli" "-p udf-kernel-glue" "-p udf-kernel-glue --features jit"; do
    for c in udf-bytecode udf-runtime udf-jit udf-kernel-glue udf-compiler; do
        if cargo tree -q -e features,normal -i "$c" $args 2>/dev/null | grep -q 'feature "fuzzing"'; then
            echo "$args must not enable $c/fuzzing" >&2; exit 1
        fi
    done
done
# The program generators (udf_bytecode::{generate, shapes, rng}) are not in what a kernel links:
# udf-bytecode's `fuzzing` feature is off in kernel-glue's build, and kernel-glue compiles
# without it (with and without the JIT).
for args in "" "--features jit"; do
    if cargo tree -q -e features,normal -i udf-bytecode -p udf-kernel-glue $args | grep -q 'udf-bytecode feature "fuzzing"'; then
        echo "udf-kernel-glue $args must not build the generators (udf-bytecode/fuzzing)" >&2; exit 1
    fi
    cargo check -q -p udf-kernel-glue $args
done

echo "== unit, property and suite tests"
# (cli/tests/demux.rs among them: `udf demux` per packet and `--count` against libpcap's
# per-filter counts, through $UDF_PCAP_ORACLE; cli/tests/kernel_boot.rs boots $UDF_KERNEL_IMAGE
# under qemu, TCG, a fraction of a second per boot.)
cargo test -q --workspace

echo "== the checking mode over generated programs, in release (UDF_CHECK_PROGRAMS per type)"
UDF_CHECK_PROGRAMS=5000 cargo test -q --release -p udf-runtime --test checking -- --nocapture 2>&1 \
    | grep -E "accepted|caught|test result"

echo "== the JIT against the interpreter over generated programs, in release (UDF_JIT_PROGRAMS per property)"
UDF_JIT_PROGRAMS=3000 cargo test -q --release -p udf-jit --test differential -- --nocapture 2>&1 \
    | grep -E "accepted|checked:|test result"

echo "== benchmarks build and smoke-run (figures: BENCHMARKS.md)"
cargo run -q --release -p udf-bench --features rbpf -- interp --quick
cargo run -q --release -p udf-bench --features rbpf -- jit --quick
cargo run -q --release -p udf-bench -- verify --quick
cargo run -q --release -p udf-bench -- compile --quick
cargo run -q --release -p udf-bench -- corpus --quick
cargo run -q --release -p udf-bench -- xn --quick
cargo run -q --release -p udf-bench -- filter --quick
cargo run -q --release -p udf-bench -- demux --quick

echo "== the fuzz targets build (their own workspace; the oracles ran above under cargo test)"
cargo check -q --manifest-path fuzz/Cargo.toml --bins

echo "== the bpf_conformance suite through the udf command"
cargo build -q --release -p udf-cli
udf=target/release/udf
neg=$("$udf" test --expect-failure "$shared/bpf_conformance/negative" | tail -n 1)
echo "negative (each must be flagged): $neg"
case "$neg" in *" passed, 0 failed, 0 skipped") ;; *) echo "negative cases not all flagged" >&2; exit 1 ;; esac
"$udf" test "$shared/bpf_conformance/tests" --engine interp
# On the JIT (and on the checking interpreter, trusted and hardened native code): under
# `cargo test` above, filetests/tests/every_engine.rs, which judges every case as
# `udf test --engine jit` does and pins the counts per engine.

echo "== the corpus's own test files (every engine: filetests/tests/every_engine.rs)"
"$udf" test corpus --engine interp

echo "== PREVAIL's verifier suite (every disagreement is examined in filetests/tests/prevail_suite.rs)"
"$udf" test "$shared/prevail/test-data" | tail -n 1 || true
