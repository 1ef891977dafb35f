//! The structure-aware generator: well-formed, bounded, deterministic programs that mostly pass
//! the pre-run checks and contain the patterns a verifier must handle.

use udf_bytecode::generate::{self, Features, Flaw, Shape, Structured};
use udf_bytecode::rng::Rng;
use udf_bytecode::{CheckConfig, Insn, Program, ProgramType, Reg, Source, check};

const SEEDS: u64 = 2000;
const MAX_LEN: usize = 64;
/// Programs may pass `max_len` by the few instructions of their exits.
const SLACK: usize = 16;

fn gen_labeled(shape: &Shape, seed: u64) -> Structured {
    generate::structured_labeled(&mut Rng::new(seed), shape)
}

/// A backward jump (a loop).
fn has_loop(p: &Program) -> bool {
    p.iter().any(|(pc, i)| {
        !matches!(i, Insn::CallLocal { .. }) && p.branch_target(pc).is_some_and(|t| t <= pc)
    })
}

/// `stxdw [r10+off], rX` and, later, `ldxdw rY, [r10+off]` (a spill filled back whole).
fn has_spill_fill(p: &Program) -> bool {
    let insns = p.insns();
    insns.iter().enumerate().any(|(i, s)| match *s {
        Insn::Store {
            size: udf_bytecode::Size::DW,
            base: Reg::R10,
            off,
            src: Source::Reg(_),
        } => insns[i + 1..].iter().any(|l| {
            matches!(*l, Insn::Load { size: udf_bytecode::Size::DW, base: Reg::R10, off: o, .. } if o == off)
        }),
        _ => false,
    })
}

fn has_helper_call(p: &Program) -> bool {
    p.insns().iter().any(|i| matches!(i, Insn::Call { imm: 1 }))
}

/// A conditional jump on `r2` or on a register copied from it.
fn has_len_check(p: &Program) -> bool {
    let mut copies = 1u16 << 2;
    for i in p.insns() {
        if let Insn::Alu { op: udf_bytecode::AluOp::Mov, dst, src: Source::Reg(Reg::R2), .. } = *i {
            copies |= 1 << dst.num();
        }
    }
    let is_len = |r: Reg| copies & (1 << r.num()) != 0;
    p.insns().iter().any(|i| match *i {
        Insn::Jump { dst, src, .. } => is_len(dst) || matches!(src, Source::Reg(r) if is_len(r)),
        _ => false,
    })
}

fn shape(ty: ProgramType) -> Shape {
    Shape::new(ty, MAX_LEN)
}

#[derive(Default, Debug)]
struct Tally {
    n: usize,
    checked: usize,
    flawed: usize,
    loops: usize,
    spills: usize,
    helper_calls: usize,
    len_checks: usize,
    headers: usize,
    local_calls: usize,
    nested: usize,
    indexed: usize,
    legacy: usize,
    diamonds: usize,
}

fn tally(ty: ProgramType) -> Tally {
    let shape = shape(ty);
    let cfg = CheckConfig::for_type(ty);
    let mut t = Tally::default();
    for seed in 0..SEEDS {
        let s = gen_labeled(&shape, seed);
        let p = &s.program;
        // Well-formed: the bytes decode to the same program.
        let bytes = p.encode();
        assert_eq!(Program::decode(&bytes).as_ref(), Ok(p), "{ty} seed {seed}: round trip");
        assert!(p.len() <= MAX_LEN + SLACK, "{ty} seed {seed}: {} instructions", p.len());
        let ok = check(p, &cfg).is_ok();
        // Only the planted uninitialised-register flaw trips the pre-run checks.
        if s.flaw != Some(Flaw::UninitRegister) {
            assert!(ok, "{ty} seed {seed} ({:?}): {:?}", s.flaw, check(p, &cfg));
        }
        let f: Features = s.features;
        t.n += 1;
        t.checked += usize::from(ok);
        t.flawed += usize::from(s.flaw.is_some());
        t.loops += usize::from(has_loop(p));
        t.spills += usize::from(has_spill_fill(p) && f.pointer_spills > 0);
        t.helper_calls += usize::from(has_helper_call(p));
        t.len_checks += usize::from(has_len_check(p) && f.len_checks > 0);
        t.headers += usize::from(f.header_patterns > 0);
        t.local_calls += usize::from(p.insns().iter().any(|i| matches!(i, Insn::CallLocal { .. })));
        t.nested += usize::from(f.nested_loops > 0);
        t.indexed += usize::from(f.indexed_loops > 0);
        t.legacy += usize::from(
            p.insns().iter().any(|i| matches!(i, Insn::LoadAbs { .. } | Insn::LoadInd { .. })),
        );
        t.diamonds += usize::from(f.diamonds > 0);
        assert_eq!(f.loops > 0, has_loop(p), "{ty} seed {seed}: loop count");
    }
    t
}

