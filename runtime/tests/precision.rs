//! Precision for compiler output (issue 16): programs shaped as clang and the `.udf` compiler
//! lay them out, each accepted with the bound it should get, and each run on the checking
//! interpreter over many inputs, so every fact the acceptance rests on is checked. Each safe
//! program has an unsafe relative (one byte more, one bound fewer) that must stay rejected.

use udf_bytecode::rng::Rng;
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
    rejected(ProgramType::Size, Some(16), &src.replace("jne %r3, 16", "jne %r3, 17"), "ctx-bounds");
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

// ---- subprograms and atomics -----------------------------------------------------------------

/// A subprogram that leaves `r0` unset is fine when its caller never reads `r0`; reading it is
/// the error, at the read.
#[test]
fn subprogram_r0_needed_only_where_read() {
    let callee = "
    f:
        mov %r3, 1
        exit";
    accepted(ProgramType::Size, Some(8), &format!("call local f\nmov %r0, 2\nexit\n{callee}"));
    rejected(ProgramType::Size, Some(8), &format!("call local f\nexit\n{callee}"), "uninit-read");
    rejected(
        ProgramType::Size,
        Some(8),
        &format!("call local f\nmov %r1, %r0\nmov %r0, 2\nexit\n{callee}"),
        "uninit-read",
    );
}

/// What an atomic fetch returns is what the slot held: an index kept in a stack counter and
/// fetched back stays bounded, and the stored sum is tracked too.
#[test]
fn atomic_fetch_is_the_slot_it_read() {
    let src = "
        mov %r3, 5
        stxdw [%r10-8], %r3
        mov %r4, 2
        lock fetch add [%r10-8], %r4
        mov %r5, %r1
        add %r5, %r4
        ldxb %r0, [%r5+8]
        ldxdw %r6, [%r10-8]
        mov %r5, %r1
        add %r5, %r6
        ldxb %r6, [%r5+8]
        add %r0, %r6
        exit";
    accepted(ProgramType::Size, Some(16), src);
    // 5 + 8 + 1 and 7 + 8 + 1: 16 bytes are needed, 15 are not enough.
    rejected(ProgramType::Size, Some(15), src, "ctx-bounds");
    // 32-bit: the fetch returns the low word of the slot.
    let src32 = "
        lddw %r3, 0x100000002
        stxdw [%r10-8], %r3
        mov %r4, 3
        lock fetch add32 [%r10-8], %r4
        mov %r5, %r1
        add %r5, %r4
        ldxb %r0, [%r5]
        exit";
    accepted(ProgramType::Size, Some(3), src32);
    rejected(ProgramType::Size, Some(2), src32, "ctx-bounds");
    // cmpxchg stores either value.
    let cx = "
        mov %r3, 4
        stxdw [%r10-8], %r3
        mov %r0, 4
        mov %r4, 9
        lock cmpxchg [%r10-8], %r4
        ldxdw %r6, [%r10-8]
        mov %r5, %r1
        add %r5, %r6
        ldxb %r0, [%r5]
        exit";
    accepted(ProgramType::Size, Some(10), cx);
    rejected(ProgramType::Size, Some(9), cx, "ctx-bounds");
}

// ---- 32-bit arithmetic and copies --------------------------------------------------------------

/// clang at `-mcpu=v3`: the header length bound computed with `add32` and compared with
/// `jgt32` against the length keeps its relation to the length.
#[test]
fn add32_bound_keeps_its_relation() {
    let src = "
        mov %r0, 0
        jlt %r2, 15, drop
        ldxb %r3, [%r1+14]
        and32 %r3, 15
        lsh32 %r3, 2
        mov32 %r4, %r3
        add32 %r4, 34
        jgt32 %r4, %r2, drop
        mov %r5, %r1
        add %r5, %r3
        ldxh %r0, [%r5+32]
    drop:
        exit";
    accepted(ProgramType::Filter, None, src);
    rejected(
        ProgramType::Filter,
        None,
        &src.replace("add32 %r4, 34", "add32 %r4, 33"),
        "ctx-bounds",
    );
    // The same bound through a 64-bit comparison.
    accepted(ProgramType::Filter, None, &src.replace("jgt32 %r4, %r2", "jgt %r4, %r2"));
    // A value that may not fit 32 bits: add32 wraps, so no relation survives.
    rejected(
        ProgramType::Filter,
        None,
        "
        mov %r0, 0
        ldxdw %r3, [%r1]
        jlt %r2, 8, drop
        mov %r4, %r3
        add32 %r4, 2
        jgt %r4, %r2, drop
        mov %r5, %r1
        add %r5, %r3
        ldxb %r0, [%r5]
    drop:
        exit",
        "ctx-bounds",
    );
}

