//! `filter-e2e`: `udf filter` against tcpdump end to end, as processes on a capture file.
//!
//! The capture: 1,000,000 packets (100,000 with `--quick`) of the filter benchmark's generator
//! ([`crate::filter`]), written to a temporary pcap file (Ethernet, microseconds, snap length
//! 262144). For each of the filter benchmark's expressions, wall-clock time of whole runs, best
//! of 5 (2 with `--quick`), the file in the page cache (a warm-up run first):
//!
//! - counting: `tcpdump -r IN -w /dev/null EXPR` (with `-Z root` when run as root, so that
//!   tcpdump does not hand /dev/null to its own user) against `udf filter --pcap EXPR --read IN
//!   --count` (the default engine, the JIT; and `--engine interp` beside it);
//! - writing: `tcpdump -r IN -w OUT EXPR` against `udf filter --pcap EXPR --read IN -w OUT`.
//!
//! The two outputs must be the same file byte for byte (the capture's header and the accepted
//! records; tcpdump writes the same header for this capture) and `--count` must print the
//! number of packets in them. `udf` is the release binary beside this one (`cargo build
//! --release -p udf-cli`), or `$UDF_BIN`; tcpdump is found on the PATH, or `$UDF_TCPDUMP`.
//! `--keep` keeps the capture (for profiling) and prints its path.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A program: `$var`, else `name` beside this binary or on the usual paths.
fn tool(var: &str, name: &str, hint: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let beside = std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.join(name)));
    let dirs = ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"];
    beside
        .into_iter()
        .chain(dirs.iter().map(|d| Path::new(d).join(name)))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} not found: {hint}, or set {var}"))
}

/// Runs `cmd` with `args`; its stdout; panics when it fails.
fn run(cmd: &Path, args: &[&str]) -> String {
    let o = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", cmd.display()));
    assert!(
        o.status.success(),
        "{} {}: {}",
        cmd.display(),
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Best wall-clock time of `reps` runs.
fn best(reps: usize, cmd: &Path, args: &[&str]) -> Duration {
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            run(cmd, args);
            start.elapsed()
        })
        .min()
        .expect("at least one run")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Packets in a pcap file written by either tool (the records' captured lengths, from byte 24;
/// little-endian, as both write this capture).
fn records(path: &Path) -> u64 {
    let b = std::fs::read(path).expect("read an output");
    let (mut at, mut n) = (24usize, 0u64);
    while at + 16 <= b.len() {
        let caplen = u32::from_le_bytes([b[at + 8], b[at + 9], b[at + 10], b[at + 11]]);
        at += 16 + caplen as usize;
        n += 1;
    }
    n
}

pub fn run_e2e(quick: bool, keep: bool) {
    let (n, reps) = if quick { (100_000, 2) } else { (1_000_000, 5) };
    let udf = tool("UDF_BIN", "udf", "build it: cargo build --release -p udf-cli");
    let tcpdump = tool("UDF_TCPDUMP", "tcpdump", "install tcpdump (apt-get install tcpdump)");
    let dir = std::env::temp_dir().join(format!("udf-bench-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let input = dir.join("in.pcap");
    crate::filter::write_pcap(&input, &crate::filter::packets(n));
    let size = std::fs::metadata(&input).expect("capture").len();
    let (theirs, ours) = (dir.join("tcpdump.pcap"), dir.join("udf.pcap"));
    let cap = input.to_str().expect("UTF-8 temp path");
    let (t_out, u_out) = (theirs.to_str().expect("UTF-8"), ours.to_str().expect("UTF-8"));
    let version = run(&tcpdump, &["--version"]);
    println!(
        "{n} packets ({} MiB) in a pcap file (page cache warm); wall-clock ms per run, best of \
         {reps}; {}; udf's default engine (JIT), `interp` with `--engine interp`.\n",
        size >> 20,
        version.lines().next().unwrap_or("tcpdump").trim()
    );
    println!(
        "| expression | accepted | tcpdump -w /dev/null | udf --count | ratio | udf --count \
         (interp) | tcpdump -w OUT | udf -w OUT | ratio |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    // As root, tcpdump switches to its own user and gives it the output file: /dev/null
    // included. `-Z root` keeps it root (no switch, no chown); it changes nothing else.
    let root = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    };
    let z: &[&str] = if root { &["-Z", "root"] } else { &[] };
    for expr in crate::filter::EXPRESSIONS {
        let t_count = [z, &["-r", cap, "-w", "/dev/null", expr]].concat();
        let u_count = ["filter", "--pcap", expr, "--read", cap, "--count"];
        let u_interp = ["filter", "--pcap", expr, "--read", cap, "--count", "--engine", "interp"];
        let t_write = [z, &["-r", cap, "-w", t_out, expr]].concat();
        let u_write = ["filter", "--pcap", expr, "--read", cap, "-w", u_out];
        // Warm-up, and the outputs agree.
        run(&tcpdump, &t_write);
        run(&udf, &u_write);
        let count: u64 = run(&udf, &u_count).trim().parse().expect("--count prints a number");
        let interp: u64 = run(&udf, &u_interp).trim().parse().expect("--count prints a number");
        assert_eq!(
            std::fs::read(&theirs).expect("tcpdump's output"),
            std::fs::read(&ours).expect("udf's output"),
            "`{expr}`: udf -w and tcpdump -w write different files"
        );
        let want = records(&theirs);
        assert!(count == want && interp == want, "`{expr}`: --count {count}/{interp}, {want}");
        let tc = best(reps, &tcpdump, &t_count);
        let uc = best(reps, &udf, &u_count);
        let ui = best(reps, &udf, &u_interp);
        let tw = best(reps, &tcpdump, &t_write);
        let uw = best(reps, &udf, &u_write);
        println!(
            "| `{expr}` | {count} | {:.1} | {:.1} | {:.2}x | {:.1} | {:.1} | {:.1} | {:.2}x |",
            ms(tc),
            ms(uc),
            tc.as_secs_f64() / uc.as_secs_f64(),
            ms(ui),
            ms(tw),
            ms(uw),
            tw.as_secs_f64() / uw.as_secs_f64()
        );
    }
    if keep {
        println!("\nkept: {}", input.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
