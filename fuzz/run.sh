#!/usr/bin/env bash
# Bounded fuzzing of polyboot-core's parsers: fuzz/run.sh SECONDS [TARGET...]
#
# Installs cargo-fuzz if missing, writes the seed corpora (fuzz/corpus/<target>/, built by
# fuzz/seedgen from polyboot's own writers), builds every target, then runs each for
# SECONDS. Prints each target's libFuzzer "#N DONE" line and ends with
# "fuzz: N passed, M failed"; exits non-zero if any target crashed (panic, failed
# assertion, timeout, out of memory) or did not build. A crash leaves its input in
# fuzz/artifacts/<target>/; its hex and the panic message are printed here.
#
# Toolchain: cargo-fuzz passes nightly-only flags (-Z...). No nightly is needed: the stable
# compiler accepts them with RUSTC_BOOTSTRAP=1, which this script sets for the fuzz build
# only. FUZZ_RUSTC=/path/to/rustc picks another compiler (e.g. Debian's /usr/bin/rustc).
#
# Sanitizer: none by default. polyboot-core is #![forbid(unsafe_code)], so AddressSanitizer
# finds nothing safe Rust doesn't already check, and it makes the exFAT targets about 15x
# slower (every input allocates a 1 MiB volume). FUZZ_SANITIZER=address turns it on.
# Debug assertions and overflow checks are on either way (cargo-fuzz's default), so an
# arithmetic overflow is a crash, as it would be in a debug build.
#
# FUZZ_TIMEOUT: seconds one input may take before it counts as a hang (default 30).
# Targets run one after another, one process each (the machines have 2 cores).
#
# Dictionaries: fuzz/dict/<target>.dict, when it exists, is passed with -dict=.
# Options: fuzz/fuzz_targets/<target>.options, when it exists, holds more libFuzzer flags, one
# per line (blank lines and lines starting with # ignored), e.g. the target's -max_len.
#
# Works from any directory. On a fresh machine it needs rustup's stable toolchain (cargo on
# PATH or in ~/.cargo/bin) and a C++ compiler (libfuzzer-sys builds libFuzzer); the first
# run installs cargo-fuzz (about 1 minute on 2 busy cores), builds the seed generator
# (about 10 s) and the targets (a few minutes). Every step's failure ends the script
# with a non-zero status.
set -uo pipefail