/// A masked or zero-extended copy that keeps every bit of a value is the value: bounding the
/// copy bounds the original, which is then the index.
#[test]
fn bounding_a_copy_bounds_the_original() {
    let src = "
        mov %r0, 0
        ldxb %r4, [%r1]
        mov %r5, %r4
        and %r5, 0xff
        jgt %r5, 38, out
        mov %r6, %r1
        add %r6, %r4
        ldxb %r0, [%r6+1]
    out:
        exit";
    accepted(ProgramType::Size, Some(40), src);
    rejected(ProgramType::Size, Some(39), src, "ctx-bounds");
    // A mask that drops bits: bounding the copy says nothing about the original.
    rejected(
        ProgramType::Size,
        Some(64),
        &src.replace("and %r5, 0xff", "and %r5, 0x1f").replace("jgt %r5, 38", "jgt %r5, 30"),
        "ctx-bounds",
    );
    // A 32-bit copy of a value known to fit.
    let w = src.replace("and %r5, 0xff", "mov32 %r5, %r5");
    accepted(ProgramType::Size, Some(40), &w);
    rejected(ProgramType::Size, Some(39), &w, "ctx-bounds");
    // A 32-bit copy of a value that may not fit is not the value.
    rejected(
        ProgramType::Size,
        Some(64),
        &src.replace("ldxb %r4, [%r1]", "ldxdw %r4, [%r1]")
            .replace("and %r5, 0xff", "mov32 %r5, %r5"),
        "ctx-bounds",
    );
}

// ---- joins ---------------------------------------------------------------------------------------

/// Two paths bound two different offsets against the length, then meet: the joined offset is
/// still bounded by the weaker of the two facts.
#[test]
fn joined_offsets_keep_the_weaker_bound() {
    let src = "
        mov %r0, 0
        jlt %r2, 2, out
        ldxb %r3, [%r1]
        ldxb %r4, [%r1+1]
        jeq %r3, 0, other
        mov %r5, %r3
        add %r5, 4
        jgt %r5, %r2, out
        mov %r6, %r3
        ja join
    other:
        mov %r5, %r4
        add %r5, 6
        jgt %r5, %r2, out
        mov %r6, %r4
    join:
        mov %r7, %r1
        add %r7, %r6
        ldxw %r0, [%r7]
    out:
        exit";
    accepted(ProgramType::Filter, None, src);
    // One side proves only 3 bytes past its offset: the 4-byte read is refused.
    rejected(ProgramType::Filter, None, &src.replace("add %r5, 4", "add %r5, 3"), "ctx-bounds");
    // Constants on each side: 14 or 18, one test after the join covers both.
    let c = "
        mov %r0, 0
        jlt %r2, 14, out
        ldxh %r3, [%r1+12]
        mov %r6, 14
        jne %r3, 0x81, plain
        mov %r6, 18
    plain:
        mov %r5, %r6
        add %r5, 20
        jgt %r5, %r2, out
        mov %r7, %r1
        add %r7, %r6
        ldxb %r0, [%r7+19]
    out:
        exit";
    accepted(ProgramType::Filter, None, c);
    rejected(ProgramType::Filter, None, &c.replace("[%r7+19]", "[%r7+20]"), "ctx-bounds");
}

// ---- the shapes campaign -------------------------------------------------------------------------

/// Inputs for a shaped program: every length up to 48 for filters, the object size for
/// `size`; random bytes, and bytes that steer the shapes' branches (0, 7, 9, 192, 255).
fn shaped_inputs(rng: &mut Rng, facts: &Facts) -> Vec<Vec<u8>> {
    let (lo, hi) = facts.ctx_len;
    let mut out = Vec::new();
    for len in lo..=hi.min(lo.max(48)) {
        for first in [0u8, 1, 7, 9, 63, 192, 255] {
            let mut v = rng.input(len as usize);
            if let Some(b) = v.first_mut() {
                *b = first;
            }
            out.push(v);
        }
    }
    out
}

