//! The interpreter's semantics on chosen edge cases, its faults, and its totality on generated
//! programs.

use proptest::prelude::*;
use udf_bytecode::generate;
use udf_bytecode::rng::Rng;
use udf_bytecode::{CheckConfig, CheckErrorKind, ProgramType, Reg, assemble};
use udf_runtime::*;

fn run_full(src: &str, mem: &mut [u8], budget: u64) -> Result<Outcome, Fault> {
    let prog = assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let compiled =
        prepare(&prog, &CheckConfig::for_type(ProgramType::Raw)).unwrap_or_else(|e| panic!("{e}"));
    Vm::new().run(&compiled, Context::ReadWrite(mem), &mut NoHelpers, &RunOptions { budget, r3: 0 })
}

fn r0(src: &str) -> u64 {
    run_full(src, &mut [], 1_000_000).unwrap_or_else(|f| panic!("{f}\n{src}")).r0
}

#[test]
fn arithmetic_edge_cases() {
    let cases: &[(&str, u64)] = &[
        ("mov %r0, 7\ndiv %r0, 0\nexit", 0),
        ("mov %r0, 7\nmov %r1, 0\nmod %r0, %r1\nexit", 7),
        ("lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit", 0x8000_0000_0000_0000),
        ("lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit", 0),
        ("mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit", 0x8000_0000),
        ("mov %r0, -7\nsmod %r0, 2\nexit", (-1i64) as u64),
        ("mov %r0, 7\nsmod %r0, -2\nexit", 1),
        ("lddw %r0, 0xffffffff00000007\nmod32 %r0, 0\nexit", 7),
        ("mov %r0, 1\nlsh %r0, 65\nexit", 2),
        ("mov %r0, 1\nlsh32 %r0, 33\nexit", 2),
        ("mov %r0, -1\nadd32 %r0, 1\nexit", 0),
        ("mov %r0, -16\narsh32 %r0, 2\nexit", 0xffff_fffc),
        ("mov %r0, -1\nmov32 %r0, %r0\nexit", 0xffff_ffff),
        ("mov %r0, 0x80\nmovsx864 %r0, %r0\nexit", (-128i64) as u64),
        ("mov %r0, 0x8000\nmovsx1632 %r0, %r0\nexit", 0xffff_8000),
        ("lddw %r0, 0x1122334455667788\nbe16 %r0\nexit", 0x8877),
        ("lddw %r0, 0x1122334455667788\nle32 %r0\nexit", 0x5566_7788),
        ("lddw %r0, 0x1122334455667788\nbswap64 %r0\nexit", 0x8877_6655_4433_2211),
        ("mov32 %r0, 0x80000000\nneg32 %r0\nexit", 0x8000_0000),
        ("mov %r0, 0\njsgt32 %r0, -1, +1\nexit\nmov %r0, 9\nexit", 9),
        ("lddw %r1, 0x100000000\nmov %r0, 0\njeq32 %r1, 0, +1\nexit\nmov %r0, 1\nexit", 1),
    ];
    for (src, want) in cases {
        assert_eq!(r0(src), *want, "{src}");
    }
}

#[test]
fn memory_is_little_endian_and_sign_extends() {
    let mut mem = [0x80, 0xff, 0x01, 0x02, 0, 0, 0, 0];
    let out = run_full("ldxsh %r0, [%r1]\nexit", &mut mem, 100).expect("runs");
    assert_eq!(out.r0, 0xffff_ffff_ffff_ff80);
    let out = run_full("ldxw %r0, [%r1]\nexit", &mut mem, 100).expect("runs");
    assert_eq!(out.r0, 0x0201_ff80);
    run_full("stw [%r1+4], -1\nmov %r0, 0\nexit", &mut mem, 100).expect("runs");
    assert_eq!(mem[4..], [0xff; 4]);
}

#[test]
fn atomics() {
    let src = "stdw [%r10-8], 5\nmov %r1, 3\nlock fetch add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nlsh %r0, 8\nor %r0, %r1\nexit";
    assert_eq!(r0(src), (8 << 8) | 5);
    let src = "stdw [%r10-8], 5\nmov %r0, 5\nmov %r1, 9\nlock cmpxchg [%r10-8], %r1\nldxdw %r2, [%r10-8]\nlsh %r2, 8\nor %r0, %r2\nexit";
    assert_eq!(r0(src), (9 << 8) | 5);
    let src = "lddw %r1, 0xffffffff00000001\nstxdw [%r10-8], %r1\nmov %r2, 2\nlock xchg32 [%r10-8], %r2\nldxdw %r0, [%r10-8]\nadd %r0, %r2\nexit";
    assert_eq!(r0(src), 0xffff_ffff_0000_0002 + 1);
}

