//! The program builder: labels resolve to the instruction bound, forward and back; a jump one
//! slot past the 16-bit range takes its far form (or is refused, naming the label); a jump
//! exactly at the limits stays near; unbound and twice-bound labels are errors; stack slots run
//! out at the stack's size.

use udf_bytecode::builder::{BuildError, FarJumps, Label, ProgramBuilder, STACK_SIZE};
use udf_bytecode::{AluOp, Insn, JmpCond, Program, Reg, Source, Width};

/// `r0 = imm`: a filler that also marks a place.
fn mov(imm: i32) -> Insn {
    Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Source::Imm(imm) }
}

/// `n` fillers `r0 = 0`.
fn fill(b: &mut ProgramBuilder, n: usize) {
    for _ in 0..n {
        b.emit(mov(0));
    }
}

/// Binds `l` to a marker `r0 = id` (ids are not 0, unlike the fillers).
fn mark(b: &mut ProgramBuilder, l: Label, id: i32) {
    b.bind(l);
    b.emit(mov(id));
}

/// The slot of the marker `r0 = id`.
fn marker(p: &Program, id: i32) -> usize {
    let found: Vec<usize> = p.iter().filter(|(_, i)| **i == mov(id)).map(|(pc, _)| pc).collect();
    assert_eq!(found.len(), 1, "marker {id}");
    found[0]
}

/// The slots of the jumps of the program, with where they land.
fn jumps(p: &Program) -> Vec<(usize, Insn, usize)> {
    p.iter().filter_map(|(pc, i)| Some((pc, *i, p.branch_target(pc)?))).collect()
}

fn finish(b: &ProgramBuilder) -> Program {
    let (p, origins) = b.finish().expect("builds");
    assert_eq!(origins.len(), p.len());
    p
}

/// A builder that rewrites far jumps with `gotol`.
fn gotol_builder() -> ProgramBuilder {
    let mut b = ProgramBuilder::<()>::new();
    b.set_far_jumps(FarJumps::Gotol);
    b
}

/// A `gotol_builder` whose first instruction is the marker 1, at label `top`; and a label
/// `out`, not bound: `(builder, top, out)`.
fn from_top() -> (ProgramBuilder, Label, Label) {
    let mut b = gotol_builder();
    let top = b.label();
    let out = b.label();
    mark(&mut b, top, 1);
    (b, top, out)
}

/// `if r1 COND 7 goto l`.
fn jump_to(b: &mut ProgramBuilder, cond: JmpCond, l: Label) {
    b.jump_if(Width::W64, cond, Reg::R1, Source::Imm(7), l);
}

/// Binds `l` to the marker `id` and an `exit`; the program and its jumps.
fn end_at(mut b: ProgramBuilder, l: Label, id: i32) -> (Program, Vec<(usize, Insn, usize)>) {
    mark(&mut b, l, id);
    b.emit(Insn::Exit);
    let p = finish(&b);
    let j = jumps(&p);
    (p, j)
}

/// The jump is a `gotol` to the marker `id`.
fn assert_gotol(p: &Program, jump: (usize, Insn, usize), id: i32) {
    assert!(matches!(jump.1, Insn::Ja32 { .. }), "{jump:?}");
    assert_eq!(jump.2, marker(p, id));
}

/// `if r1 COND 7 goto +off`.
fn cond_jump(cond: JmpCond, off: i16) -> Insn {
    Insn::Jump { width: Width::W64, cond, dst: Reg::R1, src: Source::Imm(7), off }
}

#[test]
fn near_jumps_forward_and_back() {
    let mut b = ProgramBuilder::<()>::new();
    let top = b.label();
    let out = b.label();
    mark(&mut b, top, 1);
    jump_to(&mut b, JmpCond::Eq, out);
    b.emit(Insn::LoadImm64 { dst: Reg::R2, imm: u64::MAX });
    b.ja(top);
    mark(&mut b, out, 2);
    b.emit(Insn::Exit);
    let p = finish(&b);
    // The lddw takes two slots: the forward jump skips 3, the back jump goes 5 back.
    assert_eq!(p.insns()[1], cond_jump(JmpCond::Eq, 3));
    assert_eq!(p.insns()[3], Insn::Ja { off: -5 });
    assert_eq!(
        jumps(&p),
        [(1, cond_jump(JmpCond::Eq, 3), marker(&p, 2)), (4, Insn::Ja { off: -5 }, marker(&p, 1)),]
    );
}

#[test]
fn a_label_bound_before_its_first_jump_and_shared() {
    let mut b = ProgramBuilder::<()>::new();
    let l = b.here();
    b.emit(mov(9));
    b.jump_if(Width::W32, JmpCond::Set, Reg::R3, Source::Reg(Reg::R4), l);
    b.ja(l);
    let p = finish(&b);
    assert!(jumps(&p).iter().all(|&(_, _, to)| to == 0));
}

