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

use std::collections::BTreeMap;

use proptest::prelude::*;
use udf_bytecode::generate::{Rng, Shape, program, structured};
use udf_bytecode::{CheckConfig, Program, ProgramType, disassemble};
use udf_jit::{Executable, Jit, Mode, Target};
use udf_runtime::{Context, EmitHelpers, Extent, Fault, FaultKind, RunOptions, Vm, prepare};
use udf_verifier::{Config, verify};

fn cases() -> u32 {
    std::env::var("UDF_JIT_PROGRAMS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 64 } else { 512 })
}

/// Everything a run leaves behind.
#[derive(Debug, PartialEq, Eq)]
struct Run {
    result: Result<(u64, Option<u64>), Fault>,
    extents: Vec<Extent>,
    ctx: Vec<u8>,
    stack: Vec<u8>,
}

fn inputs(rng: &mut Rng, fixed: Option<u32>, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|k| {
            let len = fixed.map_or_else(|| [0, 1, 14, 34, 54, 64, 96][k % 7], |s| s as usize);
            rng.input(len)
        })
        .collect()
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
        Some(exe) => exe
            .run(&mut vm, context, &mut helpers, &opts)
            .map(|o| (o.r0, if count { o.executed } else { None })),
    };
    Run {
        result,
        extents: helpers.extents,
        ctx,
        stack: vm.stack().to_vec(),
    }
}

fn host_jit() -> Jit {
    Jit::new(Target::host().expect("these tests run on x86-64")).unwrap()
}

const VERIFIED: [ProgramType; 4] = [
    ProgramType::Filter,
    ProgramType::Owns,
    ProgramType::Acl,
    ProgramType::Size,
];

/// One generated program in trusted mode; `Ok(false)` when the verifier refused it.
fn trusted_case(jit: &mut Jit, seed: u64) -> Result<bool, String> {
    let mut rng = Rng::new(seed);
    let ty = VERIFIED[(seed % 4) as usize];
    let shape = Shape::new(ty, 40);
    let prog = structured(&mut rng, &shape);
    let mut conf = Config::new(ty);
    conf.ctx_size = match ty {
        ProgramType::Acl => shape.ctx_size.map(|n| n - 16),
        _ => shape.ctx_size,
    };
    conf.budget = 100_000;
    let Ok(facts) = verify(&prog, &conf) else {
        return Ok(false);
    };
    let mut exes = Vec::new();
    for mode in [Mode::Trusted(&facts), Mode::Hardened(&facts)] {
        let code = jit
            .compile(&prog, ty, mode)
            .map_err(|e| format!("{} compile: {e}\n{}", mode.name(), disassemble(&prog)))?;
        exes.push((
            mode.name(),
            Executable::new(code).map_err(|e| e.to_string())?,
        ));
    }
    for input in inputs(&mut rng, shape.ctx_size, 6) {
        let r3 = input.len() as u64 + rng.below(3);
        let want = run(&prog, ty, None, &input, r3, u64::MAX, false);
        for (name, exe) in &exes {
            let got = run(&prog, ty, Some(exe), &input, r3, u64::MAX, false);
            if want != got {
                return Err(format!(
                    "{ty} program differs on input {input:02x?}\ninterp: {:?} {:?}\n{name}: {:?} {:?}\n{}",
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
    let ty = if seed.is_multiple_of(3) {
        ProgramType::Size
    } else {
        ProgramType::Raw
    };
    if udf_bytecode::check(&prog, &CheckConfig::for_type(ty)).is_err() {
        *seen.entry("refused by the pre-run checks").or_default() += 1;
        return Ok(());
    }
    let code = jit
        .compile(&prog, ty, Mode::Checked)
        .map_err(|e| format!("compile: {e}\n{}", disassemble(&prog)))?;
    let exe = Executable::new(code).map_err(|e| e.to_string())?;
    for input in inputs(&mut rng, None, 6) {
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
        trusted_case(&mut jit, seed).map_err(TestCaseError::fail)?;
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
    let mut accepted = 0;
    for seed in 0..n {
        if trusted_case(&mut jit, seed).unwrap_or_else(|e| panic!("seed {seed}: {e}")) {
            accepted += 1;
        }
    }
    eprintln!("trusted: {accepted} of {n} generated programs accepted, each run on 6 inputs");
    assert!(
        accepted * 2 >= n,
        "only {accepted} of {n} programs verified"
    );
    let mut seen = BTreeMap::new();
    for seed in 0..n {
        checked_case(&mut jit, seed, &mut seen).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    }
    eprintln!("checked: {n} programs, how runs ended: {seen:?}");
    // The campaign must reach the faults it is meant to compare.
    for kind in ["exit", "out of bounds", "budget"] {
        assert!(
            seen.contains_key(kind),
            "no run ended with {kind}: {seen:?}"
        );
    }
}
