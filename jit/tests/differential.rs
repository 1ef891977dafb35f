//! The interpreter is the semantics: JIT code must agree with it exactly.
//!
//! - Trusted and hardened modes: generated programs the verifier accepts (all four verified
//!   types) run on the interpreter and both native modes over random inputs; `r0`, the emitted
//!   extents and the whole stack must be identical.
//! - Checked mode: generated programs, verified or not, run as `raw` programs (writable
//!   context) or unverified `size` programs (read-only context), with the `emit` helper table
//!   and a small budget, on both engines; the result or the fault
//!   (kind and instruction), the instruction count, the context bytes, the stack and the
//!   extents must be identical.
//!
//! `UDF_JIT_PROGRAMS=N` sets the number of programs per property (default 64 in debug builds,
//! 512 in release).

mod common;

use std::collections::BTreeMap;

use proptest::prelude::*;
use udf_bytecode::generate::{Hazard, Shape, program, structured};
use udf_bytecode::rng::Rng;
use udf_bytecode::{CheckConfig, Program, ProgramType, disassemble};
use udf_jit::{Executable, Jit, Mode, Target};
use udf_runtime::{Context, EmitHelpers, Fault, FaultKind, RunOptions, Vm, prepare};
use udf_verifier::{Config, verify};

use common::Run;

fn cases() -> u32 {
    std::env::var("UDF_JIT_PROGRAMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 64 } else { 512 })
}

/// Inputs of the fixed size or of assorted lengths; every third one at an edge: empty, just
/// below the type's minimum `min`, at it, or just below the fixed size.
fn inputs(rng: &mut Rng, fixed: Option<u32>, min: u32, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|k| {
            let len = if k % 3 == 2 {
                let edges =
                    [0, min.saturating_sub(1), min, fixed.map_or(min + 1, |s| s.saturating_sub(1))];
                edges[rng.below(4) as usize] as usize
            } else {
                fixed.map_or_else(|| [0, 1, 14, 34, 54, 64, 96][k % 7], |s| s as usize)
            };
            rng.input(len)
        })
        .collect()
}

/// The trusted campaign's shape for `seed`: plain, or aimed at one hazard (half the seeds).
fn trusted_shape(ty: ProgramType, seed: u64) -> Shape {
    let n = Hazard::ALL.len() as u64;
    let k = seed / 4 % (2 * n);
    if k < n { Shape::new(ty, 40) } else { Shape::focused(ty, 40, Hazard::ALL[(k - n) as usize]) }
}

/// Runs on the interpreter (`exe` = None) or on native code, with a fresh machine.
fn run(
    prog: &Program,
    ty: ProgramType,
    exe: Option<&Executable>,
    input: &[u8],
    r3: u64,
    budget: u64,
    count: bool,
) -> Run {
    let mut vm = Vm::new();
    let mut ctx = input.to_vec();
    let mut helpers = EmitHelpers::new(4);
    let opts = RunOptions { budget, r3 };
    let context = if ty.info().ctx.writable {
        Context::ReadWrite(&mut ctx)
    } else {
        Context::ReadOnly(input)
    };
    let result = match exe {
        None => {
            let mut cfg = CheckConfig::for_type(ty);
            cfg.check_registers = false;
            let compiled = prepare(prog, &cfg).expect("checked by the caller");
            vm.run(&compiled, context, &mut helpers, &opts)
                .map(|o| (o.r0, count.then_some(o.executed)))
        }
        Some(exe) => {
            // Helpers called directly (`run_with`: a table of function pointers for
            // `EmitHelpers`)...
            let direct = exe
                .run_with(&mut vm, context, &mut helpers, &opts)
                .map(|o| (o.r0, if count { o.executed } else { None }));
            // ...must leave exactly what the trampoline (`run`: dynamic dispatch) leaves.
            let mut vm2 = Vm::new();
            let mut ctx2 = input.to_vec();
            let mut helpers2 = EmitHelpers::new(4);
            let context2 = if ty.info().ctx.writable {
                Context::ReadWrite(&mut ctx2)
            } else {
                Context::ReadOnly(input)
            };
            let tramp = exe
                .run(&mut vm2, context2, &mut helpers2, &opts)
                .map(|o| (o.r0, if count { o.executed } else { None }));
            let both = (direct == tramp)
                && (helpers.extents == helpers2.extents)
                && (ctx == ctx2)
                && (vm.stack() == vm2.stack());
            assert!(
                both,
                "direct helpers and the trampoline disagree: {direct:?} / {tramp:?}, extents \
                 {:?} / {:?}\n{}",
                helpers.extents,
                helpers2.extents,
                disassemble(prog)
            );
            direct
        }
    };
    Run { result, extents: helpers.extents, ctx, stack: vm.stack().to_vec() }
}

