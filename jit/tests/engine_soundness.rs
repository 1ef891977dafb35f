//! Regression tests for the engine bugs of issue 15, one test per class, each run on the
//! interpreter and on every JIT mode that applies (trusted, hardened, checked), which must
//! agree:
//!
//! - **region chosen by address**: an access proven "stack on one path, context on another"
//!   (`Access::Either`) must be placed by the address `base + off`, not by `base`;
//! - **context lengths the facts did not assume are refused** before anything runs, by
//!   `Executable::run` and by a runner, in trusted and hardened mode;
//! - **`LD_IND` offsets wrap at 2^32**, `(X + k) mod 2^32`, on every engine;
//! - **the engines refuse the same programs**: a verified program is run by both without the
//!   conservative register check, an unverified one refused by both;
//! - **hardened mode** catches an out-of-bounds context access that wrong facts would let
//!   trusted code make, with the interpreter's fault.

use udf_bytecode::{Program, ProgramType, assemble};
use udf_jit::{Executable, Jit, JitError, Mode, Target};
use udf_runtime::{Context, Fault, FaultKind, NoHelpers, RunOptions, Vm, pre_run_checks, prepare};
use udf_verifier::{Access, Config, Verified, verify};

fn host_jit() -> Jit {
    Jit::new(Target::host().expect("these tests run on x86-64")).unwrap()
}

fn asm(text: &str) -> Program {
    assemble(text).unwrap_or_else(|e| panic!("{e:?}\n{text}"))
}

fn verified(prog: &Program, ty: ProgramType, ctx_size: Option<u32>) -> Verified {
    let mut conf = Config::new(ty);
    conf.ctx_size = ctx_size;
    verify(prog, &conf).unwrap_or_else(|r| panic!("the verifier must accept it: {r:?}"))
}

fn opts() -> RunOptions {
    RunOptions { budget: 1_000_000, r3: 0 }
}

/// The interpreter's run of a program (verified or not, which decides its pre-run checks).
fn interp(prog: &Program, ty: ProgramType, verified: bool, input: &[u8]) -> Result<u64, Fault> {
    let compiled = prepare(prog, &pre_run_checks(ty, verified)).expect("passes the checks");
    Vm::new().run(&compiled, Context::ReadOnly(input), &mut NoHelpers, &opts()).map(|o| o.r0)
}

fn native(jit: &mut Jit, prog: &Program, ty: ProgramType, mode: Mode<'_>) -> Executable {
    let code =
        jit.compile(prog, ty, mode).unwrap_or_else(|e| panic!("{} compile: {e}", mode.name()));
    Executable::new(code).unwrap()
}

/// A native run, through `Executable::run` and through a runner (which must agree).
fn run_native(exe: &Executable, input: &[u8]) -> Result<u64, Fault> {
    let once =
        exe.run(&mut Vm::new(), Context::ReadOnly(input), &mut NoHelpers, &opts()).map(|o| o.r0);
    let mut runner = exe.runner();
    for _ in 0..2 {
        let again = runner.run(Context::ReadOnly(input), &mut NoHelpers, &opts()).map(|o| o.r0);
        assert_eq!(once, again, "a runner differs from Executable::run");
    }
    once
}

/// Every engine on every input: interpreter, trusted, hardened, and checked when the program
/// passes the checks of unverified programs.
fn all_agree(prog: &Program, ty: ProgramType, facts: &Verified, inputs: &[&[u8]]) -> Vec<u64> {
    let mut jit = host_jit();
    let mut exes = vec![
        ("trusted", native(&mut jit, prog, ty, Mode::Trusted(facts))),
        ("hardened", native(&mut jit, prog, ty, Mode::Hardened(facts))),
    ];
    if udf_bytecode::check(prog, &pre_run_checks(ty, false)).is_ok() {
        exes.push(("checked", native(&mut jit, prog, ty, Mode::Checked)));
    }
    inputs
        .iter()
        .map(|input| {
            let want = interp(prog, ty, true, input);
            for (name, exe) in &exes {
                assert_eq!(run_native(exe, input), want, "{name} on {input:?}");
            }
            want.unwrap_or_else(|f| panic!("a verified program faulted: {f}"))
        })
        .collect()
}

