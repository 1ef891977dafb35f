//! Regression tests for soundness bugs, one test per bug class: each unsafe program here was
//! once accepted, and would read outside the context on the input named beside it. Each class
//! also has a safe relative that must stay accepted (the fix must not cost precision).
//!
//! The unsafe programs are also run through the interpreter here, to show they really fault on
//! the named input (so a rejection is a rejection of an unsafe program, not of a safe one).

use udf_bytecode::{Program, ProgramType, assemble};
use udf_verifier::{Config, verify};

fn conf(ty: ProgramType) -> Config {
    Config::new(ty)
}

fn accepted(ty: ProgramType, src: &str) -> bool {
    let p = assemble(src).unwrap_or_else(|e| panic!("assembles: {e}\n{src}"));
    verify(&p, &conf(ty)).is_ok()
}

fn assert_rejected(ty: ProgramType, src: &str, code: &str) {
    let p = assemble(src).unwrap_or_else(|e| panic!("assembles: {e}\n{src}"));
    match verify(&p, &conf(ty)) {
        Ok(_) => panic!("unsafe program accepted:\n{src}"),
        Err(e) => assert_eq!(e.rule.code(), code, "{e}\n{src}"),
    }
}

/// The index a jump or call at index `i` lands on.
fn target(prog: &Program, i: usize) -> usize {
    let t = prog.branch_target(prog.pc(i)).expect("a branch");
    prog.index_at(t).expect("an instruction")
}

/// Runs `prog` on `input` with a small reference semantics (loads from the context checked):
/// `Err` when a load leaves the context. Only what these programs use.
fn reads_outside(prog: &Program, input: &[u8]) -> bool {
    use udf_bytecode::Insn;
    use udf_bytecode::insn::{JmpCond, Source, Width};
    use udf_bytecode::semantics::{alu, end, extend_imm};
    const CTX: u64 = 1 << 40;
    let insns = prog.insns();
    let mut r = [0u64; 11];
    r[1] = CTX;
    r[2] = input.len() as u64;
    let mut calls: Vec<(usize, [u64; 4])> = Vec::new();
    let mut pc = 0usize;
    for _ in 0..10_000 {
        match insns[pc] {
            Insn::Alu { width, op, dst, src } => {
                let b = match src {
                    Source::Reg(s) => r[s.index()],
                    Source::Imm(k) => extend_imm(width, k),
                };
                r[dst.index()] = alu(op, width, r[dst.index()], b);
            }
            Insn::End { kind, bits, dst } => r[dst.index()] = end(kind, bits, r[dst.index()]),
            Insn::Load { size, dst, base, off, .. } => {
                let a = r[base.index()].wrapping_add(off as i64 as u64);
                let o = a.wrapping_sub(CTX);
                let n = size.bytes() as u64;
                if o > input.len() as u64 || input.len() as u64 - o < n {
                    return true;
                }
                let mut v = 0u64;
                for k in (0..n).rev() {
                    v = v << 8 | input[(o + k) as usize] as u64;
                }
                r[dst.index()] = v;
            }
            Insn::Jump { width, cond, dst, src, .. } => {
                assert_eq!(width, Width::W64);
                let b = match src {
                    Source::Reg(s) => r[s.index()],
                    Source::Imm(k) => extend_imm(width, k),
                };
                let a = r[dst.index()];
                let t = match cond {
                    JmpCond::Eq => a == b,
                    JmpCond::Ne => a != b,
                    JmpCond::Gt => a > b,
                    JmpCond::Ge => a >= b,
                    JmpCond::Lt => a < b,
                    JmpCond::Le => a <= b,
                    c => panic!("unused condition {c:?}"),
                };
                if t {
                    pc = target(prog, pc);
                    continue;
                }
            }
            Insn::Ja { .. } => {
                pc = target(prog, pc);
                continue;
            }
            Insn::CallLocal { .. } => {
                calls.push((pc + 1, [r[6], r[7], r[8], r[9]]));
                pc = target(prog, pc);
                continue;
            }
            Insn::Exit => match calls.pop() {
                Some((ret, saved)) => {
                    r[6..10].copy_from_slice(&saved);
                    pc = ret;
                    continue;
                }
                None => return false,
            },
            i => panic!("unused instruction {i:?}"),
        }
        pc += 1;
    }
    panic!("runs too long")
}

