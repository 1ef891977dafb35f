//! `udf-bench corpus [--quick]`: the `.udf` corpus. Compile time of each source file (parse,
//! check, lower and verify every entry point; best of several compiles), and the run time per
//! call of the metadata owns-udfs XN calls most (`ext2_inode`, the 4 KiB indirect block) on the
//! interpreter and on the trusted JIT, in one run, with the emitted extents checked equal.

use std::time::{Duration, Instant};

use udf_bytecode::ProgramType;
use udf_jit::{Executable, Jit, Mode, Target};
use udf_runtime::{Context, EmitHelpers, RunOptions, Vm, prepare};

/// Best time per call of `f` over `reps` repetitions of at least `min`, reading the clock
/// once per 32 calls (a clock read costs about 20 ns here, as much as a short owns-udf call);
/// and `f`'s last value.
fn best_per_call(min: Duration, reps: usize, mut f: impl FnMut() -> u64) -> (Duration, u64) {
    const BATCH: u32 = 32;
    let mut best = Duration::MAX;
    let mut last = 0;
    for _ in 0..reps {
        let start = Instant::now();
        let mut calls = 0u32;
        while calls == 0 || start.elapsed() < min {
            for _ in 0..BATCH {
                last = std::hint::black_box(f());
            }
            calls += BATCH;
        }
        best = best.min(start.elapsed() / calls);
    }
    (best, last)
}

const FILES: &[&str] = &["fs/ext2.udf", "fs/ext4.udf", "fs/fat.udf", "filters/web.udf"];

fn root() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus/").to_string()
}

/// An inode of a regular file with 12 direct blocks, the three indirect pointers and an
/// xattr block: 16 extents.
fn inode() -> Vec<u8> {
    let mut b = vec![0u8; 128];
    b[0..2].copy_from_slice(&0x81a4u16.to_le_bytes());
    b[4..8].copy_from_slice(&(1u32 << 20).to_le_bytes());
    b[26..28].copy_from_slice(&1u16.to_le_bytes());
    b[28..32].copy_from_slice(&2048u32.to_le_bytes());
    for k in 0..15 {
        b[40 + 4 * k..44 + 4 * k].copy_from_slice(&(1000 + k as u32).to_le_bytes());
    }
    b[104..108].copy_from_slice(&5000u32.to_le_bytes());
    b
}

/// A fast symlink's inode: its block array holds text, so it owns nothing (the cost of the
/// checks alone, without a helper call).
fn symlink() -> Vec<u8> {
    let mut b = vec![b'x'; 128];
    b[0..2].copy_from_slice(&0xa1ffu16.to_le_bytes());
    b[4..8].copy_from_slice(&40u32.to_le_bytes());
    b[26..28].copy_from_slice(&1u16.to_le_bytes());
    b[28..36].fill(0);
    b[104..108].fill(0);
    b
}

/// A 4 KiB single-indirect block, every pointer set: 1,024 extents.
fn ind_block() -> Vec<u8> {
    (0..1024u32).flat_map(|k| (20_000 + k).to_le_bytes()).collect()
}

