//! `kernel`: the bare-metal kernel (`kernel/`) under qemu-system-x86_64 (TCG), beside the same
//! work in a host process.
//!
//! Packages (signed, made by `udf package`): the corpus owns-udf `ext2_inode` with x86-64 code
//! and as bytecode only, and the filter `corpus/filters/web.udf` (bytecode).
//!
//! - Boot to answer: the wall-clock time of a whole `udf kernel boot IMAGE --pkg PKG --input
//!   FILE` (qemu starts, the firmware and the kernel boot, the package is authenticated,
//!   re-verified and installed, one input runs, the machine stops), best and median of 9 (3 with
//!   `--quick`), beside a whole `udf kernel load PKG --input FILE` (a host process doing the
//!   same work, natively).
//! - Per invocation: the kernel runs the input N times in one exchange (`--repeat N`, a hidden
//!   option for this); the cost of one run is the difference between N = 200,000 and N = 1,000
//!   (20,000 and 1,000 with `--quick`) over the difference in runs, which leaves out the boot
//!   and the exchange. Beside it, the same kernel-glue invocation (`Installed::invoke`, the
//!   package loaded by `Table::load`) in this process, on the host.
//!
//! `udf` is the release binary beside this one (`cargo build --release -p udf-cli`), or
//! `$UDF_BIN`; the image is `$UDF_KERNEL_IMAGE`, else `target/kernel-image/...` as
//! scripts/test.sh builds it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use udf_kernel_glue::{Policy, Table};
use udf_runtime::Vm;

const KEY: &[u8] = b"the benchmark's key";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn udf_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("UDF_BIN") {
        return PathBuf::from(p);
    }
    let beside = std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join("udf")));
    beside.filter(|p| p.is_file()).expect(
        "udf not found beside this binary: cargo build --release -p udf-cli, or set UDF_BIN",
    )
}

fn image() -> PathBuf {
    if let Some(p) = std::env::var_os("UDF_KERNEL_IMAGE") {
        return PathBuf::from(p);
    }
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from);
    let p = target.join("kernel-image/x86_64-unknown-none/release/udf-kernel");
    assert!(
        p.is_file(),
        "{}: no kernel image: build it (cd kernel && cargo build --release --target-dir {}), or set UDF_KERNEL_IMAGE",
        p.display(),
        target.join("kernel-image").display()
    );
    p
}