/// `r3 = len`, then `pre` (a narrowing test) and `op` (the operation under test) on `r3`, then
/// an access at `r1 + r3 - 1`: in bounds exactly when `op` left the length unchanged.
fn length_copy_access(pre: &str, op: &str) -> String {
    format!(
        "
        mov %r0, 0
        mov %r3, %r2
        {pre}
        {op}
        jeq %r3, 0, out
        sub %r3, 1
        mov %r4, %r1
        add %r4, %r3
        ldxb %r0, [%r4+0]
    out:
        exit"
    )
}

/// A byte-swapped copy of the length is not the length: `swap(len) - 1` is no offset below len.
#[test]
fn byte_swaps_drop_the_relational_symbol() {
    // `PRE` narrows the length so that the swap's abstract result equals its operand's (the
    // shape that once kept the symbol); the access is at `r1 + swap(len) - 1`.
    let cases = [
        ("be16", "jgt %r3, 0xffff, out\n"),
        ("bswap16", "jgt %r3, 0xffff, out\n"),
        ("be32", ""),
        ("bswap32", ""),
        ("be64", ""),
        ("bswap64", ""),
        ("le16", ""),
        ("le16", "jgt %r3, 0x1ffff, out\n"),
    ];
    for (op, pre) in cases {
        let src = length_copy_access(pre, &format!("{op} %r3"));
        assert_rejected(ProgramType::Filter, &src, "ctx-bounds");
        let p = assemble(&src).expect("assembles");
        // On a 2-byte packet the swapped length is 0x200, 0x2000000, ... (le16 of a wide
        // length drops its top bits: 0x10002 becomes 2, inside a 0x10002-byte packet, so its
        // unsafe input is a 3-byte packet read at 0x10001 ... never: it is only imprecise).
        if op != "le16" {
            assert!(reads_outside(&p, &[1, 2]), "{op} is unsafe on a 2-byte packet");
        }
    }
    // `le64` and `le32` of a value that fits are the identity: the symbol stays, the access
    // verifies.
    for op in ["le64", "le32"] {
        let src = length_copy_access("", &format!("{op} %r3"));
        assert!(accepted(ProgramType::Filter, &src), "{op} lost precision");
    }
}

/// 32-bit moves and sign extensions keep the symbol only where they are the identity.
#[test]
fn narrowing_moves_drop_the_relational_symbol() {
    for (op, pre) in [
        ("movsx864 %r3, %r3", "jgt %r3, 0xff, out\n"),
        ("movsx1664 %r3, %r3", "jgt %r3, 0xffff, out\n"),
        ("movsx3264 %r3, %r3", ""),
        ("movsx832 %r3, %r3", "jgt %r3, 0xff, out\n"),
        ("mov32 %r3, %r3", "lsh %r3, 8\n"),
    ] {
        let src = length_copy_access(pre, op);
        assert_rejected(ProgramType::Filter, &src, "ctx-bounds");
    }
    // The identity cases stay precise: a 32-bit move of the length, sign extension of a value
    // known to be small and non-negative.
    for (op, pre) in [
        ("mov32 %r3, %r3", ""),
        ("movsx864 %r3, %r3", "jgt %r3, 0x7f, out\n"),
        ("movsx1664 %r3, %r3", "jgt %r3, 0x7fff, out\n"),
        ("movsx3264 %r3, %r3", "jgt %r3, 0x7fffffff, out\n"),
        ("movsx832 %r3, %r3", "jgt %r3, 0x7f, out\n"),
    ] {
        let src = length_copy_access(pre, op);
        assert!(accepted(ProgramType::Filter, &src), "{op} lost precision");
    }
}