pub fn run(quick: bool) {
    let reps = if quick { 2 } else { 12 };
    let min = Duration::from_millis(if quick { 20 } else { 300 });
    println!("compile time of the corpus (parse, check, lower, verify; best of {reps}):\n");
    println!("| file | entry points | instructions | compile time |");
    println!("| --- | --- | --- | --- |");
    let mut modules = Vec::new();
    for f in FILES {
        let path = format!("{}{f}", root());
        let src = std::fs::read_to_string(&path).expect("corpus file");
        let mut best = Duration::MAX;
        let mut module = None;
        for _ in 0..reps {
            let start = Instant::now();
            let m = udf_compiler::compile(f, &src).expect("the corpus compiles");
            best = best.min(start.elapsed());
            module = Some(m);
        }
        let m = module.expect("compiled");
        let insns: usize = m.entries.iter().map(|e| e.prog.len()).sum();
        println!("| {f} | {} | {insns} | {:.2} ms |", m.entries.len(), best.as_secs_f64() * 1e3);
        modules.push(m);
    }

    println!(
        "\nowns-udf run time per call (interpreter vs trusted JIT calling `emit` through the \
         trampoline (`run`: dynamic dispatch) and directly (`run_with`: a table of plain \
         function pointers), and hardened JIT code: a bounds check on every context access; \
         same input, same extents):\n"
    );
    println!(
        "| entry | input | extents | interpreter ns/call | JIT ns/call, trampoline | JIT ns/call, \
         direct helpers | speed-up (direct) | trampoline / direct | hardened JIT ns/call | \
         hardened / trusted |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let ext2 = &modules[0];
    let mut jit = Target::host().map(|t| Jit::new(t).expect("host ISA"));
    let cases = [
        ("ext2_inode", "regular file", inode()),
        ("ext2_inode", "fast symlink", symlink()),
        ("ext2_ind1_4k", "full block", ind_block()),
    ];
    for (name, what, input) in cases {
        let e = ext2.entry(name).expect("corpus entry");
        let compiled = prepare(&e.prog, &udf_runtime::pre_run_checks(ProgramType::Owns, true))
            .expect("checks");
        let opts = RunOptions { budget: 1 << 30, r3: 0 };
        let mut vm = Vm::new();
        let mut emit = EmitHelpers::new(1 << 20);
        let (ti, n) = best_per_call(min, reps, || {
            emit.extents.clear();
            vm.run(&compiled, Context::ReadOnly(&input), &mut emit, &opts).expect("runs");
            emit.extents.len() as u64
        });
        let want = emit.extents.clone();
        let interp = ti.as_secs_f64() * 1e9;
        let Some(jit) = jit.as_mut() else {
            println!(
                "| {name} | {what} | {n} | {interp:.1} | (no JIT on this host) | - | - | - | - | - |"
            );
            continue;
        };
        let code = jit
            .compile(&e.prog, ProgramType::Owns, Mode::Trusted(&e.facts))
            .expect("JIT compiles the corpus");
        let exe = Executable::new(code).expect("host code maps");
        let (tj, _) = best_per_call(min, reps, || {
            emit.extents.clear();
            exe.run(&mut vm, Context::ReadOnly(&input), &mut emit, &opts).expect("runs");
            emit.extents.len() as u64
        });
        assert_eq!(emit.extents, want, "{name}: JIT and interpreter disagree");
        let tramp = tj.as_secs_f64() * 1e9;
        let (td, _) = best_per_call(min, reps, || {
            emit.extents.clear();
            exe.run_with(&mut vm, Context::ReadOnly(&input), &mut emit, &opts).expect("runs");
            emit.extents.len() as u64
        });
        assert_eq!(emit.extents, want, "{name}: JIT (direct helpers) and interpreter disagree");
        let native = td.as_secs_f64() * 1e9;
        let code = jit
            .compile(&e.prog, ProgramType::Owns, Mode::Hardened(&e.facts))
            .expect("JIT compiles the corpus");
        let hexe = Executable::new(code).expect("host code maps");
        let (th, _) = best_per_call(min, reps, || {
            emit.extents.clear();
            hexe.run_with(&mut vm, Context::ReadOnly(&input), &mut emit, &opts).expect("runs");
            emit.extents.len() as u64
        });
        assert_eq!(emit.extents, want, "{name}: hardened JIT and interpreter disagree");
        let hardened = th.as_secs_f64() * 1e9;
        println!(
            "| {name} | {what} | {n} | {interp:.1} | {tramp:.1} | {native:.1} | {:.1}x | {:.2}x | \
             {hardened:.1} | {:.2}x |",
            interp / native,
            tramp / native,
            hardened / native
        );
    }
}