/// Runs `udf args`; its stderr; panics when it fails.
fn udf(bin: &Path, args: &[&str]) -> String {
    let o = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    assert!(o.status.success(), "udf {}: {}", args.join(" "), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Best and median wall-clock time of `reps` runs.
fn timed(reps: usize, bin: &Path, args: &[&str]) -> (Duration, Duration) {
    let mut t: Vec<Duration> = (0..reps)
        .map(|_| {
            let start = Instant::now();
            udf(bin, args);
            start.elapsed()
        })
        .collect();
    t.sort();
    (t[0], t[t.len() / 2])
}

/// Seconds the kernel took for `n` runs of `input` in one exchange (from `--repeat`'s report).
fn kernel_runs(bin: &Path, img: &str, pkg: &str, key: &str, input: &str, n: u32) -> f64 {
    let err = udf(
        bin,
        &[
            "kernel",
            "boot",
            img,
            "--pkg",
            pkg,
            "--key",
            key,
            "--repeat",
            &n.to_string(),
            "--input",
            input,
        ],
    );
    let line = err.lines().find(|l| l.contains(" runs in ")).expect("the timing line");
    let secs = line.split(" runs in ").nth(1).and_then(|r| r.split(' ').next());
    secs.and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{line}"))
}

/// ns per `Installed::invoke` of the package on `input` in this process.
fn host_ns(pkg: &Path, input: &[u8], quick: bool) -> (f64, bool) {
    let bytes = std::fs::read(pkg).expect("package");
    let mut table = Table::new();
    let id =
        table.load(&bytes, &Policy::allow_untagged_bytecode(Some(KEY.to_vec()))).expect("loads");
    let prog = table.get(id).expect("installed");
    let mut vm = Vm::new();
    let n = if quick { 20_000 } else { 500_000 };
    let mut best = f64::INFINITY;
    for _ in 0..if quick { 2 } else { 5 } {
        let start = Instant::now();
        for _ in 0..n {
            std::hint::black_box(prog.invoke(
                &mut vm,
                std::hint::black_box(input),
                input.len() as u64,
            ))
            .expect("runs");
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / f64::from(n));
    }
    (best, prog.is_native())
}

/// Runs the benchmark.
pub fn run(quick: bool) {
    let bin = udf_bin();
    let img = image();
    let dir = std::env::temp_dir().join(format!("udf-bench-kernel-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let key = dir.join("key");
    std::fs::write(&key, KEY).expect("write");
    let corpus = repo().join("corpus");
    let s = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
    let ext2 = s(&corpus.join("fs/ext2.udf"));
    let web = s(&corpus.join("filters/web.udf"));
    let cases: [(&str, Vec<&str>, &str); 3] = [
        (
            "ext2_inode, x86-64 code",
            vec![&ext2, "--entry", "ext2_inode", "--target", "x86_64"],
            "inputs/ext2_inode.bin",
        ),
        ("ext2_inode, bytecode", vec![&ext2, "--entry", "ext2_inode"], "inputs/ext2_inode.bin"),
        ("web filter, bytecode", vec![&web], "inputs/http_syn.bin"),
    ];
    let reps = if quick { 3 } else { 9 };
    let (lo, hi) = if quick { (1_000u32, 20_000u32) } else { (1_000, 200_000) };
    let (img, keyp) = (s(&img), s(&key));
    println!(
        "udf kernel boot under qemu-system-x86_64 -accel tcg, beside the host (udf kernel load)"
    );
    println!(
        "{:<26} {:>12} {:>12} {:>12} {:>8} | {:>13} {:>12} {:>8}",
        "package",
        "boot best",
        "boot median",
        "load best",
        "ratio",
        "kernel ns/run",
        "host ns/run",
        "ratio"
    );
    for (i, (name, args, input)) in cases.iter().enumerate() {
        let pkg = dir.join(format!("{i}.pkg"));
        let mut a: Vec<&str> = vec!["package"];
        a.extend(args.iter().copied());
        a.extend(["--key", &keyp, "-o"]);
        let pkgs = s(&pkg);
        a.push(&pkgs);
        udf(&bin, &a);
        let input = s(&corpus.join(input));
        let boot = ["kernel", "boot", &img, "--pkg", &pkgs, "--key", &keyp, "--input", &input];
        let load = ["kernel", "load", &pkgs, "--key", &keyp, "--input", &input];
        let (boot_best, boot_median) = timed(reps, &bin, &boot);
        let (load_best, _) = timed(reps, &bin, &load);
        let t_lo = kernel_runs(&bin, &img, &pkgs, &keyp, &input, lo);
        let t_hi = kernel_runs(&bin, &img, &pkgs, &keyp, &input, hi);
        let kernel_ns = (t_hi - t_lo) * 1e9 / f64::from(hi - lo);
        let (host, native) = host_ns(&pkg, &std::fs::read(&input).expect("input"), quick);
        println!(
            "{:<26} {:>9.1} ms {:>9.1} ms {:>9.1} ms {:>7.1}x | {:>13.0} {:>12.0} {:>7.1}x{}",
            name,
            boot_best.as_secs_f64() * 1e3,
            boot_median.as_secs_f64() * 1e3,
            load_best.as_secs_f64() * 1e3,
            boot_best.as_secs_f64() / load_best.as_secs_f64(),
            kernel_ns,
            host,
            kernel_ns / host,
            if native { "  (native)" } else { "  (interpreted)" },
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
