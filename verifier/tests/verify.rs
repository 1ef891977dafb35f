//! Accepted and rejected programs, each for a stated reason.

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
fn ihl_header_then_length_test() {
    // IPv4 after Ethernet: header length from IHL, then a test covering the read.
    let src = "
        mov %r0, 0
        mov %r4, %r2
        jlt %r4, 15, drop
        ldxb %r3, [%r1+14]
        and %r3, 15
        lsh %r3, 2
        mov %r4, %r3
        add %r4, 18
        jgt %r4, %r2, drop
        mov %r5, %r1
        add %r5, %r3
        ldxh %r0, [%r5+16]
    drop:
        exit";
    ok(ProgramType::Filter, None, src);
    // One byte short: the test proves 18 bytes past the header, the read needs 18.
    let short = src.replace("add %r4, 18", "add %r4, 17");
    let e = bad(ProgramType::Filter, None, &short, "ctx-bounds");
    assert_eq!(e.index, 11);
}

#[test]
fn fixed_size_metadata_needs_no_checks() {
    ok(ProgramType::Size, Some(128), "ldxw %r0, [%r1+124]\nexit");
    bad(
        ProgramType::Size,
        Some(128),
        "ldxw %r0, [%r1+125]\nexit",
        "ctx-bounds",
    );
    bad(
        ProgramType::Size,
        None,
        "ldxw %r0, [%r1+0]\nexit",
        "ctx-bounds",
    );
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
    let e = bad(
        ProgramType::Size,
        Some(8),
        "mov %r0, 0\nloop:\nadd %r0, 1\nja loop",
        "budget",
    );
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
    ok(
        ProgramType::Size,
        Some(8),
        "stxdw [%r10-8], %r1\nldxdw %r0, [%r10-8]\nldxb %r0, [%r0+0]\nexit",
    );
    bad(
        ProgramType::Size,
        Some(8),
        "ldxdw %r0, [%r10-8]\nexit",
        "uninit-stack",
    );
    bad(
        ProgramType::Size,
        Some(8),
        "stxdw [%r10-8], %r1\nldxw %r0, [%r10-8]\nexit",
        "partial-pointer",
    );
    bad(
        ProgramType::Size,
        Some(8),
        "stw [%r10-516], 0\nmov %r0, 0\nexit",
        "stack-bounds",
    );
    bad(
        ProgramType::Size,
        Some(8),
        "stxw [%r10-4], %r1\nmov %r0, 0\nexit",
        "partial-pointer",
    );
    // A constant spilled whole reads back exactly, even in parts.
    let f = ok(
        ProgramType::Size,
        Some(8),
        "lddw %r3, 0x1122334455667788\nstxdw [%r10-8], %r3\nldxb %r0, [%r10-8]\njeq %r0, 0x88, +1\nldxdw %r0, [%r10-16]\nexit",
    );
    assert!(!f.warnings.is_empty(), "the read of [-16] is dead code");
}

#[test]
fn pointer_rules() {
    bad(
        ProgramType::Size,
        Some(8),
        "mov %r0, %r1\nexit",
        "pointer-leak",
    );
    bad(
        ProgramType::Size,
        Some(8),
        "mov32 %r0, %r1\nexit",
        "pointer-arithmetic",
    );
    bad(
        ProgramType::Size,
        Some(8),
        "mov %r0, %r1\nmul %r0, 2\nexit",
        "pointer-arithmetic",
    );
    bad(
        ProgramType::Size,
        Some(8),
        "mov %r0, 0\njgt %r1, 5, +0\nexit",
        "pointer-compare",
    );
    ok(
        ProgramType::Size,
        Some(8),
        "mov %r0, %r1\nsub %r0, %r1\nexit",
    );
    bad(
        ProgramType::Size,
        Some(8),
        "stb [%r1+0], 1\nmov %r0, 0\nexit",
        "read-only",
    );
    bad(
        ProgramType::Size,
        Some(8),
        "mov %r3, 5\nldxb %r0, [%r3+0]\nexit",
        "not-a-pointer",
    );
}

#[test]
fn registers_must_be_written() {
    let e = bad(
        ProgramType::Size,
        Some(8),
        "mov %r0, %r5\nexit",
        "uninit-read",
    );
    assert_eq!(e.regs.len(), 1);
    bad(
        ProgramType::Size,
        Some(8),
        "jeq %r2, 8, +1\nmov %r0, 0\nexit",
        "uninit-read",
    );
    // Infeasible paths do not count: r2 is exactly 8 here.
    ok(
        ProgramType::Size,
        Some(8),
        "jeq %r2, 8, +1\nexit\nmov %r0, 0\nexit",
    );
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
    bad(
        ProgramType::Owns,
        Some(16),
        "mov %r2, 1\nmov %r3, 0\ncall 1\nmov %r0, 0\nexit",
        "helper-arg",
    );
    bad(
        ProgramType::Owns,
        Some(16),
        "mov %r1, 1\nmov %r2, 1\nlddw %r3, 0x100000000\ncall 1\nmov %r0, 0\nexit",
        "helper-arg",
    );
    bad(
        ProgramType::Size,
        Some(16),
        "call 1\nexit",
        "unknown-helper",
    );
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
    bad(
        ProgramType::Size,
        Some(8),
        "call local f\nexit\nf:\ncall local f\nexit",
        "recursion",
    );
    bad(
        ProgramType::Size,
        Some(8),
        "call local f\nexit\nf:\nmov %r0, %r10\nexit",
        "pointer-leak",
    );
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
    bad(
        ProgramType::Size,
        Some(8),
        "mov %r0, 0\njeq %r2, 0, inside\nhead:\nadd %r0, 0\ninside:\nadd %r0, 0\njlt %r0, 5, head\nexit",
        "no-loop-bound",
    );
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

/// Found by the checking mode (generated acl program): a signed 32-bit comparison with an
/// immediate whose 32-bit pattern is negative was recorded as a 64-bit fact about the length,
/// "proving" a length of 3203106609 bytes.
#[test]
fn signed_32_bit_compare_says_nothing_about_large_values() {
    bad(
        ProgramType::Size,
        Some(64),
        "jsle32 %r2, -1091860688, +2\nldxb %r0, [%r1+64]\nexit\nmov %r0, 0\nexit",
        "ctx-bounds",
    );
}