fn host_jit() -> Jit {
    Jit::new(Target::host().expect("these tests run on x86-64")).unwrap()
}

const VERIFIED: [ProgramType; 4] =
    [ProgramType::Filter, ProgramType::Owns, ProgramType::Acl, ProgramType::Size];

/// One generated program in trusted mode; `Ok(false)` when the verifier refused it. Inputs
/// of lengths the facts do not admit must be refused by the native code (the case fails
/// otherwise) and are counted in `not_admitted`.
fn trusted_case(jit: &mut Jit, seed: u64, not_admitted: &mut u64) -> Result<bool, String> {
    let ty = VERIFIED[(seed % 4) as usize];
    shaped_case(jit, seed, trusted_shape(ty, seed), not_admitted)
}

/// [`trusted_case`] with a given shape.
fn shaped_case(
    jit: &mut Jit,
    seed: u64,
    shape: Shape,
    not_admitted: &mut u64,
) -> Result<bool, String> {
    let mut rng = Rng::new(seed);
    let ty = shape.ty;
    let prog = structured(&mut rng, &shape);
    let mut conf = Config::new(ty);
    conf.ctx_size = shape.ctx_size.and_then(|n| ty.object_size(n));
    conf.budget = 100_000;
    let Ok(facts) = verify(&prog, &conf) else {
        return Ok(false);
    };
    let mut exes = Vec::new();
    for mode in [Mode::Trusted(&facts), Mode::Hardened(&facts)] {
        let code = jit
            .compile(&prog, ty, mode)
            .map_err(|e| format!("{} compile: {e}\n{}", mode.name(), disassemble(&prog)))?;
        exes.push((mode.name(), Executable::new(code).map_err(|e| e.to_string())?));
    }
    let min = conf.ctx_len().0.min(u32::MAX as u64) as u32;
    for input in inputs(&mut rng, shape.ctx_size, min, 6) {
        let r3 = input.len() as u64 + rng.below(3);
        if !facts.admits(input.len()) {
            // Native code from facts refuses a length the proof does not cover: nothing runs.
            for (name, exe) in &exes {
                let got = run(&prog, ty, Some(exe), &input, r3, u64::MAX, false);
                let refused = matches!(
                    &got.result,
                    Err(f) if matches!(f.kind, udf_runtime::FaultKind::ContextRefused { .. })
                );
                if !refused {
                    return Err(format!(
                        "{name} code ran a {}-byte context the proof does not cover: {:?}\n{}",
                        input.len(),
                        got.result,
                        disassemble(&prog)
                    ));
                }
            }
            *not_admitted += 1;
            continue;
        }
        let want = run(&prog, ty, None, &input, r3, u64::MAX, false);
        for (name, exe) in &exes {
            let got = run(&prog, ty, Some(exe), &input, r3, u64::MAX, false);
            if want != got {
                return Err(format!(
                    "{ty} program ({:?}) differs on input ({} bytes) {input:02x?}\ninterp: {:?} {:?}\n{name}: {:?} {:?}\n{}",
                    shape.focus,
                    input.len(),
                    want.result,
                    want.extents,
                    got.result,
                    got.extents,
                    disassemble(&prog)
                ));
            }
        }
    }
    Ok(true)
}

