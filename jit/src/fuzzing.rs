//! The JIT's fuzz oracle (feature `fuzzing`): the fuzz target `jit_diff` in `fuzz/` calls
//! [`jit_diff`], and the same oracle runs for a few seconds under `cargo test`
//! (`tests/fuzz_oracles.rs`, which also replays `fuzz/regressions/jit_diff/`).
//!
//! Inputs are [`udf_runtime::fuzzing::Case`]s, the format `verify_then_check` reads, so the
//! two targets share seeds and crashers.

use std::cell::RefCell;

use udf_bytecode::{CheckConfig, ProgramType};
use udf_runtime::fuzzing::{Case, Run};
use udf_runtime::{Context, EmitHelpers, Extent, Fault, RunOptions, Vm, prepare};
use udf_verifier::{Facts, Verified, verify};

use crate::{Executable, Jit, JitError, Mode, Target};

/// Everything a run leaves behind that the engines must agree on.
#[derive(Debug, PartialEq, Eq)]
pub struct Ending {
    /// `r0`, or the fault (kind and instruction).
    pub result: Result<u64, Fault>,
    /// Instructions executed, when the engine counts them (the interpreter and checked code).
    pub executed: Option<u64>,
    /// The extents emitted (`owns`).
    pub extents: Vec<Extent>,
    /// The context afterwards.
    pub ctx: Vec<u8>,
    /// The whole stack afterwards.
    pub stack: Vec<u8>,
}

/// How a native mode treats a verified program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admit {
    /// It must compile every program the verifier accepts (trusted, hardened).
    Verified,
    /// It makes its own pre-run checks, for unverified programs (checked mode checks that
    /// every register read is written on every path, dead paths too): a refusal there skips
    /// the mode.
    OwnChecks,
}

/// The native modes every verified program is compiled in and compared with the interpreter:
/// a mode added to the JIT is one more line here.
fn modes(verified: &Verified) -> Vec<(&'static str, Mode<'_>, Admit)> {
    vec![
        ("trusted", Mode::Trusted(verified), Admit::Verified),
        ("hardened", Mode::Hardened(verified), Admit::Verified),
        ("checked", Mode::Checked, Admit::OwnChecks),
    ]
}

thread_local! {
    /// One JIT per thread, reused across inputs (making the ISA costs more than most runs).
    static JIT: RefCell<Option<Jit>> = const { RefCell::new(None) };
}

/// Runs on the interpreter (`exe` = `None`) or on native code, with a fresh machine.
fn run_on(
    ty: ProgramType,
    exe: Option<&Executable>,
    run: &Run,
    facts: &Facts,
    prog: &udf_runtime::Compiled,
) -> Ending {
    let mut vm = Vm::new();
    let mut ctx = run.input.clone();
    let limit = usize::try_from(facts.max_extents).unwrap_or(usize::MAX);
    let mut helpers = EmitHelpers::new(limit);
    let opts = RunOptions { budget: facts.max_insns, r3: run.r3 };
    let context = if ty.info().ctx.writable {
        Context::ReadWrite(&mut ctx)
    } else {
        Context::ReadOnly(&run.input)
    };
    let (result, executed) = match exe {
        None => match vm.run(prog, context, &mut helpers, &opts) {
            Ok(o) => (Ok(o.r0), Some(o.executed)),
            Err(f) => (Err(f), None),
        },
        Some(exe) => match exe.run(&mut vm, context, &mut helpers, &opts) {
            Ok(o) => (Ok(o.r0), o.executed),
            Err(f) => (Err(f), None),
        },
    };
    Ending { result, executed, extents: helpers.extents, ctx, stack: vm.stack().to_vec() }
}

fn differs(name: &str, want: &Ending, got: &Ending) -> Option<String> {
    let executed = match (want.executed, got.executed) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    if want.result == got.result
        && executed
        && want.extents == got.extents
        && want.ctx == got.ctx
        && want.stack == got.stack
    {
        return None;
    }
    Some(format!(
        "{name} JIT differs from the interpreter\ninterp: {:?}, executed {:?}, extents {:?}\n{name}: {:?}, executed {:?}, extents {:?}\ncontext equal: {}, stack equal: {}",
        want.result,
        want.executed,
        want.extents,
        got.result,
        got.executed,
        got.extents,
        want.ctx == got.ctx,
        want.stack == got.stack,
    ))
}

/// Decodes `data` ([`Case`]); if the verifier accepts the program, compiles it in every
/// native mode (trusted; checked too when its own pre-run checks pass) and runs it on the interpreter and on each mode's code over every admitted
/// run of [`Case::runs`]: `r0` or the fault, the instruction count (where both count), the
/// extents, the context and the whole stack must be identical, or it panics with the program
/// disassembled. The interpreter runs first, and a fault there (the verifier proved there
/// is none) panics before any native code runs. On a host the JIT cannot run code for,
/// nothing is compared. Returns how many runs were compared (0: refused, or not a program).
pub fn jit_diff(data: &[u8]) -> usize {
    let Some(target) = Target::host() else {
        return 0;
    };
    let Some(case) = Case::from_bytes(data) else {
        return 0;
    };
    let Ok(facts) = verify(&case.program, &case.config(false)) else {
        return 0;
    };
    let mut cfg = CheckConfig::for_type(case.ty);
    cfg.check_registers = false;
    let interp = match prepare(&case.program, &cfg) {
        Ok(c) => c,
        Err(e) => panic!(
            "a verified program fails the interpreter's pre-run checks: {e}\n{}",
            case.describe(Some(&facts))
        ),
    };
    let modes = modes(&facts);
    let exes: Vec<(&str, Executable)> = JIT.with(|cell| {
        let mut slot = cell.borrow_mut();
        let jit = slot.get_or_insert_with(|| Jit::new(target).expect("the host's JIT"));
        let mut exes = Vec::new();
        for &(name, mode, admit) in &modes {
            let code = match jit.compile(&case.program, case.ty, mode) {
                Ok(code) => code,
                Err(JitError::Check(_)) if admit == Admit::OwnChecks => continue,
                Err(e) => panic!(
                    "{name} JIT refuses a verified program: {e}\n{}",
                    case.describe(Some(&facts))
                ),
            };
            let exe = Executable::new(code).unwrap_or_else(|e| panic!("{name}: load: {e}"));
            exes.push((name, exe));
        }
        exes
    });
    let mut compared = 0;
    for run in case.runs(&facts) {
        // Lengths the facts do not admit are the run paths' to refuse; only what the proof
        // covers is compared.
        if !run.admitted {
            continue;
        }
        compared += 1;
        let want = run_on(case.ty, None, &run, &facts, &interp);
        if let Err(f) = &want.result {
            panic!(
                "a verified program faults on the interpreter: {f}\non {} bytes {:02x?}, r3 {}\n{}",
                run.input.len(),
                run.input,
                run.r3,
                case.describe(Some(&facts))
            );
        }
        for (name, exe) in &exes {
            let got = run_on(case.ty, Some(exe), &run, &facts, &interp);
            if let Some(d) = differs(name, &want, &got) {
                panic!(
                    "{d}\non {} bytes {:02x?}, r3 {}\n{}",
                    run.input.len(),
                    run.input,
                    run.r3,
                    case.describe(Some(&facts))
                );
            }
        }
    }
    compared
}
