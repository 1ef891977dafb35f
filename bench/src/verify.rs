//! Verification time against program size: straight-line and branchy programs of 1k to 1M
//! instructions, built directly as instructions (no assembler time in the measurement).

use std::time::{Duration, Instant};

use udf_bytecode::{AluOp, Insn, JmpCond, Program, ProgramType, Reg, Size, Source, Width};
use udf_verifier::{Config, verify};

const R0: Reg = Reg::R0;

fn reg(n: u8) -> Reg {
    Reg::new(n).expect("register")
}

/// A body of `n` instructions: context loads at constant offsets, ALU on the loaded values,
/// stack spills and fills; with `branchy`, a forward conditional jump every 8 instructions
/// skipping 3 of them (so paths join again).
pub fn program(n: usize, branchy: bool) -> Program {
    let mut v = vec![
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: R0,
            src: Source::Imm(0),
        },
        Insn::Alu {
            width: Width::W64,
            op: AluOp::Mov,
            dst: reg(6),
            src: Source::Imm(1),
        },
    ];
    for j in 1..=16 {
        v.push(Insn::Store {
            size: Size::DW,
            base: reg(10),
            off: -8 * j,
            src: Source::Imm(0),
        });
    }
    let mut k = 0u32;
    while v.len() + 1 < n {
        k += 1;
        let left = n - 1 - v.len();
        if branchy && k.is_multiple_of(8) && left > 4 {
            v.push(Insn::Jump {
                width: Width::W64,
                cond: JmpCond::Gt,
                dst: reg(3),
                src: Source::Imm(100),
                off: 3,
            });
            continue;
        }
        let insn = match k % 7 {
            0 => Insn::Load {
                size: Size::B,
                signed: false,
                dst: reg(3),
                base: reg(1),
                off: (k % 60) as i16,
            },
            1 => Insn::Alu {
                width: Width::W64,
                op: AluOp::Add,
                dst: R0,
                src: Source::Reg(reg(3)),
            },
            2 => Insn::Store {
                size: Size::DW,
                base: reg(10),
                off: -8 * (1 + (k % 16) as i16),
                src: Source::Reg(R0),
            },
            3 => Insn::Alu {
                width: Width::W32,
                op: AluOp::Xor,
                dst: reg(6),
                src: Source::Reg(reg(3)),
            },
            4 => Insn::Load {
                size: Size::DW,
                signed: false,
                dst: reg(4),
                base: reg(10),
                off: -8,
            },
            5 => Insn::Alu {
                width: Width::W64,
                op: AluOp::And,
                dst: reg(4),
                src: Source::Imm(0xff),
            },
            _ => Insn::Alu {
                width: Width::W64,
                op: AluOp::Lsh,
                dst: reg(6),
                src: Source::Imm(1),
            },
        };
        // Registers read must have been written: r3 and r4 first appear as destinations.
        if k < 8 && !matches!(k % 7, 0 | 2 | 4) {
            v.push(Insn::Load {
                size: Size::B,
                signed: false,
                dst: reg(3),
                base: reg(1),
                off: 0,
            });
            continue;
        }
        v.push(insn);
    }
    v.push(Insn::Exit);
    Program::from_insns(v).expect("well-formed")
}

/// Prints the table: size, time per verification, instructions per second.
pub fn run(quick: bool) {
    let mut conf = Config::new(ProgramType::Size);
    conf.ctx_size = Some(64);
    conf.budget = u64::MAX;
    println!(
        "| program | instructions | verify time | M insns/s | time / (time at 1k x size/1k) |"
    );
    println!("| --- | --- | --- | --- | --- |");
    let sizes: &[usize] = if quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000, 1_000_000]
    };
    for branchy in [false, true] {
        let mut base = None;
        for &n in sizes {
            let prog = program(n, branchy);
            let facts = verify(&prog, &conf).expect("benchmark programs verify");
            assert!(facts.max_insns <= n as u64);
            let reps = (2_000_000 / n).clamp(3, 200);
            let mut best = Duration::MAX;
            for _ in 0..reps {
                let t = Instant::now();
                std::hint::black_box(verify(&prog, &conf).is_ok());
                best = best.min(t.elapsed());
            }
            let per_k = best.as_secs_f64() / (n as f64 / 1000.0);
            let base = *base.get_or_insert(per_k);
            println!(
                "| {} | {n} | {:.3} ms | {:.1} | {:.2} |",
                if branchy { "branchy" } else { "straight" },
                best.as_secs_f64() * 1e3,
                n as f64 / best.as_secs_f64() / 1e6,
                per_k / base
            );
        }
    }
}