/// One generated program in checked mode, verified or not; adds how each run ended to `seen`.
fn checked_case(
    jit: &mut Jit,
    seed: u64,
    seen: &mut BTreeMap<&'static str, u32>,
) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let prog = if seed.is_multiple_of(2) {
        program(&mut rng, 48)
    } else {
        let ty = VERIFIED[(seed / 2 % 4) as usize];
        structured(&mut rng, &Shape::new(ty, 48))
    };
    // Mostly `raw` (writable context); every third program as `size` unverified, so stores
    // into the read-only context fault.
    let ty = if seed.is_multiple_of(3) { ProgramType::Size } else { ProgramType::Raw };
    if udf_bytecode::check(&prog, &CheckConfig::for_type(ty)).is_err() {
        *seen.entry("refused by the pre-run checks").or_default() += 1;
        return Ok(());
    }
    let code = jit
        .compile(&prog, ty, Mode::Checked)
        .map_err(|e| format!("compile: {e}\n{}", disassemble(&prog)))?;
    let exe = Executable::new(code).map_err(|e| e.to_string())?;
    for input in inputs(&mut rng, None, 0, 6) {
        let budget = [3, 17, 200, 5_000][rng.below(4) as usize];
        let want = run(&prog, ty, None, &input, 0, budget, true);
        let got = run(&prog, ty, Some(&exe), &input, 0, budget, true);
        *seen.entry(ending(&want.result)).or_default() += 1;
        if want != got {
            return Err(format!(
                "checked run differs on input {input:02x?}, budget {budget}\ninterp: {:?} {:?}\njit:    {:?} {:?}\nctx equal: {}, stack equal: {}\n{}",
                want.result,
                want.extents,
                got.result,
                got.extents,
                want.ctx == got.ctx,
                want.stack == got.stack,
                disassemble(&prog)
            ));
        }
    }
    Ok(())
}