/// Compiler-shaped programs with random parameters (`udf_bytecode::shapes`): every one proven
/// by construction is accepted and passes the checking interpreter on every input; every one
/// past its proof is rejected.
#[test]
fn shapes_campaign() {
    use udf_bytecode::shapes::{ShapeFamily, shaped};
    let per_kind = if cfg!(debug_assertions) { 400 } else { 3000 };
    let mut rng = Rng::new(0x16);
    for kind in ShapeFamily::ALL {
        let (mut proven, mut unproven) = (0, 0);
        for _ in 0..per_kind {
            let s = shaped(&mut rng, kind);
            let r = verify(&s.program, &conf(s.ty, s.ctx_size));
            match (s.proven, r) {
                (true, Ok(v)) => {
                    proven += 1;
                    for input in shaped_inputs(&mut rng, &v) {
                        let r3 = input.len() as u64;
                        if let Err(e) = run_checked(&s.program, &v, s.ty, &input, r3) {
                            panic!("{kind:?}: refuted on {input:02x?}: {e}\n{}", s.text);
                        }
                    }
                }
                (true, Err(e)) => {
                    panic!("{kind:?}: proven by construction, rejected: {e}\n{}", s.text)
                }
                (false, Ok(_)) => panic!("{kind:?}: unsafe, accepted\n{}", s.text),
                (false, Err(_)) => unproven += 1,
            }
        }
        println!("{kind:?}: {proven} proven and accepted, {unproven} unsafe and rejected");
        assert!(proven > per_kind / 2 && unproven > per_kind / 5, "{kind:?}");
    }
}

/// Kernel style: the end of the packet as a pointer (`data + len`), and `ptr + n > end`
/// tested before reading through `ptr`.
#[test]
fn pointer_against_packet_end() {
    let src = "
        mov %r0, 0
        mov %r3, %r1
        add %r3, %r2
        mov %r4, %r1
        add %r4, 14
        jgt %r4, %r3, out
        ldxb %r5, [%r1+13]
        and %r5, 15
        lsh %r5, 2
        mov %r6, %r1
        add %r6, %r5
        mov %r7, %r6
        add %r7, 4
        jgt %r7, %r3, out
        ldxw %r0, [%r6]
    out:
        exit";
    accepted(ProgramType::Filter, None, src);
    rejected(
        ProgramType::Filter,
        None,
        &src.replace("ldxw %r0, [%r6]", "ldxw %r0, [%r6+1]"),
        "ctx-bounds",
    );
    rejected(ProgramType::Filter, None, &src.replace("add %r4, 14", "add %r4, 13"), "ctx-bounds");
}

/// A TLV option: `opt + optlen <= len` is tested, then `optlen == 4`, then 4 bytes are read at
/// `opt`: the bound on the sum becomes one on `opt` once `optlen`'s least value is known.
#[test]
fn bound_on_a_sum_bounds_its_parts() {
    let src = "
        mov %r0, 0
        jlt %r2, 2, out
        ldxb %r3, [%r1]
        ldxb %r4, [%r1+1]
        mov %r5, %r3
        add %r5, %r4
        jgt %r5, %r2, out
        jne %r4, 4, out
        mov %r6, %r1
        add %r6, %r3
        ldxw %r0, [%r6]
    out:
        exit";
    accepted(ProgramType::Filter, None, src);
    rejected(ProgramType::Filter, None, &src.replace("jne %r4, 4", "jne %r4, 3"), "ctx-bounds");
    // `or` of a bit the value never has is an addition: `ihl | 64` is `ihl + 64`.
    let or = "
        mov %r0, 0
        jlt %r2, 15, out
        ldxb %r3, [%r1+14]
        lsh32 %r3, 2
        and32 %r3, 60
        mov32 %r4, %r3
        or32 %r4, 64
        jgt %r4, %r2, out
        mov %r6, %r1
        add %r6, %r3
        ldxb %r0, [%r6+63]
    out:
        exit";
    accepted(ProgramType::Filter, None, or);
    rejected(ProgramType::Filter, None, &or.replace("[%r6+63]", "[%r6+64]"), "ctx-bounds");
    // `or` of a bit the value may have set is no addition.
    rejected(
        ProgramType::Filter,
        None,
        &or.replace("or32 %r4, 64", "or32 %r4, 4").replace("[%r6+63]", "[%r6+3]"),
        "ctx-bounds",
    );
}

/// `end <= len` proven, then `opt < end`: `opt + 1 <= len` follows (a walk over a region
/// whose end was checked once, as a TCP options loop does).
#[test]
fn bound_through_a_checked_end() {
    let src = "
        mov %r0, 0
        jlt %r2, 2, out
        ldxb %r3, [%r1]
        ldxb %r4, [%r1+1]
        jgt %r4, %r2, out
        jge %r3, %r4, out
        mov %r6, %r1
        add %r6, %r3
        ldxb %r0, [%r6]
    out:
        exit";
    accepted(ProgramType::Filter, None, src);
    // `opt <= end` only: reading at `opt` may be one past the end.
    rejected(ProgramType::Filter, None, &src.replace("jge %r3, %r4", "jgt %r3, %r4"), "ctx-bounds");
}