#[test]
fn faults_name_the_instruction() {
    let f = run_full("mov %r0, 0\nldxb %r0, [%r1+4]\nexit", &mut [0; 4], 100)
        .expect_err("out of bounds");
    assert_eq!(f.pc, 1);
    assert!(matches!(f.kind, FaultKind::OutOfBounds { size: 1, write: false, .. }), "{f}");

    let f = run_full("mov %r0, 0\nstxdw [%r10-520], %r0\nexit", &mut [], 100)
        .expect_err("below the frame");
    assert_eq!(f.pc, 1);
    assert!(matches!(f.kind, FaultKind::OutOfBounds { write: true, .. }), "{f}");

    let f = run_full("mov %r0, 0\nstxdw [%r10-4], %r0\nexit", &mut [], 100)
        .expect_err("straddles the top");
    assert!(matches!(f.kind, FaultKind::OutOfBounds { .. }), "{f}");

    let f = run_full("mov %r0, 0\nja -2", &mut [], 1000).expect_err("loops forever");
    assert_eq!(f.kind, FaultKind::BudgetExhausted { budget: 1000 });

    let f = run_full("mov %r0, 0\ncall 77\nexit", &mut [], 100).expect_err("no helper 77");
    assert_eq!((f.pc, f.kind), (1, FaultKind::UnknownHelper { id: 77 }));

    let f = run_full("f:\ncall local f\nexit", &mut [], 100).expect_err("infinite recursion");
    assert_eq!(f.kind, FaultKind::CallDepthExceeded);

    // A read-only context refuses stores.
    let prog = assemble("stb [%r1], 1\nmov %r0, 0\nexit").expect("assembles");
    let compiled = prepare(&prog, &CheckConfig::for_type(ProgramType::Filter)).expect("checks");
    let f = Vm::new()
        .run(&compiled, Context::ReadOnly(&[0; 4]), &mut NoHelpers, &RunOptions::default())
        .expect_err("read-only");
    assert!(matches!(f.kind, FaultKind::ReadOnly { .. }), "{f}");
}

#[test]
fn budget_counts_exactly() {
    let out = run_full("mov %r0, 1\nmov %r1, 2\nexit", &mut [], 3).expect("three instructions fit");
    assert_eq!(out.executed, 3);
    let f = run_full("mov %r0, 1\nmov %r1, 2\nexit", &mut [], 2).expect_err("two do not");
    assert_eq!(f.pc, 2);
}

#[test]
fn local_calls_get_fresh_frames_and_keep_callee_saved_registers() {
    let src = "mov %r6, 6\nstdw [%r10-8], 42\nmov %r1, %r10\ncall local f\nadd %r0, %r6\nexit\n\
               f:\nldxdw %r0, [%r1-8]\nldxdw %r2, [%r10-8]\nadd %r0, %r2\nmov %r6, 100\nexit";
    // Callee reads its caller's frame through the pointer argument; its own frame starts zeroed.
    assert_eq!(r0(src), 42 + 6);
}

/// Runs a filter on `pkt` (no helpers, default options).
fn run_packet(vm: &mut Vm, compiled: &Compiled, pkt: &[u8]) -> Outcome {
    vm.run(compiled, Context::ReadOnly(pkt), &mut NoHelpers, &RunOptions::default()).expect("runs")
}

#[test]
fn legacy_packet_loads_are_big_endian_and_return_zero_out_of_bounds() {
    let prog = assemble("ldabsh 2\nmov %r6, %r0\nldabsw 4\nexit").expect("assembles");
    let compiled = prepare(&prog, &CheckConfig::for_type(ProgramType::Filter)).expect("checks");
    let pkt = [0, 0, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef];
    let mut vm = Vm::new();
    let out = run_packet(&mut vm, &compiled, &pkt);
    assert_eq!(out.r0, 0xdead_beef);
    let out = run_packet(&mut vm, &compiled, &pkt[..7]);
    assert_eq!(out.r0, 0, "a load past the captured bytes rejects the packet");

    let prog = assemble("mov %r3, -1\nldindb %r3, 2\nexit").expect("assembles");
    let compiled = prepare(&prog, &CheckConfig::for_type(ProgramType::Filter)).expect("checks");
    let out = run_packet(&mut vm, &compiled, &pkt);
    assert_eq!(
        out.r0, pkt[1] as u64,
        "X + k is computed in 32 bits: 0xffffffff + 2 wraps to byte 1"
    );

    let refused =
        prepare(&prog, &CheckConfig::for_type(ProgramType::Owns)).expect_err("owns has no packets");
    assert!(matches!(refused.kind, CheckErrorKind::LegacyLoadNotAllowed { .. }));
}