fn ending(r: &Result<(u64, Option<u64>), Fault>) -> &'static str {
    match r {
        Ok(_) => "exit",
        Err(f) => match f.kind {
            FaultKind::OutOfBounds { .. } => "out of bounds",
            FaultKind::ReadOnly { .. } => "read-only",
            FaultKind::BudgetExhausted { .. } => "budget",
            FaultKind::UnknownHelper { .. } => "unknown helper",
            FaultKind::HelperFailed { .. } => "helper failed",
            FaultKind::CallDepthExceeded => "call depth",
            FaultKind::FellOffEnd => "fell off",
            FaultKind::Unsupported { .. } => "unsupported",
            FaultKind::CheckFailed => "check failed",
            FaultKind::ContextRefused { .. } => "context refused",
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn trusted_agrees_with_interpreter(seed in any::<u64>()) {
        let mut jit = host_jit();
        trusted_case(&mut jit, seed, &mut 0).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn checked_agrees_with_interpreter(seed in any::<u64>()) {
        let mut jit = host_jit();
        checked_case(&mut jit, seed, &mut BTreeMap::new()).map_err(TestCaseError::fail)?;
    }
}

/// The same properties over consecutive seeds, counting how many programs the verifier
/// accepted, so a generator that stopped producing valid programs fails here.
#[test]
fn trusted_campaign_runs_accepted_programs() {
    let mut jit = host_jit();
    let n = u64::from(cases());
    let (mut accepted, mut not_admitted) = (0, 0);
    let start = std::time::Instant::now();
    for seed in 0..n {
        if trusted_case(&mut jit, seed, &mut not_admitted).unwrap_or_else(|e| {
            panic!("seed {seed}, after {} programs and {:?}: {e}", seed + 1, start.elapsed())
        }) {
            accepted += 1;
        }
    }
    eprintln!(
        "trusted: {accepted} of {n} generated programs accepted, each run on up to 6 inputs; {not_admitted} inputs of lengths the facts do not admit refused by trusted and hardened code, as they must be"
    );
    assert!(accepted * 2 >= n, "only {accepted} of {n} programs verified");
    let mut seen = BTreeMap::new();
    for seed in 0..n {
        checked_case(&mut jit, seed, &mut seen).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
    eprintln!("checked: {n} programs, how runs ended: {seen:?}");
    // The campaign must reach the faults it is meant to compare.
    for kind in ["exit", "out of bounds", "budget"] {
        assert!(seen.contains_key(kind), "no run ended with {kind}: {seen:?}");
    }
}

/// The measurement behind the soundness figures: for each shape, how many programs and
/// seconds until trusted native code first differs from the interpreter, for up to
/// `UDF_HUNT_SECONDS` (default 60) per shape. Run with `--ignored --nocapture`; it reports
/// and never fails.
#[test]
#[ignore]
fn hunt_first_difference_per_shape() {
    let limit = std::time::Duration::from_secs(
        std::env::var("UDF_HUNT_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60),
    );
    let mut jit = host_jit();
    let only = std::env::var("UDF_HUNT_ONLY").ok();
    let foci: Vec<Option<Hazard>> = std::iter::once(None)
        .chain(Hazard::ALL.map(Some))
        .filter(|f| only.as_ref().is_none_or(|o| *o == format!("{f:?}")))
        .collect();
    for focus in foci {
        let start = std::time::Instant::now();
        let (mut n, mut accepted, mut skipped) = (0u64, 0u64, 0u64);
        let mut found = None;
        while start.elapsed() < limit && found.is_none() {
            let seed = 9_000_000 + n;
            n += 1;
            let ty = VERIFIED[(seed % 4) as usize];
            let shape = match focus {
                None => Shape::new(ty, 40),
                Some(h) => Shape::focused(ty, 40, h),
            };
            // A crash of native code ends the process: the last line names the culprit.
            if std::env::var_os("UDF_HUNT_TRACE").is_some() {
                let p = structured(&mut Rng::new(seed), &shape);
                eprintln!(
                    "HUNT-TRY {focus:?} {n} seed {seed} {ty} after {:?}\n{}",
                    start.elapsed(),
                    disassemble(&p)
                );
            }
            match shaped_case(&mut jit, seed, shape, &mut skipped) {
                Ok(a) => accepted += u64::from(a),
                Err(e) => found = Some(format!("seed {seed}: {e}")),
            }
        }
        let name = focus.map_or_else(|| "plain".to_string(), |h| format!("{h:?}"));
        match found {
            Some(e) => eprintln!(
                "HUNT {name}: first difference after {n} programs ({accepted} accepted before), {:.2}s:\n{e}",
                start.elapsed().as_secs_f64()
            ),
            None => eprintln!(
                "HUNT {name}: none in {n} programs ({accepted} accepted), {:.2}s",
                start.elapsed().as_secs_f64()
            ),
        }
    }
}

/// The JIT's planted bug (`Options::fault_injection`: an "either region" access placed by its
/// base register, not base + offset) is caught by the trusted campaign. The planted code may
/// crash the process (a wild read), so the campaign runs in a child process
/// ([`planted_region_choice_child`]); a crash or a reported difference counts as caught.
#[test]
fn planted_region_choice_is_caught() {
    let start = std::time::Instant::now();
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "planted_region_choice_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("UDF_PLANT_CHILD", "1")
        .output()
        .expect("runs the child");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tried = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("PLANT-TRY "))
        .next_back()
        .unwrap_or("0")
        .to_string();
    assert!(
        !out.status.success(),
        "the planted region bug was not caught ({tried} programs):\n{stderr}"
    );
    let how = match out.status.code() {
        None => "the planted code crashed the process".to_string(),
        Some(_) => stderr
            .lines()
            .find(|l| l.contains("differs") || l.contains("panicked"))
            .unwrap_or("a difference")
            .to_string(),
    };
    println!(
        "planted JIT region bug caught after {tried} programs in {:.2}s: {how}",
        start.elapsed().as_secs_f64()
    );
}

/// The child of [`planted_region_choice_is_caught`] (ignored on its own: its verdict is read by
/// the parent). Runs the trusted campaign with the planted JIT for up to 60 seconds, printing
/// each program's number before running it, and panics on a difference.
#[test]
#[ignore = "child process of planted_region_choice_is_caught"]
fn planted_region_choice_child() {
    assert!(std::env::var_os("UDF_PLANT_CHILD").is_some(), "run by the parent test");
    let mut jit = host_jit();
    jit.options.fault_injection = true;
    let start = std::time::Instant::now();
    let mut skipped = 0;
    let mut n = 0u64;
    while start.elapsed() < std::time::Duration::from_secs(60) {
        let seed = 7_000_000 + n;
        let ty = VERIFIED[(seed % 4) as usize];
        let shape = match n / 4 % 3 {
            0 => Shape::new(ty, 40),
            1 => Shape::focused(ty, 40, Hazard::EitherRegion),
            _ => Shape::focused(ty, 40, Hazard::LoopRegion),
        };
        n += 1;
        eprintln!("PLANT-TRY {n}");
        if let Err(e) = shaped_case(&mut jit, seed, shape, &mut skipped) {
            panic!("seed {seed}: {e}");
        }
    }
}
