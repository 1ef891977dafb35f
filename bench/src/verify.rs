//! Verification time against program size: straight-line and branchy programs of 1k to 1M
//! instructions, built directly as instructions (no assembler time in the measurement), with
//! the host kernel's own verifier measured beside udfkit's in the same run.
//!
//! Linux is reached through `tools/linux_verify.c` (no `unsafe` here): it loads the bytecode
//! as a socket filter with `bpf(BPF_PROG_LOAD)` and log level 4 (statistics), and reports the
//! kernel's own "verification time" and "processed insns", or the kernel's refusal and its
//! reason. The tool is `$UDF_LINUX_VERIFY`, else `linux_verify` beside this benchmark's
//! executable, built there with `cc` from `tools/linux_verify.c` when missing or older than
//! its source. Loading needs root (or `CAP_BPF`); without the tool or the right, Linux's
//! columns say why they are empty.
//!
//! A socket filter's context is `struct __sk_buff`, where Linux allows only some loads, so
//! Linux gets [`Shape::Linux`], a variant of the programs that differs only in its context
//! loads (see [`program`]); udfkit verifies that variant too, and the ratio compares the two
//! verifiers on the very same bytecode.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use udf_bytecode::{AluOp, Insn, JmpCond, Program, ProgramType, Reg, Size, Source, Width};
use udf_verifier::{Config, verify};

const R0: Reg = Reg::R0;

fn reg(n: u8) -> Reg {
    Reg::new(n).expect("register")
}

/// Whom a benchmark program is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// udfkit's `size` programs over a 64-byte object: context loads are 1-byte loads at
    /// offsets 0 to 59.
    Udfkit,
    /// Linux's socket filters: every context load is a 4-byte load of a `struct __sk_buff`
    /// field a socket filter may read, at the 4-byte-aligned offset at or below udfkit's, or
    /// the next field where that one is `pkt_type` (4), `vlan_present` (20) or `ifindex` (40):
    /// offsets 0 to 56, `len` to `cb[2]`. Those three are skipped because the kernel rewrites
    /// each of their loads into several instructions, and its patching of the program grows
    /// quadratically (a 100k-instruction program spends 1.8 s there instead of 0.06 s), which
    /// is not the verifier's analysis; every other field's load stays one instruction.
    /// Everything else, instruction for instruction, is the same; udfkit accepts this variant
    /// too (as a `size` program over 64 bytes).
    Linux,
}

/// A context load into `dst` at udfkit's offset `off`, as `shape` needs it.
fn ctx_load(shape: Shape, dst: Reg, off: i16) -> Insn {
    let (size, off) = match shape {
        Shape::Udfkit => (Size::B, off),
        Shape::Linux => match off & !3 {
            a @ (4 | 20 | 40) => (Size::W, a + 4),
            a => (Size::W, a),
        },
    };
    Insn::Load { size, signed: false, dst, base: reg(1), off }
}

/// A body of `n` instructions: context loads at constant offsets, ALU on the loaded values,
/// stack spills and fills; with `branchy`, a forward conditional jump every 8 instructions
/// skipping 3 of them (so paths join again). The jump compares a loaded context value, so
/// neither verifier knows which way it goes. `shape` only changes the context loads.
pub fn program(n: usize, branchy: bool, shape: Shape) -> Program {
    let mut v = vec![
        Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: R0, src: Source::Imm(0) },
        Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: reg(6), src: Source::Imm(1) },
    ];
    for j in 1..=16 {
        v.push(Insn::Store { size: Size::DW, base: reg(10), off: -8 * j, src: Source::Imm(0) });
    }
    let mut k = 0u32;
    while v.len() + 1 < n {
        k += 1;
        let left = n - 1 - v.len();
        if branchy && k.is_multiple_of(8) && left > 4 {
            v.push(Insn::Jump {
                width: Width::W64,
                cond: JmpCond::Gt,
                dst: reg(3),
                src: Source::Imm(100),
                off: 3,
            });
            continue;
        }
        let insn = match k % 7 {
            0 => ctx_load(shape, reg(3), (k % 60) as i16),
            1 => Insn::Alu { width: Width::W64, op: AluOp::Add, dst: R0, src: Source::Reg(reg(3)) },
            2 => Insn::Store {
                size: Size::DW,
                base: reg(10),
                off: -8 * (1 + (k % 16) as i16),
                src: Source::Reg(R0),
            },
            3 => Insn::Alu {
                width: Width::W32,
                op: AluOp::Xor,
                dst: reg(6),
                src: Source::Reg(reg(3)),
            },
            4 => Insn::Load { size: Size::DW, signed: false, dst: reg(4), base: reg(10), off: -8 },
            5 => {
                Insn::Alu { width: Width::W64, op: AluOp::And, dst: reg(4), src: Source::Imm(0xff) }
            }
            _ => Insn::Alu { width: Width::W64, op: AluOp::Lsh, dst: reg(6), src: Source::Imm(1) },
        };
        // Registers read must have been written: r3 and r4 first appear as destinations.
        if k < 8 && !matches!(k % 7, 0 | 2 | 4) {
            v.push(ctx_load(shape, reg(3), 0));
            continue;
        }
        v.push(insn);
    }
    v.push(Insn::Exit);
    Program::from_insns(v).expect("well-formed")
}

