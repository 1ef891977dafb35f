//! Builds `c/filters.c` (the filter benchmark's hand-written C) with `gcc -O2` (or `$CC`) into
//! a program beside the build's other outputs; the benchmark runs it as a process, as it runs
//! libpcap's oracle, and finds it through `UDF_BENCH_FILTERS_C` (empty when the build failed:
//! the C column is then left empty, with a note).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=c/filters.c");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let exe = out.join("filters_c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
    let built = Command::new(&cc)
        .args(["-O2", "-Wall", "-Wextra", "-o"])
        .arg(&exe)
        .arg("c/filters.c")
        .status()
        .is_ok_and(|s| s.success());
    if built {
        println!("cargo:rustc-env=UDF_BENCH_FILTERS_C={}", exe.display());
    } else {
        println!(
            "cargo:warning=`{cc} -O2 c/filters.c` failed: the filter benchmark's C column will be empty"
        );
        println!("cargo:rustc-env=UDF_BENCH_FILTERS_C=");
    }
}