if [[ $# -lt 1 || ! "$1" =~ ^[0-9]+$ || "$1" -eq 0 ]]; then
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
fi
seconds=$1
shift

fuzz_dir=$(CDPATH='' cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P) || exit 2
repo=$(dirname -- "$fuzz_dir")
cd -- "$repo" || exit 2
total_start=$SECONDS

# cargo from rustup when this shell's PATH does not have it (fresh CI shells).
if ! command -v cargo >/dev/null 2>&1 && [[ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "fuzz: cargo not found (install Rust with rustup)" >&2
    exit 1
fi
# libfuzzer-sys compiles libFuzzer (C++) in its build script.
if [[ -z "${CXX:-}" ]] && ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1 \
    && ! command -v clang++ >/dev/null 2>&1; then
    echo "fuzz: no C++ compiler (c++, g++ or clang++; or set CXX): libfuzzer-sys needs one" >&2
    exit 1
fi

export CARGO_TARGET_DIR="$fuzz_dir/target"
sanitizer=${FUZZ_SANITIZER:-none}
timeout=${FUZZ_TIMEOUT:-30}
log_dir="$CARGO_TARGET_DIR/fuzz-logs"
if ! mkdir -p "$log_dir"; then
    echo "fuzz: cannot create $log_dir" >&2
    exit 1
fi

# 1. cargo-fuzz.
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz (cargo install cargo-fuzz --locked)"
    start=$SECONDS
    if ! cargo install cargo-fuzz --locked; then
        echo "fuzz: cargo install cargo-fuzz failed" >&2
        exit 1
    fi
    echo "fuzz: cargo-fuzz installed in $((SECONDS - start)) s"
fi
echo "fuzz: $(cargo fuzz --version)"

# 2. Seeds. Plain stable build, no fuzzing flags.
start=$SECONDS
if ! cargo run --quiet --manifest-path "$fuzz_dir/Cargo.toml" -p polyboot-fuzz-seedgen -- "$fuzz_dir/corpus"; then
    echo "fuzz: generating the seed corpora failed" >&2
    exit 1
fi
echo "fuzz: seeds built and written in $((SECONDS - start)) s"

# 3. Build every target before running any, so a build error is not mistaken for a crash.
export RUSTC_BOOTSTRAP=1
if [[ -n "${FUZZ_RUSTC:-}" ]]; then
    export RUSTC="$FUZZ_RUSTC"
fi
echo "fuzz: compiler: $(${RUSTC:-rustc} --version), sanitizer: $sanitizer"
if ! all_targets=$(cargo fuzz list); then
    echo "fuzz: cargo fuzz list failed" >&2
    exit 1
fi
if [[ $# -gt 0 ]]; then
    targets=("$@")
    for t in "${targets[@]}"; do
        if ! grep -qxF -- "$t" <<<"$all_targets"; then
            echo "fuzz: unknown target $t (targets: ${all_targets//$'\n'/ })" >&2
            exit 2
        fi
    done
else
    mapfile -t targets <<<"$all_targets"
fi
if [[ ${#targets[@]} -eq 0 || -z "${targets[0]}" ]]; then
    echo "fuzz: no fuzz targets found" >&2
    exit 1
fi
start=$SECONDS
# One cargo invocation for all of them (shared dependencies build once, in parallel).
build_log="$log_dir/build.log"
if [[ $# -gt 0 ]]; then
    build_ok=1
    rm -f "$build_log.tmp"
    for t in "${targets[@]}"; do
        cargo fuzz build --sanitizer "$sanitizer" "$t" >>"$build_log.tmp" 2>&1 || { build_ok=0; break; }
    done
    mv -f "$build_log.tmp" "$build_log"
else
    build_ok=1
    cargo fuzz build --sanitizer "$sanitizer" >"$build_log" 2>&1 || build_ok=0
fi
if [[ $build_ok -ne 1 ]]; then
    tail -n 40 "$build_log" >&2
    echo "fuzz: the targets do not build (log: $build_log)" >&2
    echo "fuzz: 0 passed, ${#targets[@]} failed"
    exit 1
fi
echo "fuzz: built ${#targets[@]} targets (${targets[*]}) in $((SECONDS - start)) s"

# 4. Run each target for SECONDS.
passed=0
failed=0
failed_names=()
for t in "${targets[@]}"; do
    log="$log_dir/$t.log"
    extra=()
    dict="$fuzz_dir/dict/$t.dict"
    notes=""
    if [[ -f "$dict" ]]; then
        extra+=("-dict=$dict")
        notes+=" dictionary dict/$t.dict"
    fi
    options="$fuzz_dir/fuzz_targets/$t.options"
    if [[ -f "$options" ]]; then
        while IFS= read -r line || [[ -n "$line" ]]; do
            line=${line%$'\r'}
            [[ -z "${line//[[:space:]]/}" || "$line" =~ ^[[:space:]]*# ]] && continue
            extra+=("$line")
            notes+=" $line"
        done <"$options"
    fi
    echo "fuzz: $t: running for $seconds s${notes:+ (${notes# })}"
    # Watchdog in case libFuzzer itself stops honouring -max_total_time / -timeout.
    watchdog=()
    if command -v timeout >/dev/null 2>&1; then
        watchdog=(timeout --kill-after=30 $((seconds + 2 * timeout + 300)))
    fi
    ${watchdog[@]+"${watchdog[@]}"} cargo fuzz run --sanitizer "$sanitizer" "$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout="$timeout" \
        -print_final_stats=1 ${extra[@]+"${extra[@]}"} >"$log" 2>&1
    rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
    if [[ $rc -eq 0 && -n "$done_line" ]]; then
        echo "fuzz: $t: $done_line"
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failed_names+=("$t")
        echo "fuzz: $t: FAILED (exit $rc), log: $log"
        # The panic message or libFuzzer's reason, and the input that caused it.
        grep -E -A4 "panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY:" "$log" | head -n 30
        artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1 | sed 's/Test unit written to //')
        if [[ -n "$artifact" && -f "$artifact" ]]; then
            echo "fuzz: $t: input $artifact ($(stat -c %s "$artifact") bytes), hex (first 4 KiB):"
            head -c 4096 "$artifact" | od -An -v -tx1 | tr -d ' \n' | fold -w 128
            echo
            echo "fuzz: $t: reproduce with: cd $repo && RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo fuzz run -s $sanitizer $t $artifact"
        fi
    fi
done

if [[ $failed -gt 0 ]]; then
    echo "fuzz: failed targets: ${failed_names[*]}"
fi
echo "fuzz: total time $((SECONDS - total_start)) s"
echo "fuzz: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