/// Linux gets no program of more instructions than this (the kernel's own limit is 1M
/// processed instructions; the machines running this are shared).
const LINUX_MAX: usize = 100_000;

/// Timed measurements alternate between the verifiers this many times per program, so that
/// the machine's slow and fast moments fall on both.
const ROUNDS: usize = 3;

/// What the host kernel's verifier did with a program.
#[derive(Clone, Debug)]
enum Linux {
    /// Accepted: the best verification time it logged, and the instructions it processed.
    Accepted { usec: u64, processed: Option<u64> },
    /// Refused: the error, the time and processed instructions it logged, its last message.
    Refused { errno: String, usec: Option<u64>, processed: Option<u64>, reason: String },
    /// Not measured, and why.
    Missing(String),
}

/// The `linux_verify` tool: `$UDF_LINUX_VERIFY`, else built beside this executable.
fn linux_tool() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("UDF_LINUX_VERIFY") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("UDF_LINUX_VERIFY={} is not a file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = exe.with_file_name("linux_verify");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/linux_verify.c");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = match (modified(&out), modified(&src)) {
        (Some(o), Some(s)) => o >= s,
        (Some(_), None) => true,
        (None, _) => false,
    };
    if !fresh {
        let o = Command::new("cc")
            .args(["-O2", "-Wall", "-Wextra", "-o"])
            .arg(&out)
            .arg(&src)
            .output()
            .map_err(|e| format!("cc: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "cc {}: {}",
                src.display(),
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
    }
    Ok(out)
}

/// Loads `prog` into the host kernel `runs` times through the tool.
fn linux_verify(tool: &Path, prog: &Program, runs: usize) -> Linux {
    let child = Command::new(tool)
        .args(["-n", &runs.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Linux::Missing(format!("{}: {e}", tool.display())),
    };
    let written = child.stdin.take().expect("piped").write_all(&prog.encode());
    let o = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => return Linux::Missing(format!("{}: {e}", tool.display())),
    };
    let text = String::from_utf8_lossy(&o.stdout);
    let line = text.lines().next().unwrap_or("");
    if written.is_err() || !line.starts_with("ok=") {
        return Linux::Missing(format!(
            "{} failed: {}",
            tool.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    let (pairs, reason) = line.split_once(" reason=").unwrap_or((line, ""));
    let get =
        |key: &str| pairs.split_whitespace().find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='));
    let num = |key: &str| get(key).and_then(|v| v.parse::<u64>().ok());
    match (get("ok"), num("verify_usec")) {
        (Some("1"), Some(usec)) => Linux::Accepted { usec, processed: num("processed") },
        (Some("1"), None) => Linux::Missing("the kernel logged no verification time".into()),
        _ if get("errno") == Some("EPERM") => {
            Linux::Missing("EPERM: loading needs root or CAP_BPF".into())
        }
        _ => Linux::Refused {
            errno: get("errno").unwrap_or("?").to_string(),
            usec: num("verify_usec"),
            processed: num("processed"),
            reason: reason.to_string(),
        },
    }
}

/// Best time of one verification of `prog` by udfkit over `reps` runs.
fn time_udfkit(prog: &Program, conf: &Config, reps: usize) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        std::hint::black_box(verify(prog, conf).is_ok());
        best = best.min(t.elapsed());
    }
    best
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

fn mips(n: usize, secs: f64) -> String {
    format!("{:.2}", n as f64 / secs / 1e6)
}

/// Prints the table: per shape and size, udfkit's time and speed on its own programs and on
/// Linux's variant, Linux's verification time (from its log) and speed, and the ratio of
/// Linux's time to udfkit's on the same bytecode.
pub fn run(quick: bool) {
    let mut conf = Config::new(ProgramType::Size);
    conf.ctx_size = Some(64);
    conf.budget = u64::MAX;
    let tool = linux_tool();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "?".to_string(), |s| s.trim().to_string());
    match &tool {
        Ok(t) => println!(
            "Linux {kernel}: its verifier through {} (socket filters, log level 4)\n",
            t.display()
        ),
        Err(e) => println!("Linux {kernel}: not measured ({e})\n"),
    }
    println!(
        "| program | instructions | udfkit | udfkit M insns/s | udfkit per-insn vs 1k \
         | udfkit, Linux's variant | Linux (its log) | Linux M insns/s | Linux processed \
         | Linux / udfkit |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let sizes: &[usize] =
        if quick { &[1_000, 10_000] } else { &[1_000, 10_000, 100_000, 1_000_000] };
    let mut refusals = Vec::new();
    for branchy in [false, true] {
        let name = if branchy { "branchy" } else { "straight" };
        let mut base = None;
        for &n in sizes {
            let ours = program(n, branchy, Shape::Udfkit);
            let theirs = program(n, branchy, Shape::Linux);
            for prog in [&ours, &theirs] {
                let facts = verify(prog, &conf).expect("benchmark programs verify");
                assert!(facts.max_insns <= n as u64);
            }
            let reps = (2_000_000 / n).clamp(3, 200).div_ceil(ROUNDS);
            let (mut t_ours, mut t_theirs) = (Duration::MAX, Duration::MAX);
            let mut linux = match (&tool, n <= LINUX_MAX) {
                (Err(e), _) => Linux::Missing(e.clone()),
                (Ok(_), false) => Linux::Missing(format!("over {LINUX_MAX}: not run")),
                (Ok(_), true) => Linux::Missing(String::new()),
            };
            for _ in 0..ROUNDS {
                t_ours = t_ours.min(time_udfkit(&ours, &conf, reps));
                t_theirs = t_theirs.min(time_udfkit(&theirs, &conf, reps));
                if let (Ok(t), true) = (&tool, n <= LINUX_MAX) {
                    linux = match (linux, linux_verify(t, &theirs, reps)) {
                        (
                            Linux::Accepted { usec: a, .. },
                            Linux::Accepted { usec: b, processed },
                        ) => Linux::Accepted { usec: a.min(b), processed },
                        (_, new) => new,
                    };
                    if !matches!(linux, Linux::Accepted { .. }) {
                        // A refusal is deterministic, a failing tool will fail again.
                        break;
                    }
                }
            }
            let per_k = t_ours.as_secs_f64() / (n as f64 / 1000.0);
            let base = *base.get_or_insert(per_k);
            let (l_time, l_mips, l_processed, ratio) = match &linux {
                Linux::Accepted { usec, processed } => {
                    let secs = *usec as f64 / 1e6;
                    (
                        format!("{:.3} ms", secs * 1e3),
                        mips(n, secs),
                        processed.map_or("?".to_string(), |p| p.to_string()),
                        format!("{:.1}x", secs / t_theirs.as_secs_f64()),
                    )
                }
                Linux::Refused { errno, usec, processed, reason } => {
                    refusals.push(format!(
                        "{name} {n}: {errno} after {} processed instructions, {}: \"{reason}\"",
                        processed.map_or("?".to_string(), |p| p.to_string()),
                        usec.map_or("no time logged".to_string(), |u| format!(
                            "{:.3} ms",
                            u as f64 / 1e3
                        )),
                    ));
                    (
                        format!("refused: {errno}, \"{reason}\""),
                        "-".to_string(),
                        processed.map_or("?".to_string(), |p| p.to_string()),
                        "-".to_string(),
                    )
                }
                Linux::Missing(why) => (why.clone(), "-".into(), "-".into(), "-".into()),
            };
            println!(
                "| {name} | {n} | {} | {} | {:.2} | {} ({} M/s) | {l_time} | {l_mips} \
                 | {l_processed} | {ratio} |",
                ms(t_ours),
                mips(n, t_ours.as_secs_f64()),
                per_k / base,
                ms(t_theirs),
                mips(n, t_theirs.as_secs_f64()),
            );
        }
    }
    println!(
        "\nudfkit: best of 3 to 200 verifications; Linux: best of as many loads, its own \
         \"verification time\" (its whole check and rewrites, not its JIT). Ratio: Linux's time \
         over udfkit's on Linux's variant (the same bytecode)."
    );
    for r in refusals {
        println!("Linux refused {r}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two shapes differ in their context loads only, and only in size and offset.
    #[test]
    fn linux_variant_differs_only_in_context_loads() {
        // The `__sk_buff` fields a socket filter reads with one instruction after the kernel's
        // rewrite, within udfkit's 64-byte object.
        let allowed = [0, 8, 12, 16, 24, 28, 32, 36, 44, 48, 52, 56];
        for branchy in [false, true] {
            let ours = program(1000, branchy, Shape::Udfkit);
            let theirs = program(1000, branchy, Shape::Linux);
            assert_eq!(ours.insns().len(), theirs.insns().len());
            let mut loads = 0;
            for (a, b) in ours.insns().iter().zip(theirs.insns()) {
                match (a, b) {
                    (
                        Insn::Load { size: Size::B, dst: d1, base: b1, off: o1, .. },
                        Insn::Load { size: Size::W, dst: d2, base: b2, off: o2, .. },
                    ) if *b1 == reg(1) => {
                        assert_eq!((d1, b2), (d2, &reg(1)));
                        assert!(allowed.contains(o2), "offset {o2}");
                        assert!(*o2 <= (*o1 & !3) + 4 && *o2 >= *o1 & !3);
                        loads += 1;
                    }
                    _ => assert_eq!(a, b),
                }
            }
            assert!(loads > 100, "{loads} context loads");
        }
    }

    /// Both shapes verify in udfkit, within their length.
    #[test]
    fn both_shapes_verify() {
        let mut conf = Config::new(ProgramType::Size);
        conf.ctx_size = Some(64);
        conf.budget = u64::MAX;
        for branchy in [false, true] {
            for shape in [Shape::Udfkit, Shape::Linux] {
                for n in [1_000, 10_000] {
                    let prog = program(n, branchy, shape);
                    assert_eq!(prog.insns().len(), n);
                    let facts = verify(&prog, &conf).expect("verifies");
                    assert!(facts.max_insns <= n as u64);
                }
            }
        }
    }
}