/// `r6`-`r9` keep a symbol across a call only while it names the same value: a callee that
/// re-runs the instruction the symbol names kills it in the saved registers too.
#[test]
fn callee_saved_registers_lose_symbols_the_callee_redefines() {
    let src = "
        mov %r6, %r1
        mov %r7, %r2
        mov %r0, 0
        jlt %r2, 2, out
        call local f
        mov %r8, %r0
        mov %r1, %r6
        add %r1, 1
        call local f
        jgt %r0, %r7, out
        mov %r9, %r6
        add %r9, %r8
        ldxb %r0, [%r9-1]
    out:
        exit
    f:
        ldxb %r0, [%r1+0]
        add %r0, 1
        exit";
    assert_rejected(ProgramType::Filter, src, "ctx-bounds");
    let p = assemble(src).expect("assembles");
    // First call reads 0xff (r8 = 0x100), the second reads 0 (r0 = 1 <= len = 2): the access
    // is at byte 0xff of a 2-byte packet.
    assert!(reads_outside(&p, &[0xff, 0]));
    // (Known limit, not a soundness matter: once the callee re-runs the instruction, the value
    // kept in r8 has no name left, so no later test can relate it to the length.)
    // A symbol of the caller's own instruction survives the call (nothing redefines it).
    let own = "
        mov %r0, 0
        ldxb %r6, [%r1+0]
        jlt %r2, 1, out
        mov %r7, %r6
        add %r7, 1
        mov %r8, %r2
        mov %r9, %r1
        call local g
        jgt %r7, %r8, out
        add %r9, %r6
        ldxb %r0, [%r9+0]
    out:
        exit
    g:
        mov %r0, 1
        exit";
    // The first read needs len >= 1, which the test after it does not give: refuse for that
    // reason only, then fix the order and check the relational access verifies.
    assert!(!accepted(ProgramType::Filter, own));
    let own = own.replace(
        "ldxb %r6, [%r1+0]\n        jlt %r2, 1, out",
        "jlt %r2, 1, out\n        ldxb %r6, [%r1+0]",
    );
    assert!(accepted(ProgramType::Filter, &own), "lost precision:\n{own}");
}

/// The same staleness after several calls: the symbol saved before the first is killed by the
/// second and must stay dead through the third.
#[test]
fn callee_saved_symbols_stay_dead_across_repeated_calls() {
    let src = "
        mov %r6, %r1
        mov %r7, %r2
        mov %r0, 0
        jlt %r2, 4, out
        call local f
        mov %r8, %r0
        mov %r1, %r6
        add %r1, 3
        call local f
        mov %r1, %r6
        add %r1, 2
        call local f
        jgt %r0, %r7, out
        mov %r9, %r6
        add %r9, %r8
        ldxb %r0, [%r9-1]
    out:
        exit
    f:
        ldxb %r0, [%r1+0]
        add %r0, 1
        exit";
    assert_rejected(ProgramType::Filter, src, "ctx-bounds");
    let p = assemble(src).expect("assembles");
    assert!(reads_outside(&p, &[0xff, 0, 0, 0]));
}

/// A context pointer moved below its region by a negative constant and brought back by the
/// access's offset keeps its relation to the length (exact signed offsets); moved so far that
/// its offset could overflow, it loses it.
#[test]
fn pointers_moved_out_and_back_keep_their_symbol() {
    let src = "
        mov %r0, 0
        jlt %r2, 1, out
        ldxb %r3, [%r1+0]
        mov %r4, %r3
        add %r4, 1
        jgt %r4, %r2, out
        mov %r5, %r1
        add %r5, %r3
        add %r5, -20000
        ldxb %r0, [%r5+20000]
    out:
        exit";
    assert!(accepted(ProgramType::Filter, src), "lost precision");
    // One byte further is past what the test proved.
    assert_rejected(ProgramType::Filter, &src.replace("[%r5+20000]", "[%r5+20001]"), "ctx-bounds");
    let p = assemble(&src.replace("[%r5+20000]", "[%r5+20001]")).expect("assembles");
    assert!(reads_outside(&p, &[0]));
}