#[test]
fn owns_programs_emit_extents_in_order() {
    let prog = assemble("mov %r1, 10\nmov %r2, 1\nmov %r3, 0\ncall 1\nmov %r1, 20\nmov %r2, 4\nmov %r3, 1\ncall 1\nmov %r0, 0\nexit")
        .expect("assembles");
    let compiled = prepare(&prog, &CheckConfig::for_type(ProgramType::Owns)).expect("checks");
    let mut emit = EmitHelpers::new(16);
    Vm::new()
        .run(&compiled, Context::ReadOnly(&[]), &mut emit, &RunOptions::default())
        .expect("runs");
    assert_eq!(
        emit.extents,
        vec![Extent { start: 10, count: 1, kind: 0 }, Extent { start: 20, count: 4, kind: 1 }]
    );
}

#[test]
fn pre_run_checks() {
    let refuse = |src: &str, ty: ProgramType| {
        let prog = assemble(src).expect("assembles");
        prepare(&prog, &CheckConfig::for_type(ty)).expect_err("refused")
    };
    let e = refuse("or %r0, %r10\nexit", ProgramType::Raw);
    assert_eq!((e.pc, e.kind), (0, CheckErrorKind::UninitializedRead { reg: Reg::R0 }));
    let e = refuse("mov %r0, 0\njeq %r1, 0, +1\nmov %r4, 1\nmov %r0, %r4\nexit", ProgramType::Raw);
    assert_eq!((e.pc, e.kind), (3, CheckErrorKind::UninitializedRead { reg: Reg::R4 }));
    let e = refuse("mov %r10, 0\nmov %r0, 0\nexit", ProgramType::Raw);
    assert_eq!(e.kind, CheckErrorKind::FramePointerWrite);
    let e = refuse("mov %r0, 0\njeq %r0, 0, -2", ProgramType::Raw);
    assert_eq!(e.kind, CheckErrorKind::FallsOffEnd);
    let e = refuse("mov %r0, 0\ncall local f\nmov %r0, %r1\nexit\nf:\nexit", ProgramType::Raw);
    assert_eq!(
        (e.pc, e.kind),
        (2, CheckErrorKind::UninitializedRead { reg: Reg::R1 }),
        "calls clobber r1-r5"
    );
    let e = refuse("mov %r0, 0\ncall local f\nexit\nf:\nmov %r0, %r6\nexit", ProgramType::Raw);
    assert_eq!(
        e.kind,
        CheckErrorKind::UninitializedRead { reg: Reg::R6 },
        "callees start without r6-r9"
    );
    let e = refuse("mov %r0, 0\nmov %r1, 5\ncall 1\nexit", ProgramType::Owns);
    assert_eq!(
        e.kind,
        CheckErrorKind::UninitializedRead { reg: Reg::R3 },
        "emit takes three arguments"
    );
    let e = refuse("mov %r0, 0\ncall 2\nexit", ProgramType::Owns);
    assert_eq!(e.kind, CheckErrorKind::UnknownHelper { id: 2 });
    let e = refuse("lddw %r1, map_fd 3\nmov %r0, 0\nexit", ProgramType::Raw);
    assert!(matches!(e.kind, CheckErrorKind::Unsupported { .. }));
    // r3 is defined on entry to filters only.
    assert!(
        prepare(
            &assemble("mov %r0, %r3\nexit").expect("ok"),
            &CheckConfig::for_type(ProgramType::Filter)
        )
        .is_ok()
    );
    let e = refuse("mov %r0, %r3\nexit", ProgramType::Size);
    assert_eq!(e.kind, CheckErrorKind::UninitializedRead { reg: Reg::R3 });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The interpreter is total: any decoded program, checked or not, on any memory, ends in a
    /// result or a typed fault, never a panic; and running twice gives the same thing.
    #[test]
    fn interpreter_never_panics_and_is_deterministic(seed in any::<u64>(), mem in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut rng = Rng::new(seed);
        let prog = generate::program(&mut rng, 30);
        let compiled = Compiled::new(&prog);
        let mut vm = Vm::new();
        let opts = RunOptions { budget: 2000, r3: mem.len() as u64 };
        let mut m1 = mem.clone();
        let a = vm.run(&compiled, Context::ReadWrite(&mut m1), &mut EmitHelpers::new(64), &opts);
        let mut m2 = mem.clone();
        let b = vm.run(&compiled, Context::ReadWrite(&mut m2), &mut EmitHelpers::new(64), &opts);
        prop_assert_eq!(&a, &b);
        prop_assert_eq!(m1, m2);
        if let Err(f) = a {
            prop_assert!(f.pc < prog.slot_count() + 1);
        }
    }

    /// Decoded random bytes run safely too.
    #[test]
    fn random_bytecode_runs_safely(seed in any::<u64>()) {
        let mut rng = Rng::new(seed);
        let bytes = generate::raw_slots(&mut rng, 16);
        if let Ok(prog) = udf_bytecode::Program::decode(&bytes) {
            let mut mem = [0u8; 16];
            let _ = Vm::new().run(&Compiled::new(&prog), Context::ReadWrite(&mut mem), &mut NoHelpers, &RunOptions { budget: 1000, r3: 0 });
        }
    }
}

