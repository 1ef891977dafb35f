//! Accepted and rejected programs, each for a stated reason, where the test asserts more than
//! the verdict (facts, messages, configuration). The cases that are a program and its verdict
//! only are files: `filetests/cases/verifier/*.asmt`, run on every engine by `udf-filetests`.

use udf_bytecode::{ProgramType, assemble};
use udf_verifier::{Config, Facts, Rejection, verify};

fn conf(ty: ProgramType, ctx: Option<u32>) -> Config {
    let mut c = Config::new(ty);
    c.ctx_size = ctx;
    c
}

fn ok(ty: ProgramType, ctx: Option<u32>, src: &str) -> Facts {
    let p = assemble(src).expect("assembles");
    match verify(&p, &conf(ty, ctx)) {
        Ok(f) => f.into_facts(),
        Err(e) => panic!("rejected: {e}\n{src}"),
    }
}

fn bad(ty: ProgramType, ctx: Option<u32>, src: &str, code: &str) -> Rejection {
    let p = assemble(src).expect("assembles");
    match verify(&p, &conf(ty, ctx)) {
        Ok(f) => panic!("accepted ({f:?}), expected {code}\n{src}"),
        Err(e) => {
            assert_eq!(e.rule.code(), code, "{e}");
            e
        }
    }
}

#[test]
fn counted_loop_has_a_bound() {
    let f = ok(
        ProgramType::Size,
        Some(64),
        "
        mov %r0, 0
        mov %r6, 0
    loop:
        mov %r7, %r1
        add %r7, %r6
        ldxb %r8, [%r7+0]
        add %r0, %r8
        add %r6, 1
        jlt %r6, 64, loop
        exit",
    );
    // 2 + 64 * 6 + 1 instructions.
    assert_eq!(f.max_insns, 2 + 64 * 6 + 1);
    assert_eq!(f.loops[0].max_iterations, 64);
}

#[test]
fn unbounded_loops_are_named() {
    let e = bad(
        ProgramType::Size,
        Some(8),
        "mov %r0, 0\nloop:\njeq %r0, 0, loop\nexit",
        "no-loop-bound",
    );
    assert!(e.to_string().contains("loop 1..1"), "{e}");
    let e = bad(ProgramType::Size, Some(8), "mov %r0, 0\nloop:\nadd %r0, 1\nja loop", "budget");
    assert!(e.to_string().contains("loop 1..2"), "{e}");
}

#[test]
fn budget_is_configurable() {
    let src = "mov %r0, 0\nloop:\nadd %r0, 1\njlt %r0, 1000, loop\nexit";
    let p = assemble(src).unwrap();
    let mut c = conf(ProgramType::Size, Some(8));
    assert_eq!(verify(&p, &c).unwrap().max_insns, 2002);
    c.budget = 2001;
    assert_eq!(verify(&p, &c).unwrap_err().rule.code(), "budget");
}

#[test]
fn stack_rules() {
    // A constant spilled whole reads back exactly, even in parts.
    let f = ok(
        ProgramType::Size,
        Some(8),
        "lddw %r3, 0x1122334455667788\nstxdw [%r10-8], %r3\nldxb %r0, [%r10-8]\njeq %r0, 0x88, +1\nldxdw %r0, [%r10-16]\nexit",
    );
    assert!(!f.warnings.is_empty(), "the read of [-16] is dead code");
}

#[test]
fn registers_must_be_written() {
    let e = bad(ProgramType::Size, Some(8), "mov %r0, %r5\nexit", "uninit-read");
    assert_eq!(e.regs.len(), 1);
}

#[test]
fn helpers_of_owns() {
    let f = ok(
        ProgramType::Owns,
        Some(16),
        "
        mov %r6, 0
        mov %r9, %r1
    loop:
        ldxw %r1, [%r9+0]
        mov %r2, 1
        mov %r3, 0
        call 1
        add %r6, 1
        jlt %r6, 3, +1
        ja out
        ja loop
    out:
        mov %r0, 0
        exit",
    );
    assert_eq!(f.max_extents, 3);
}

#[test]
fn local_calls() {
    let f = ok(
        ProgramType::Size,
        Some(8),
        "
        stdw [%r10-8], 7
        mov %r1, %r10
        add %r1, -8
        call local f
        exit
    f:
        ldxdw %r0, [%r1+0]
        add %r0, 1
        exit",
    );
    assert_eq!(f.max_frames, 2);
}

#[test]
fn loops_entered_at_two_points_are_analysed() {
    // Irreducible flow: bounded on every path, so accepted (runtime/tests/precision.rs has
    // more layouts, checked by the checking interpreter).
    let f = ok(
        ProgramType::Size,
        Some(8),
        "mov %r0, 0\njeq %r2, 0, inside\nhead:\nadd %r0, 1\ninside:\nadd %r0, 1\njlt %r0, 5, head\nexit",
    );
    assert_eq!(f.loops.len(), 1);
}

#[test]
fn million_straight_instructions() {
    let mut src = String::from("mov %r0, 0\n");
    for _ in 0..1_000_000 - 2 {
        src.push_str("add %r0, 1\n");
    }
    src.push_str("exit\n");
    let f = ok(ProgramType::Size, Some(8), &src);
    assert_eq!(f.max_insns, 1_000_000);
}