/// A function called once with a context pointer and once with a stack pointer, each moved
/// 20000 bytes down (the stack pointer far below the whole stack, `STACK_BASE`) and brought
/// back by the instruction's offset. Trusted code that chose the region by the base register
/// sent the stack access to the context.
const EITHER_FAR_BELOW: &str = "
mov %r6, %r1
sub %r1, 20000
call local f
mov %r7, %r0
stdw [%r10-8], 0x5a
mov %r1, %r10
sub %r1, 20008
call local f
add %r0, %r7
exit
f:
ldxb %r0, [%r1+20000]
exit
";

#[test]
fn either_region_is_decided_by_the_address_not_the_base() {
    let prog = asm(EITHER_FAR_BELOW);
    let facts = verified(&prog, ProgramType::Size, Some(8));
    assert!(facts.access.contains(&Access::Either), "the load in f is proven 'context or stack'");
    let got = all_agree(&prog, ProgramType::Size, &facts, &[&[7, 1, 1, 1, 1, 1, 1, 1], &[0xff; 8]]);
    assert_eq!(got, [7 + 0x5a, 0xff + 0x5a]);
}

/// The same with an 8-byte load, the stack pointer below the stack by more than the offset's
/// range of the context, and the function reached with the stack pointer first.
#[test]
fn either_region_with_the_stack_path_first() {
    let prog = asm("
stdw [%r10-16], 0x1234
mov %r6, %r1
mov %r1, %r10
sub %r1, 32000
call local f
mov %r7, %r0
mov %r1, %r6
sub %r1, 31984
call local f
add %r0, %r7
exit
f:
ldxdw %r0, [%r1+31984]
exit
");
    let facts = verified(&prog, ProgramType::Size, Some(8));
    assert!(facts.access.contains(&Access::Either));
    let got = all_agree(&prog, ProgramType::Size, &facts, &[&[1, 0, 0, 0, 0, 0, 0, 0]]);
    assert_eq!(got, [0x1234 + 1]);
}

/// An `acl` program verified for any object (the 16-byte request and then at least nothing):
/// contexts shorter than the request are refused by every run of code compiled from its facts,
/// before anything runs; the interpreter would fault reading the request.
#[test]
fn contexts_the_facts_did_not_assume_are_refused() {
    let prog = asm("ldxdw %r0, [%r1+0]\nldxw %r2, [%r1+8]\nadd %r0, %r2\nexit");
    let facts = verified(&prog, ProgramType::Acl, None);
    assert_eq!(facts.ctx_len.0, 16, "the proof assumed the request");
    let mut jit = host_jit();
    for mode in [Mode::Trusted(&facts), Mode::Hardened(&facts)] {
        let exe = native(&mut jit, &prog, ProgramType::Acl, mode);
        assert_eq!(exe.code().ctx_len(), facts.ctx_len);
        for len in [0usize, 1, 8, 15] {
            let input = vec![0xab; len];
            let mut runner = exe.runner();
            for got in [
                run_native(&exe, &input),
                runner.run(Context::ReadOnly(&input), &mut NoHelpers, &opts()).map(|o| o.r0),
            ] {
                let f = got.expect_err("a context shorter than the request is refused");
                assert_eq!(
                    f.kind,
                    FaultKind::ContextRefused {
                        len: len as u64,
                        min: facts.ctx_len.0,
                        max: facts.ctx_len.1
                    },
                    "{}",
                    mode.name()
                );
                assert!(f.to_string().contains("nothing ran"), "{f}");
            }
            // The runner still runs an admitted context after a refusal.
            let ok = runner.run(Context::ReadOnly(&[1; 16]), &mut NoHelpers, &opts()).map(|o| o.r0);
            assert_eq!(ok, Ok(0x0101_0101_0101_0101 + 0x0101_0101));
        }
        assert_eq!(run_native(&exe, &[0; 16]), Ok(0));
        assert_eq!(run_native(&exe, &[0; 40]), Ok(0));
    }
    // Checked code has no facts and checks every access itself: any length runs.
    let exe = native(&mut jit, &prog, ProgramType::Acl, Mode::Checked);
    assert_eq!(exe.code().ctx_len(), (0, u64::MAX));
    assert_eq!(run_native(&exe, &[]), interp(&prog, ProgramType::Acl, true, &[]));
}

/// A fixed-size type (`size` over an 8-byte object): any other size is refused.
#[test]
fn fixed_size_contexts_refuse_every_other_size() {
    let prog = asm("ldxdw %r0, [%r1+0]\nexit");
    let facts = verified(&prog, ProgramType::Size, Some(8));
    assert_eq!(facts.ctx_len, (8, 8));
    let mut jit = host_jit();
    for mode in [Mode::Trusted(&facts), Mode::Hardened(&facts)] {
        let exe = native(&mut jit, &prog, ProgramType::Size, mode);
        for len in [0usize, 7, 9, 64] {
            let got = run_native(&exe, &vec![1; len]);
            assert!(
                matches!(got, Err(Fault { pc: 0, kind: FaultKind::ContextRefused { .. } })),
                "{} on {len} bytes: {got:?}",
                mode.name()
            );
        }
        assert_eq!(run_native(&exe, &[2, 0, 0, 0, 0, 0, 0, 0]), Ok(2));
    }
}

/// `LD_IND` computes `X + k` in 32 bits: past 2^32 it wraps to the start of the packet.
#[test]
fn ld_ind_offsets_wrap_at_2_pow_32() {
    let pkt: &[u8] = &[10, 11, 12, 13, 14, 15];
    for (text, want) in [
        // X = 0xffffffff, k = 1: byte 0.
        ("mov32 %r6, -1\nldindb %r6, 1\nexit", 10),
        // X = 0x1_0000_0002 (its low 32 bits are the index), k = 0: byte 2.
        ("lddw %r6, 0x100000002\nldindb %r6, 0\nexit", 12),
        // X = 0xfffffffe, k = 3: bytes 1-2, big-endian.
        ("mov32 %r6, -2\nldindh %r6, 3\nexit", 0x0b0c),
        // k = -4 (0xfffffffc), X = 5: bytes 1-4.
        ("mov %r6, 5\nldindw %r6, -4\nexit", 0x0b0c_0d0e),
        // Still out of bounds after wrapping: the program returns 0.
        ("mov32 %r6, -1\nldindw %r6, 4\nmov %r0, 1\nexit", 0),
        ("mov32 %r6, -1\nldindb %r6, 0\nmov %r0, 1\nexit", 0),
        // In bounds without wrapping, as before.
        ("mov %r6, 2\nldindb %r6, 3\nexit", 15),
    ] {
        let prog = asm(text);
        let facts = verified(&prog, ProgramType::Filter, None);
        let got = all_agree(&prog, ProgramType::Filter, &facts, &[pkt]);
        assert_eq!(got, [want], "{text}");
    }
}

/// A register never written, read only in code no run reaches: the verifier accepts the
/// program (the read never happens), so both engines run it as a verified program without the
/// conservative register check. Unverified (`raw`), both make the same pre-run check: both
/// refuse a read the control-flow graph can reach (the branch is infeasible only by value),
/// both run one it cannot.
#[test]
fn engines_refuse_the_same_programs() {
    for (text, refused_unverified) in [
        ("mov %r0, 1\njeq %r0, 1, +2\nmov %r0, %r7\nadd %r0, %r8\nexit", true),
        ("mov %r0, 0\njne %r0, 0, +1\nexit\nmov %r0, %r5\nexit", true),
        ("mov %r0, 0\nja +1\nmov %r0, %r5\nexit", false),
    ] {
        let prog = asm(text);
        let facts = verified(&prog, ProgramType::Filter, None);
        let got = all_agree(&prog, ProgramType::Filter, &facts, &[&[], &[1, 2, 3]]);
        assert!(got.iter().all(|&r| r <= 1), "{text}: {got:?}");
        // Unverified: the interpreter's pre-run check and the JIT's are one.
        let interp = prepare(&prog, &pre_run_checks(ProgramType::Raw, false));
        let mut jit = host_jit();
        let native = jit.compile(&prog, ProgramType::Raw, Mode::Checked);
        match (interp, native) {
            (Err(a), Err(JitError::Check(b))) => {
                assert!(refused_unverified, "{text}: refused: {a}");
                assert_eq!(a, b, "{text}");
            }
            (Ok(_), Ok(_)) => assert!(!refused_unverified, "{text}: both ran it"),
            (a, b) => panic!("{text}: the engines disagree: {a:?} / {b:?}"),
        }
    }
}

/// Facts that do not belong to the program (here: a context access declared `Ctx` for a load
/// past the 8-byte object). Trusted code believes them and reads outside the context; hardened
/// code checks the access and faults exactly as the interpreter does.
#[test]
fn hardened_code_catches_an_access_wrong_facts_allow() {
    let good = asm("ldxdw %r0, [%r1+0]\nexit");
    let facts = verified(&good, ProgramType::Size, Some(8));
    assert_eq!(facts.access[0], Access::Ctx);
    // Same length, same access kind, but 4096 bytes further.
    let bad = asm("ldxdw %r0, [%r1+4096]\nexit");
    let mut jit = host_jit();
    // The JIT refuses to pair a verified program's facts with another program.
    assert!(matches!(
        jit.compile(&bad, ProgramType::Size, Mode::Hardened(&facts)),
        Err(udf_jit::JitError::Facts)
    ));
    // Only a test build can make the pairing (as a verifier bug would).
    let facts =
        Verified::assume_for_tests(bad.clone(), ProgramType::Size, Some(8), facts.into_facts());
    let exe = native(&mut jit, &bad, ProgramType::Size, Mode::Hardened(&facts));
    let input = [3u8; 8];
    let want = Vm::new().run(
        &udf_runtime::Compiled::new(&bad),
        Context::ReadOnly(&input),
        &mut NoHelpers,
        &opts(),
    );
    let got = run_native(&exe, &input);
    assert_eq!(got.map(|_| ()), want.map(|_| ()));
    let f = run_native(&exe, &input).unwrap_err();
    assert_eq!(f.pc, 0);
    assert!(matches!(f.kind, FaultKind::OutOfBounds { size: 8, write: false, .. }), "{f}");
    // A negative offset too, and a byte load just past the end.
    for text in ["ldxb %r0, [%r1-1]\nexit", "ldxb %r0, [%r1+8]\nexit"] {
        let bad = asm(text);
        let facts = Verified::assume_for_tests(
            bad.clone(),
            ProgramType::Size,
            Some(8),
            facts.facts().clone(),
        );
        let exe = native(&mut jit, &bad, ProgramType::Size, Mode::Hardened(&facts));
        let f = run_native(&exe, &input).unwrap_err();
        assert!(matches!(f.kind, FaultKind::OutOfBounds { .. }), "{text}: {f}");
    }
    // In bounds, hardened code runs as trusted code does.
    let facts = verified(&good, ProgramType::Size, Some(8));
    let exe = native(&mut jit, &good, ProgramType::Size, Mode::Hardened(&facts));
    assert_eq!(run_native(&exe, &input), Ok(0x0303_0303_0303_0303));
}