fn pct(x: usize, t: &Tally) -> usize {
    x * 100 / t.n
}

#[test]
fn deterministic_per_seed() {
    for ty in ProgramType::ALL {
        let shape = shape(ty);
        for seed in 0..200 {
            let a = generate::structured(&mut Rng::new(seed), &shape);
            let b = gen_labeled(&shape, seed);
            assert_eq!(a, b.program, "{ty} seed {seed}");
            assert_eq!(gen_labeled(&shape, seed).flaw, b.flaw);
        }
    }
}

/// Measured at 2000 seeds, 64 instructions (percent of programs; filter / owns / acl / size /
/// raw): pass the pre-run checks 99 / 98 / 99 / 99 / 98 (the rest: the planted uninitialised
/// register), flawed 20 / 19 / 19 / 22 / 19, loops 88 / 89 / 93 / 95 / 87, nested 5-8, indexed
/// 22-29, spill + fill 78 / 84 / 87 / 87 / 78, local calls 27-43, diamonds 74-82; filter:
/// length checks 97, variable headers 46, LD_ABS/LD_IND 90; owns: helper calls 79. The bounds
/// leave a margin.
#[test]
fn features_and_check_rates() {
    for ty in ProgramType::ALL {
        let t = tally(ty);
        eprintln!(
            "{ty}: check {}% flawed {}% loops {}% nested {}% indexed {}% spills {}% helper {}% \
             local {}% len-checks {}% headers {}% legacy {}% diamonds {}%",
            pct(t.checked, &t),
            pct(t.flawed, &t),
            pct(t.loops, &t),
            pct(t.nested, &t),
            pct(t.indexed, &t),
            pct(t.spills, &t),
            pct(t.helper_calls, &t),
            pct(t.local_calls, &t),
            pct(t.len_checks, &t),
            pct(t.headers, &t),
            pct(t.legacy, &t),
            pct(t.diamonds, &t),
        );
        assert!(pct(t.checked, &t) >= 95, "{ty}: {t:?}");
        // Most are meant to be valid; some are not.
        assert!((10..=30).contains(&pct(t.flawed, &t)), "{ty}: {t:?}");
        assert!(pct(t.loops, &t) >= 70, "{ty}: {t:?}");
        assert!(pct(t.nested, &t) >= 2, "{ty}: {t:?}");
        assert!(pct(t.indexed, &t) >= 12, "{ty}: {t:?}");
        assert!(pct(t.spills, &t) >= 60, "{ty}: {t:?}");
        assert!(pct(t.local_calls, &t) >= 15, "{ty}: {t:?}");
        assert!(pct(t.diamonds, &t) >= 60, "{ty}: {t:?}");
        match ty {
            ProgramType::Owns => assert!(pct(t.helper_calls, &t) >= 60, "{ty}: {t:?}"),
            _ => assert_eq!(t.helper_calls, 0, "{ty}: emit outside owns"),
        }
        if ty == ProgramType::Filter {
            assert!(pct(t.len_checks, &t) >= 85, "{ty}: {t:?}");
            assert!(pct(t.headers, &t) >= 30, "{ty}: {t:?}");
            assert!(pct(t.legacy, &t) >= 70, "{ty}: {t:?}");
        }
    }
}

/// Every kind of flaw is planted for some seed.
#[test]
fn every_flaw_kind_appears() {
    let kinds = [
        Flaw::CtxOutOfBounds,
        Flaw::HeaderOffByOne,
        Flaw::StackUninitRead,
        Flaw::StackOutOfBounds,
        Flaw::UnboundedLoop,
        Flaw::LoopIndexOffByOne,
        Flaw::PointerLeak,
        Flaw::CtxWrite,
        Flaw::BadPointerArith,
        Flaw::UninitRegister,
    ];
    let mut seen = [false; 10];
    for ty in [ProgramType::Filter, ProgramType::Owns] {
        for seed in 0..1000 {
            if let Some(f) = gen_labeled(&shape(ty), seed).flaw {
                seen[kinds.iter().position(|&k| k == f).unwrap()] = true;
            }
        }
    }
    for (k, s) in kinds.iter().zip(seen) {
        assert!(s, "{k:?} never planted");
    }
}