#[test]
fn offsets_exactly_at_the_16_bit_limits_stay_near() {
    // Forward: 32,767 slots between the jump and its target.
    let mut b = ProgramBuilder::<()>::new();
    let out = b.label();
    b.set_far_jumps(FarJumps::Refuse);
    jump_to(&mut b, JmpCond::Gt, out);
    fill(&mut b, i16::MAX as usize);
    let (p, j) = end_at(b, out, 1);
    assert_eq!(p.insns()[0].branch_offset(), Some(i16::MAX as i64));
    assert_eq!(j[0].2, marker(&p, 1));

    // Back: the jump lands 32,768 slots before the slot after it.
    let mut b = ProgramBuilder::<()>::new();
    let top = b.label();
    mark(&mut b, top, 1);
    fill(&mut b, i16::MAX as usize - 1);
    b.ja(top);
    let p = finish(&b);
    assert_eq!(p.insns().last(), Some(&Insn::Ja { off: i16::MIN }));
    assert_eq!(jumps(&p)[0].2, marker(&p, 1));
}

#[test]
fn one_slot_past_the_limits_is_refused_naming_the_label() {
    let mut b = ProgramBuilder::<()>::new();
    let out = b.label();
    jump_to(&mut b, JmpCond::Gt, out);
    fill(&mut b, i16::MAX as usize + 1);
    mark(&mut b, out, 1);
    b.emit(Insn::Exit);
    assert_eq!(
        b.finish().unwrap_err(),
        BuildError::TooFar { label: out, at: 0, distance: i16::MAX as i64 + 1 }
    );

    let mut b = ProgramBuilder::<()>::new();
    let _unused = b.label();
    let top = b.label();
    mark(&mut b, top, 1);
    fill(&mut b, i16::MAX as usize);
    b.ja(top);
    let err = b.finish().unwrap_err();
    assert_eq!(
        err,
        BuildError::TooFar { label: top, at: i16::MAX as usize + 1, distance: i16::MIN as i64 - 1 }
    );
    assert!(err.to_string().contains("label L1"), "{err}");
}

#[test]
fn far_jumps_forward_and_back_take_gotol() {
    let (mut b, top, out) = from_top();
    b.ja(out);
    fill(&mut b, 40_000);
    b.ja(top);
    let (p, j) = end_at(b, out, 2);
    assert_eq!(j.len(), 2);
    assert_gotol(&p, j[0], 2);
    assert_gotol(&p, j[1], 1);
}

#[test]
fn a_far_conditional_jump_is_its_inverse_over_a_gotol() {
    for (cond, back) in [(JmpCond::Slt, false), (JmpCond::Slt, true)] {
        let mut b = gotol_builder();
        let there = b.label();
        if back {
            mark(&mut b, there, 1);
            fill(&mut b, 40_000);
        }
        jump_to(&mut b, cond, there);
        let next = b.label();
        mark(&mut b, next, 2);
        if !back {
            fill(&mut b, 40_000);
            mark(&mut b, there, 1);
        }
        b.emit(Insn::Exit);
        let p = finish(&b);
        let j = jumps(&p);
        assert_eq!(j.len(), 2, "{cond:?} back: {back}");
        // `if r1 >= 7 goto +1` (over the gotol, to the fall-through) then `gotol there`.
        assert_eq!(j[0].1, cond_jump(JmpCond::Sge, 1));
        assert_eq!(j[0].2, marker(&p, 2));
        assert_gotol(&p, j[1], 1);
    }
}

#[test]
fn a_far_jset_jumps_over_a_goto_over_the_gotol() {
    let mut b = gotol_builder();
    let there = b.label();
    jump_to(&mut b, JmpCond::Set, there);
    let next = b.label();
    mark(&mut b, next, 2);
    fill(&mut b, 40_000);
    let (p, j) = end_at(b, there, 1);
    assert_eq!(j.len(), 3);
    assert_eq!((j[0].1, j[0].2), (cond_jump(JmpCond::Set, 1), 2));
    assert_eq!((j[1].1, j[1].2), (Insn::Ja { off: 1 }, marker(&p, 2)));
    assert_gotol(&p, j[2], 1);
}

#[test]
fn a_jump_made_far_can_push_another_past_the_limit() {
    // The back jump is exactly at the limit until the conditional jump it spans grows by one
    // slot; then it must be far too.
    let (mut b, top, out) = from_top();
    fill(&mut b, 99);
    jump_to(&mut b, JmpCond::Eq, out);
    fill(&mut b, 32_666);
    b.ja(top);
    assert_eq!(b.len(), 32_768);
    fill(&mut b, 40_000);
    let (p, j) = end_at(b, out, 2);
    assert_eq!(j.len(), 3);
    assert_eq!(j[0].1, cond_jump(JmpCond::Ne, 1));
    assert_gotol(&p, j[1], 2);
    assert_gotol(&p, j[2], 1);
}