fn values() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(0u64),
        Just(u64::MAX),
        Just(i64::MIN as u64),
        Just(0x8000_0000),
        Just(0xffff_ffff),
        (0u64..70),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Every specialised ALU and jump arm of the dispatch loop agrees with the one definition in
    /// `udf_bytecode::semantics` and `JmpCond::eval*`.
    #[test]
    fn dispatch_arms_agree_with_the_semantics(a in values(), b in values(), imm in any::<i32>(), pick in any::<u64>()) {
        use udf_bytecode::insn::*;
        use udf_bytecode::semantics;
        let mut rng = Rng::new(pick);
        let width = rng.pick(&[Width::W32, Width::W64]);
        let reg_src = rng.chance(1, 2);
        let src = if reg_src { Source::Reg(Reg::R2) } else { Source::Imm(imm) };
        let operand = if reg_src { b } else { semantics::extend_imm(width, imm) };
        let (insn, expect) = if rng.chance(1, 2) {
            let op = rng.pick(&AluOp::ALL);
            if !op.valid_with(width, reg_src) {
                return Ok(());
            }
            (Insn::Alu { width, op, dst: Reg::R1, src }, semantics::alu(op, width, a, operand))
        } else {
            let cond = rng.pick(&JmpCond::ALL);
            let taken = match width {
                Width::W64 => cond.eval64(a, operand),
                Width::W32 => cond.eval32(a, operand),
            };
            (Insn::Jump { width, cond, dst: Reg::R1, src, off: 1 }, if taken { 1 } else { 0 })
        };
        let is_jump = matches!(insn, Insn::Jump { .. });
        let mut insns = vec![
            Insn::LoadImm64 { dst: Reg::R1, imm: a },
            Insn::LoadImm64 { dst: Reg::R2, imm: b },
            insn,
        ];
        if is_jump {
            insns.extend([
                Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Source::Imm(0) },
                Insn::Exit,
                Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Source::Imm(1) },
                Insn::Exit,
            ]);
            // The jump skips the first `mov r0, 0; exit` pair: offset 2.
            if let Insn::Jump { off, .. } = &mut insns[2] {
                *off = 2;
            }
        } else {
            insns.extend([Insn::Alu { width: Width::W64, op: AluOp::Mov, dst: Reg::R0, src: Source::Reg(Reg::R1) }, Insn::Exit]);
        }
        let prog = udf_bytecode::Program::from_insns(insns).expect("valid");
        let out = Vm::new().run(&Compiled::new(&prog), Context::ReadOnly(&[]), &mut NoHelpers, &RunOptions::default()).expect("runs");
        prop_assert_eq!(out.r0, expect, "{}", udf_bytecode::disassemble(&prog));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// The budget is exact whatever the metering: a run that executes E instructions completes
    /// with budget E and faults on budget exhaustion with E - 1, identically otherwise.
    #[test]
    fn budget_is_exact(seed in any::<u64>(), mem in proptest::collection::vec(any::<u8>(), 0..32)) {
        let prog = generate::program(&mut Rng::new(seed), 25);
        let compiled = Compiled::new(&prog);
        let mut vm = Vm::new();
        let run = |vm: &mut Vm, budget: u64| {
            let mut m = mem.clone();
            let out = vm.run(&compiled, Context::ReadWrite(&mut m), &mut EmitHelpers::new(64), &RunOptions { budget, r3: 0 });
            (out, m)
        };
        let (full, mem_full) = run(&mut vm, 5000);
        if let Ok(out) = full {
            let (again, mem_again) = run(&mut vm, out.executed);
            prop_assert_eq!(again, Ok(out));
            prop_assert_eq!(mem_again, mem_full);
            if out.executed > 0 {
                let (short, _) = run(&mut vm, out.executed - 1);
                let f = short.expect_err("one instruction short");
                prop_assert_eq!(f.kind, FaultKind::BudgetExhausted { budget: out.executed - 1 });
            }
        }
    }
}