/// Odd shapes: tiny and large budgets, tiny and odd context sizes, variable contexts for
/// template types. Always well-formed and bounded.
#[test]
fn odd_shapes_stay_well_formed() {
    for ty in ProgramType::ALL {
        for (max_len, ctx_size) in [
            (0, Some(0)),
            (1, Some(1)),
            (5, Some(3)),
            (12, None),
            (30, Some(7)),
            (300, Some(16)),
            (300, None),
            (1000, Some(100_000)),
        ] {
            let shape = Shape { ty, max_len, ctx_size, focus: None };
            for seed in 0..40 {
                let p = generate::structured(&mut Rng::new(seed), &shape);
                assert_eq!(Program::decode(&p.encode()).as_ref(), Ok(&p));
                assert!(p.len() <= max_len.max(8) + SLACK, "{ty} {max_len}: {}", p.len());
            }
        }
    }
}

/// Every hazard aimed at every type, with the lengths and context shapes campaigns use: the
/// generator never fails to link its own labels (a hazard that gave up half-way through a
/// diamond once left two labels unbound: `Size`, 140 instructions, no fixed context, seed 281).
#[test]
fn focused_shapes_always_link() {
    use udf_bytecode::generate::Hazard;
    for h in Hazard::ALL {
        for ty in ProgramType::ALL {
            for (max_len, ctx_size) in [(140, None), (64, Some(64)), (200, Some(16))] {
                let shape = Shape { ty, max_len, ctx_size, focus: Some(h) };
                for seed in 0..300 {
                    let p = std::panic::catch_unwind(|| {
                        generate::structured(&mut Rng::new(seed), &shape)
                    })
                    .unwrap_or_else(|_| panic!("{h:?} {ty} {max_len} {ctx_size:?} seed {seed}"));
                    assert_eq!(Program::decode(&p.encode()).as_ref(), Ok(&p));
                    assert!(p.len() <= max_len + SLACK, "{h:?} {ty} {seed}: {}", p.len());
                }
            }
        }
    }
}

/// Each hazard shape, aimed at: well-formed, within its length, deterministic per seed, and
/// its production present in most programs of every verified type.
#[test]
fn hazard_shapes_are_produced() {
    use udf_bytecode::generate::Hazard;
    for h in Hazard::ALL {
        for ty in [ProgramType::Filter, ProgramType::Owns, ProgramType::Acl, ProgramType::Size] {
            let shape = Shape::focused(ty, 48, h);
            let mut with = 0;
            for seed in 0..200 {
                let s = gen_labeled(&shape, seed);
                let p = &s.program;
                assert_eq!(Program::decode(&p.encode()).as_ref(), Ok(p), "{h:?} {ty} {seed}");
                assert!(p.len() <= 48 + SLACK, "{h:?} {ty} {seed}: {}", p.len());
                let again = gen_labeled(&shape, seed);
                assert_eq!(&again.program, p, "{h:?} {ty} {seed}: not deterministic");
                assert_eq!(again.unproven, s.unproven);
                if s.flaw != Some(Flaw::UninitRegister) {
                    let cfg = CheckConfig::for_type(ty);
                    assert!(check(p, &cfg).is_ok(), "{h:?} {ty} {seed}: {:?}", check(p, &cfg));
                }
                let f = s.features;
                let n = match h {
                    Hazard::Transform => f.transforms,
                    Hazard::CallSymbols => f.call_symbols,
                    Hazard::FarOffsets => f.far_offsets,
                    Hazard::EitherRegion => f.either_calls,
                    Hazard::LoopRegion => f.loop_regions,
                    Hazard::PathFacts => f.path_facts,
                };
                with += usize::from(n > 0);
                assert_eq!(f.loops > 0, has_loop(p), "{h:?} {ty} {seed}: loop count");
            }
            // measured: at least 100 of 200 (CallSymbols on filter), most above 150
            assert!(with >= 80, "{h:?} {ty}: in {with} of 200");
        }
    }
}
