//! Precision for compiler output (issue 16): programs shaped as clang and the `.udf` compiler
//! lay them out, each accepted with the bound it should get, and each run on the checking
//! interpreter over many inputs, so every fact the acceptance rests on is checked. Each safe
//! program has an unsafe relative (one byte more, one bound fewer) that must stay rejected.

use udf_bytecode::generate::Rng;
use udf_bytecode::{ProgramType, assemble};
use udf_runtime::checking::run_checked;
use udf_verifier::{Config, Facts, verify};

fn conf(ty: ProgramType, ctx: Option<u32>) -> Config {
    let mut c = Config::new(ty);
    c.ctx_size = ctx;
    c.record_states = true;
    c
}

/// Accepted, and every run on inputs of each admitted length up to 120 bytes passes the
/// checking interpreter.
fn accepted(ty: ProgramType, ctx: Option<u32>, src: &str) -> Facts {
    let p = assemble(src).unwrap_or_else(|e| panic!("{e:?}\n{src}"));
    let v = match verify(&p, &conf(ty, ctx)) {
        Ok(v) => v,
        Err(e) => panic!("rejected: {e}\n{src}"),
    };
    let (lo, hi) = v.ctx_len;
    let mut rng = Rng::new(0x5eed);
    for len in lo..=hi.min(lo.max(120)) {
        for k in 0..24 {
            let input = match k {
                0 => vec![0u8; len as usize],
                1 => vec![0xff; len as usize],
                _ => rng.input(len as usize),
            };
            let r3 = input.len() as u64;
            if let Err(e) = run_checked(&p, &v, ty, &input, r3) {
                panic!("checking interpreter refutes the proof on {input:02x?}: {e}\n{src}");
            }
        }
    }
    v.into_facts()
}

fn rejected(ty: ProgramType, ctx: Option<u32>, src: &str, code: &str) {
    let p = assemble(src).unwrap_or_else(|e| panic!("{e:?}\n{src}"));
    match verify(&p, &conf(ty, ctx)) {
        Ok(_) => panic!("accepted, expected {code}\n{src}"),
        Err(e) => assert_eq!(e.rule.code(), code, "{e}\n{src}"),
    }
}

// ---- loops in any layout ---------------------------------------------------------------------

/// clang's rotated loop: a jump down to the test, the body above it, the back edge from the
/// bottom; the count leaves on `!=`.
#[test]
fn rotated_loop_counted_on_ne() {
    let src = "
        mov %r0, 0
        mov %r3, 0
        ja test
    body:
        mov %r4, %r1
        add %r4, %r3
        ldxb %r5, [%r4]
        add %r0, %r5
        add %r3, 1
    test:
        jne %r3, 16, body
        exit";
    let f = accepted(ProgramType::Size, Some(16), src);
    assert_eq!(f.loops.len(), 1);
    assert_eq!(f.loops[0].max_iterations, 17);
    rejected(
        ProgramType::Size,
        Some(16),
        &src.replace("jne %r3, 16", "jne %r3, 17"),
        "ctx-bounds",
    );
}

/// A u32 counter tested with JMP32, the loop laid out bottom-tested.
#[test]
fn jmp32_counter_bottom_tested() {
    let src = "
        mov %r0, 0
        mov32 %r3, 0
    body:
        mov %r4, %r1
        add %r4, %r3
        ldxb %r5, [%r4]
        add %r0, %r5
        add32 %r3, 1
        jlt32 %r3, 8, body
        exit";
    let f = accepted(ProgramType::Size, Some(8), src);
    assert_eq!(f.loops[0].max_iterations, 8);
    rejected(ProgramType::Size, Some(7), src, "ctx-bounds");
}

/// Irreducible flow: a cycle entered at two points, bounded on every path.
#[test]
fn irreducible_bounded_loop() {
    let src = "
        mov %r0, 0
        jeq %r2, 0, inside
    head:
        add %r0, 1
    inside:
        add %r0, 1
        jlt %r0, 5, head
        exit";
    let f = accepted(ProgramType::Size, Some(8), src);
    assert!(f.max_insns <= 3 + 3 * 6, "{}", f.max_insns);
    // Unbounded: the count moves on neither entry.
    rejected(
        ProgramType::Size,
        Some(8),
        "mov %r0, 0
        jeq %r2, 0, inside
    head:
        add %r0, 0
    inside:
        add %r0, 0
        jlt %r0, 5, head
        exit",
        "no-loop-bound",
    );
    // Unbounded: counting down from an unknown start and stopping only at 5 (wraps past it).
    rejected(
        ProgramType::Size,
        Some(8),
        "ldxb %r0, [%r1]
        jeq %r2, 0, inside
    head:
        add %r0, 2
    inside:
        add %r0, 1
        jne %r0, 5, head
        exit",
        "budget",
    );
}

/// Two loops sharing a body, each entered at its own point, one nested by layout in the other.
#[test]
fn interleaved_loops_enter_each_other() {
    let src = "
        mov %r0, 0
        mov %r3, 0
        ldxb %r4, [%r1]
        jeq %r4, 0, b
    a:
        add %r3, 1
        jgt %r3, 20, out
    b:
        add %r3, 2
        jlt %r3, 10, a
        jlt %r3, 12, b
    out:
        mov %r0, %r3
        exit";
    let f = accepted(ProgramType::Size, Some(4), src);
    assert!(f.max_insns < 100, "{}", f.max_insns);
}

/// A loop whose only way in is a jump into its middle, and a self-loop.
#[test]
fn loop_entered_in_the_middle_and_self_loops() {
    accepted(
        ProgramType::Size,
        Some(4),
        "
        mov %r0, 0
        ja mid
    top:
        add %r0, 3
    mid:
        add %r0, 1
        jlt %r0, 40, top
        exit",
    );
    accepted(
        ProgramType::Size,
        Some(4),
        "
        mov %r0, 0
    self:
        add %r0, 1
        jlt %r0, 9, -2
        exit",
    );
    rejected(
        ProgramType::Size,
        Some(4),
        "
        mov %r0, 0
        ja -1
        exit",
        "no-loop-bound",
    );
}

/// Nesting beyond the analysis's depth is refused as such, not by running out of stack.
#[test]
fn deep_nesting_is_refused_cleanly() {
    let depth = 5000;
    let mut src = String::from("mov %r0, 0\n");
    for k in 0..depth {
        src.push_str(&format!("l{k}:\nadd %r0, 1\n"));
    }
    for k in (0..depth).rev() {
        src.push_str(&format!("jlt %r0, 3, l{k}\n"));
    }
    src.push_str("exit\n");
    rejected(ProgramType::Size, Some(4), &src, "loop-nesting");
}