#[test]
fn always_gotol_rewrites_near_jumps_too() {
    let mut b = ProgramBuilder::<()>::new();
    b.set_far_jumps(FarJumps::AlwaysGotol);
    let out = b.label();
    b.jump_if(Width::W32, JmpCond::Lt, Reg::R1, Source::Imm(7), out);
    b.ja(out);
    let (p, _) = end_at(b, out, 1);
    assert_eq!(
        p.insns()[..3],
        [
            Insn::Jump {
                width: Width::W32,
                cond: JmpCond::Ge,
                dst: Reg::R1,
                src: Source::Imm(7),
                off: 1,
            },
            Insn::Ja32 { imm: 1 },
            Insn::Ja32 { imm: 0 },
        ]
    );
}

#[test]
fn origins_follow_the_instructions_and_far_rewrites() {
    let mut b = ProgramBuilder::<u32>::with_origin(5);
    b.set_far_jumps(FarJumps::AlwaysGotol);
    let out = b.label();
    b.emit(mov(1));
    b.set_origin(6);
    b.jump_if(Width::W64, JmpCond::Eq, Reg::R1, Source::Imm(0), out);
    b.set_origin(7);
    b.bind(out);
    b.emit(Insn::Exit);
    assert_eq!(b.origin_of(1), Some(&6));
    let (p, origins) = b.finish().unwrap();
    assert_eq!(p.len(), 4);
    assert_eq!(origins, [5, 6, 6, 7]);
}

#[test]
fn local_calls_resolve_to_the_function() {
    let mut b = ProgramBuilder::<()>::new();
    let f = b.label();
    b.call(f);
    b.emit(Insn::Exit);
    let (p, j) = end_at(b, f, 3);
    assert_eq!(p.insns()[0], Insn::CallLocal { imm: 1 });
    assert_eq!(j[0].2, marker(&p, 3));
}

#[test]
fn an_unbound_label_is_an_error() {
    let mut b = ProgramBuilder::<()>::new();
    let nowhere = b.label();
    b.emit(mov(1));
    b.ja(nowhere);
    assert_eq!(b.finish().unwrap_err(), BuildError::Unbound { label: nowhere, at: 1 });
    // So is a call to one.
    let mut b = ProgramBuilder::<()>::new();
    let nowhere = b.label();
    b.call(nowhere);
    b.emit(Insn::Exit);
    assert!(matches!(b.finish(), Err(BuildError::Unbound { at: 0, .. })));
}

#[test]
fn a_label_bound_twice_is_an_error() {
    let mut b = ProgramBuilder::<()>::new();
    let l = b.here();
    b.emit(Insn::Exit);
    b.bind(l);
    b.emit(Insn::Exit);
    assert_eq!(b.finish().unwrap_err(), BuildError::Rebound { label: l });
}

#[test]
fn a_jump_past_the_end_is_not_a_program() {
    let mut b = ProgramBuilder::<()>::new();
    let end = b.label();
    b.ja(end);
    b.bind(end);
    assert!(matches!(b.finish(), Err(BuildError::Program(_))));
}

#[test]
fn goto_next_is_dropped_and_labels_follow() {
    let mut b = ProgramBuilder::<()>::new();
    let a = b.label();
    let c = b.label();
    jump_to(&mut b, JmpCond::Eq, c);
    b.ja(a);
    mark(&mut b, a, 1);
    b.ja(c);
    mark(&mut b, c, 2);
    assert!(b.reachable());
    b.emit(Insn::Exit);
    b.drop_jumps_to_next();
    let p = finish(&b);
    assert_eq!(p.len(), 4);
    assert_eq!(jumps(&p), [(0, cond_jump(JmpCond::Eq, 1), marker(&p, 2))]);
    assert!(!b.reachable(), "after exit");
}

#[test]
fn reachable_after_a_terminator_only_through_a_label() {
    let mut b = ProgramBuilder::<()>::new();
    assert!(b.reachable());
    b.emit(Insn::Exit);
    assert!(!b.reachable());
    let l = b.here();
    assert!(b.reachable());
    b.emit(Insn::Exit);
    b.ja(l);
    assert!(!b.reachable());
}

#[test]
fn stack_slots_count_down_from_r10_until_the_stack_is_full() {
    let mut b = ProgramBuilder::<()>::new();
    assert_eq!(b.alloc_slot(8), Ok(-8));
    assert_eq!(b.alloc_slot(3), Ok(-16), "rounded up to 8");
    b.free_slot(3);
    assert_eq!(b.alloc_slot(16), Ok(-24));
    assert_eq!(b.stack_used(), 24);
    assert_eq!(b.stack_max(), 24);
    assert_eq!(b.alloc_slot(STACK_SIZE - 24), Ok(-(STACK_SIZE as i16)));
    assert_eq!(
        b.alloc_slot(8),
        Err(BuildError::StackExhausted { size: 8, used: STACK_SIZE, limit: STACK_SIZE })
    );
    b.free_slot(STACK_SIZE - 24);
    assert_eq!(b.alloc_slot(8), Ok(-32));

    let mut b = ProgramBuilder::<()>::new();
    b.set_stack_limit(16);
    assert_eq!(b.alloc_slot(16), Ok(-16));
    assert!(b.alloc_slot(1).is_err());
    assert!(b.alloc_slot(u32::MAX).is_err());
}
