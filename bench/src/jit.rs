//! JIT against interpreters, side by side in one process on the `interp` benchmark's ALU loop
//! and memory loop (same bytecode, same input):
//!
//! - udfkit's interpreter ([`Vm::run`]);
//! - udfkit's JIT in trusted mode: the program verified as a `size` program (read-only context
//!   of the input's length), then compiled with the verifier's facts: no checks, no metering;
//! - udfkit's JIT in checked mode: a `raw` program, every access checked, the budget metered;
//! - with the `rbpf` feature, rbpf 0.4's interpreter, x86-64 JIT and Cranelift backend.
//!
//! Every engine's `r0` must equal the interpreter's. Figures are nanoseconds per instruction
//! executed (as counted by the interpreter), each the best of several timed repetitions; the
//! JIT compile times follow the table.

use std::time::{Duration, Instant};

use udf_bytecode::{CheckConfig, Program, ProgramType, assemble};
use udf_jit::{Executable, Jit, Mode, Target};
use udf_runtime::{Context, NoHelpers, RunOptions, Vm, prepare};
use udf_verifier::{Config, verify};

use crate::{best_per_call, cases, ours};

#[cfg_attr(not(feature = "rbpf"), allow(dead_code))]
/// rbpf's engines on one program: time per call, or why the engine could not run it.
struct Peers {
    interp: Duration,
    x86: Result<Duration, String>,
    cranelift: Result<Duration, String>,
}

/// Prints the table, then the compile times and any program that did not verify.
pub fn run(quick: bool) {
    let (min, reps) =
        if quick { (Duration::from_millis(30), 2) } else { (Duration::from_millis(300), 9) };
    let mut jit = Jit::new(Target::X86_64).expect("x86-64 backend");
    let mut notes = Vec::new();
    println!(
        "| benchmark | executed insns | udfkit interp ns/insn | udfkit JIT trusted ns/insn \
         | udfkit JIT checked ns/insn | rbpf 0.4 interp ns/insn | rbpf 0.4 x86 JIT ns/insn \
         | rbpf 0.4 Cranelift ns/insn | trusted JIT speed-up over udfkit interp \
         | rbpf x86 JIT / trusted JIT | rbpf Cranelift / trusted JIT |"
    );
    println!("|{}", " --- |".repeat(11));
    for case in cases() {
        let prog = assemble(&case.src).expect("benchmark source assembles");
        let compiled = prepare(&prog, &CheckConfig::for_type(ProgramType::Raw)).expect("checks");
        let (want, executed) = ours(&compiled, &case.mem);
        let ns = |t: Duration| t.as_nanos() as f64 / executed as f64;
        let mut vm = Vm::new();
        let opts = RunOptions::default();

        let mut m = case.mem.clone();
        let (t, r0) = best_per_call(min, reps, || {
            let ctx = Context::ReadWrite(&mut m);
            vm.run(&compiled, ctx, &mut NoHelpers, &opts).map_or(u64::MAX, |o| o.r0)
        });
        assert_eq!(r0, want);
        let interp = ns(t);

        let mut conf = Config::new(ProgramType::Size);
        conf.ctx_size = Some(case.mem.len() as u32);
        conf.budget = 50_000_000;
        let trusted = match verify(&prog, &conf) {
            Ok(facts) => {
                let (exe, c) = compile(&mut jit, &prog, ProgramType::Size, Mode::Trusted(&facts));
                notes.push(format!("{}: trusted compile {:.3} ms", case.name, ms(c)));
                let (t, r0) = best_per_call(min, reps, || {
                    let ctx = Context::ReadOnly(&case.mem);
                    exe.run(&mut vm, ctx, &mut NoHelpers, &opts).map_or(u64::MAX, |o| o.r0)
                });
                assert_eq!(r0, want, "trusted JIT and interpreter disagree");
                Some(ns(t))
            }
            Err(e) => {
                eprintln!("{}: does not verify as a size program: {e}", case.name);
                notes.push(format!("{}: no trusted JIT, does not verify: {e}", case.name));
                None
            }
        };

        let (exe, c) = compile(&mut jit, &prog, ProgramType::Raw, Mode::Checked);
        notes.push(format!("{}: checked compile {:.3} ms", case.name, ms(c)));
        let mut m = case.mem.clone();
        let (t, r0) = best_per_call(min, reps, || {
            let ctx = Context::ReadWrite(&mut m);
            let out = exe.run(&mut vm, ctx, &mut NoHelpers, &opts);
            out.map_or(u64::MAX, |o| {
                assert_eq!(o.executed, Some(executed), "checked JIT miscounts");
                o.r0
            })
        });
        assert_eq!(r0, want, "checked JIT and interpreter disagree");
        let checked = ns(t);

        let ratio = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.2}x"));
        let mut row = vec![
            case.name.to_string(),
            executed.to_string(),
            format!("{interp:.2}"),
            trusted.map_or("not verified".to_string(), |t| format!("{t:.2}")),
            format!("{checked:.2}"),
        ];
        let (rbpf, vs_rbpf) = match peers(&prog, &case.mem, want, min, reps) {
            None => (vec![NO_RBPF.to_string(); 3], vec![NO_RBPF.to_string(); 2]),
            Some(p) => {
                let cell = |r: &Result<Duration, String>| match r {
                    Ok(t) => format!("{:.2}", ns(*t)),
                    Err(e) => format!("fails: {e}"),
                };
                // rbpf's time over the trusted JIT's: above 1 means ours is faster.
                let vs = |r: &Result<Duration, String>| {
                    ratio(r.as_ref().ok().zip(trusted).map(|(t, ours)| ns(*t) / ours))
                };
                let times = vec![format!("{:.2}", ns(p.interp)), cell(&p.x86), cell(&p.cranelift)];
                (times, vec![vs(&p.x86), vs(&p.cranelift)])
            }
        };
        row.extend(rbpf);
        row.push(ratio(trusted.map(|t| interp / t)));
        row.extend(vs_rbpf);
        println!("| {} |", row.join(" | "));
    }
    println!("\nudfkit JIT compile time (x86-64, best of 5 compiles):\n");
    for n in notes {
        println!("- {n}");
    }
}

