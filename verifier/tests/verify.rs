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

/// The merged demultiplexer's lookup helper: only a `filter` verified with the demux helper set
/// may call it, only with numbers, and its result is known to be 0 or 1.
#[test]
fn demux_lookup_contract() {
    use udf_bytecode::progtype::DEMUX_HELPERS;
    let demux = |src: &str| {
        let p = assemble(src).expect("assembles");
        let mut c = Config::new(ProgramType::Filter);
        c.helpers = Some(DEMUX_HELPERS);
        verify(&p, &c).map_err(Box::new)
    };
    let call = "
        mov %r1, 3
        mov %r2, 5
        mov %r3, 0
        mov %r4, 0
        mov %r5, 0
        call 2
        mov %r0, 0
        exit";
    let v = demux(call).expect("a lookup with numbers");
    assert_eq!(v.helpers(), DEMUX_HELPERS);
    // Not for a plain filter: the helper is not its type's.
    bad(ProgramType::Filter, None, call, "unknown-helper");
    // Not another id (the `owns` type's `emit`), with the demux set.
    let e = demux(&call.replace("call 2", "call 1")).expect_err("emit is not a demux helper");
    assert_eq!(e.rule.code(), "unknown-helper", "{e}");
    // No pointer as an argument: the packet, the stack, in any argument register.
    for (reg, ptr) in [(1, 1), (2, 1), (5, 10), (3, 10)] {
        let mut src = String::from("mov %r9, %r1\n");
        for r in 1..=5 {
            if r == reg {
                let p = if ptr == 1 { 9 } else { 10 };
                src.push_str(&format!("mov %r{r}, %r{p}\n"));
            } else {
                src.push_str(&format!("mov %r{r}, 0\n"));
            }
        }
        src.push_str("call 2\nmov %r0, 0\nexit");
        let e = demux(&src).expect_err("a pointer argument");
        assert_eq!(e.rule.code(), "helper-arg", "r{reg} = pointer: {e}\n{src}");
    }
    // The result is 0 or 1: a packet offset of r0 is in bounds with two bytes captured, of
    // r0 + r0 it is not.
    let offset = |extra: &str| {
        format!(
            "
        mov %r9, %r1
        mov %r8, %r2
        mov %r1, 0
        mov %r2, 0
        mov %r3, 0
        mov %r4, 0
        mov %r5, 0
        call 2
        {extra}
        jlt %r8, 2, out
        mov %r4, %r9
        add %r4, %r0
        ldxb %r0, [%r4+0]
    out:
        mov %r0, 0
        exit"
        )
    };
    demux(&offset("")).expect("r0 <= 1 after the lookup");
    let e = demux(&offset("add %r0, %r0")).expect_err("r0 + r0 may be 2");
    assert_eq!(e.rule.code(), "ctx-bounds", "{e}");
}