/// From issue 16's C fixtures: an offset updated in place inside a loop (`off += optlen`) with
/// a pointer made from it earlier in the iteration; `len == 0` tested as `jeq`; a bound on a
/// value and then its least value giving the length's.
#[test]
fn in_place_updates_and_length_tests() {
    let src = "
        mov %r0, 0
        jlt %r2, 1, out
        ldxb %r3, [%r1+0]
        mov %r4, 2
    loop:
        mov %r6, %r3
        add %r6, 2
        jgt %r6, %r2, out
        mov %r5, %r1
        add %r5, %r3
        ldxb %r7, [%r5+1]
        jlt %r7, 2, out
        add %r3, %r7
        jgt %r3, %r2, out
        jne %r7, 4, skip
        ldxb %r0, [%r5+3]
    skip:
        sub %r4, 1
        jne %r4, 0, loop
    out:
        exit";
    accepted(ProgramType::Filter, None, src);
    rejected(
        ProgramType::Filter,
        None,
        &src.replace("ldxb %r0, [%r5+3]", "ldxb %r0, [%r5+4]"),
        "ctx-bounds",
    );
    let kept = "
        mov %r0, 0
        mov %r5, 0
        mov %r4, 4
    loop:
        mov %r7, %r5
        add %r7, 8
        jgt %r7, %r2, out
        mov %r6, %r1
        add %r6, %r5
        ldxb %r5, [%r6+1]
        lsh %r5, 3
        add %r7, %r5
        mov %r5, %r7
        sub %r4, 1
        jne %r4, 0, loop
        ldxb %r0, [%r6+7]
    out:
        exit";
    accepted(ProgramType::Filter, None, kept);
    rejected(ProgramType::Filter, None, &kept.replace("[%r6+7]", "[%r6+8]"), "ctx-bounds");
    let zero = "
        mov %r0, 0
        jeq %r2, 0, out
        ldxb %r0, [%r1+0]
    out:
        exit";
    accepted(ProgramType::Filter, None, zero);
    rejected(ProgramType::Filter, None, &zero.replace("[%r1+0]", "[%r1+1]"), "ctx-bounds");
    let floor = "
        mov %r0, 0
        jlt %r2, 2, out
        ldxb %r7, [%r1+1]
        jgt %r7, %r2, out
        jlt %r7, 4, out
        ldxb %r0, [%r1+3]
    out:
        exit";
    accepted(ProgramType::Filter, None, floor);
    rejected(ProgramType::Filter, None, &floor.replace("[%r1+3]", "[%r1+4]"), "ctx-bounds");
}

/// A pointer walk (`p += p[1] + 2` while `p + 4 <= end`), as clang emits it: a named pointer
/// plus a named number is named by the instruction as a pointer, and the sum remembered.
#[test]
fn pointer_walk_with_named_steps() {
    let src = "
        mov %r0, 0
        jslt %r2, 16, out
        mov %r4, %r1
        add %r4, %r2
        mov %r2, 0
        add %r1, 14
    body:
        ldxb %r5, [%r1+0]
        mov %r0, %r3
        jeq %r5, 7, out
        mov %r0, 0
        jgt %r2, 6, out
        ldxb %r5, [%r1+1]
        add %r5, %r1
        add %r2, 1
        mov %r6, %r5
        add %r6, 4
        add %r5, 2
        mov %r1, %r5
        jle %r6, %r4, body
    out:
        exit";
    accepted(ProgramType::Filter, None, src);
    rejected(ProgramType::Filter, None, &src.replace("add %r6, 4", "add %r6, 3"), "ctx-bounds");
}

/// Before `-mcpu=v3`, clang writes `(int)len` as `lsh 32; arsh 32`: where that is the identity
/// the result keeps the length's name.
#[test]
fn shift_pair_sign_extension_keeps_the_name() {
    let src = "
        mov %r0, 0
        jgt %r2, 65535, out
        jlt %r2, 20, out
        ldxb %r4, [%r1+0]
        jlt %r4, 5, out
        lsh %r2, 32
        arsh %r2, 32
        lsh %r4, 1
        mov %r5, %r4
        add %r5, -6
        jsgt %r5, %r2, out
        add %r1, %r4
        ldxb %r0, [%r1-7]
    out:
        exit";
    accepted(ProgramType::Filter, None, src);
    rejected(ProgramType::Filter, None, &src.replace("[%r1-7]", "[%r1-6]"), "ctx-bounds");
    // A length that may not fit 31 bits: the pair changes it, no name survives.
    rejected(
        ProgramType::Filter,
        None,
        &src.replace("jgt %r2, 65535, out", "jgt %r2, 0xffffffff, out"),
        "ctx-bounds",
    );
    // Not the same register, or not a pair: no name either.
    rejected(
        ProgramType::Filter,
        None,
        &src.replace("arsh %r2, 32", "mov %r0, 0\n        arsh %r2, 32"),
        "ctx-bounds",
    );
}