const NO_RBPF: &str = "(build with --features rbpf)";

fn ms(t: Duration) -> f64 {
    t.as_secs_f64() * 1e3
}

/// Compiles `prog` five times, keeping the best time, and maps the code.
fn compile(
    jit: &mut Jit,
    prog: &Program,
    ty: ProgramType,
    mode: Mode<'_>,
) -> (Executable, Duration) {
    let mut best = Duration::MAX;
    let mut code = None;
    for _ in 0..5 {
        let start = Instant::now();
        code = Some(jit.compile(prog, ty, mode).expect("benchmark programs compile"));
        best = best.min(start.elapsed());
    }
    let exe = Executable::new(code.expect("compiled")).expect("x86-64 host");
    (exe, best)
}

#[cfg(feature = "rbpf")]
#[allow(unsafe_code)]
fn peers(prog: &Program, mem: &[u8], want: u64, min: Duration, reps: usize) -> Option<Peers> {
    let bytes = prog.encode();
    let mut m = mem.to_vec();
    let mut vm = rbpf::EbpfVmRaw::new(Some(&bytes)).expect("rbpf loads the program");
    let (interp, r0) =
        best_per_call(min, reps, || vm.execute_program(&mut m).expect("rbpf runs it"));
    assert_eq!(r0, want, "rbpf's interpreter and udfkit disagree");
    let x86 = vm.jit_compile().map_err(|e| e.to_string()).map(|()| {
        let (t, r0) = best_per_call(min, reps, || {
            // SAFETY: rbpf's JIT code does not check memory accesses; the program was just run
            // to exit by rbpf's interpreter, which does, on this same input, and it only reads
            // `m` (which stays alive and unmoved for the call) and writes its own stack.
            unsafe { vm.execute_program_jit(&mut m) }.expect("rbpf's JIT runs it")
        });
        assert_eq!(r0, want, "rbpf's x86 JIT and udfkit disagree");
        t
    });
    let cranelift = vm.cranelift_compile().map_err(|e| e.to_string()).map(|()| {
        let (t, r0) = best_per_call(min, reps, || {
            vm.execute_program_cranelift(&mut m).expect("rbpf's Cranelift code runs it")
        });
        assert_eq!(r0, want, "rbpf's Cranelift backend and udfkit disagree");
        t
    });
    Some(Peers { interp, x86, cranelift })
}

#[cfg(not(feature = "rbpf"))]
fn peers(_: &Program, _: &[u8], _: u64, _: Duration, _: usize) -> Option<Peers> {
    None
}
