//! Red team against h-prec's domain changes (the signed range of the low 32 bits, the sync of
//! signed and unsigned ranges across the sign boundaries): random *chains* of abstract
//! operations, each abstract value shadowed by concrete values it must contain.
//!
//! The exhaustive and sampled tests check one operation on abstract values built directly;
//! a chain reaches the values the analyzer itself builds (a 32-bit view narrowed by one
//! comparison, then sign-extended, moved, compared again at the other width, joined with
//! another path's). Two tracks `A`, `B`, each an abstract value and 12 concrete values
//! (track `A`'s `k`-th pairs with `B`'s `k`-th); every step applies one operation to both the
//! abstract and the concrete values ([`udf_bytecode::semantics`], the engines' arithmetic)
//! and checks every concrete value is still in its abstract one. Branch refinement keeps the
//! pairs that take the side (a side declared impossible must have none), a register compared
//! with itself (`B` = `A`) included (`jset r, r` also as the analyzer decides it: `r != 0` or
//! `r == 0` at the width).
//!
//! `UDF_RED_CHAINS=N` sets the number of chains (default 5000 in debug, 20000 in release).

use udf_bytecode::insn::{AluOp, JmpCond, Width};
use udf_bytecode::rng::Rng;
use udf_bytecode::semantics;
use udf_verifier::Scalar;

const POINTS: [u64; 12] = [
    0,
    0x7f,
    0x80,
    0x7fff,
    0x8000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    u64::MAX,
];

fn point(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => rng.next_u64(),
        1 => rng.below(256),
        _ => rng.pick(&POINTS).wrapping_add(rng.below(9).wrapping_sub(4)),
    }
}

/// A track: an abstract value and the concrete values it must hold.
#[derive(Clone)]
struct Track {
    a: Scalar,
    xs: Vec<u64>,
}

impl Track {
    fn new(rng: &mut Rng) -> Track {
        // Values near one point (a range), or spread over several.
        let base = point(rng);
        let spread = rng.pick(&[0u64, 1, 15, 255, 0x1_0000]);
        let xs: Vec<u64> = (0..12)
            .map(|_| {
                if rng.chance(1, 6) { point(rng) } else { base.wrapping_add(rng.below(spread + 1)) }
            })
            .collect();
        let a = xs[1..].iter().fold(Scalar::constant(xs[0]), |a, &x| a.join(&Scalar::constant(x)));
        Track { a, xs }
    }
}

const CONDS: [JmpCond; 11] = [
    JmpCond::Eq,
    JmpCond::Ne,
    JmpCond::Gt,
    JmpCond::Ge,
    JmpCond::Lt,
    JmpCond::Le,
    JmpCond::Sgt,
    JmpCond::Sge,
    JmpCond::Slt,
    JmpCond::Sle,
    JmpCond::Set,
];

const OPS: [AluOp; 13] = [
    AluOp::Add,
    AluOp::Sub,
    AluOp::And,
    AluOp::Or,
    AluOp::Xor,
    AluOp::Lsh,
    AluOp::Rsh,
    AluOp::Arsh,
    AluOp::Mul,
    AluOp::Mov,
    AluOp::MovSx8,
    AluOp::MovSx16,
    AluOp::MovSx32,
];

fn width(rng: &mut Rng) -> Width {
    if rng.chance(1, 2) { Width::W32 } else { Width::W64 }
}

fn eval(width: Width, c: JmpCond, x: u64, y: u64) -> bool {
    if width == Width::W32 { c.eval32(x, y) } else { c.eval64(x, y) }
}

/// Runs one chain; `Err` describes the first concrete value its abstract one lost.
fn chain(rng: &mut Rng, steps: usize) -> Result<(), String> {
    let mut t = [Track::new(rng), Track::new(rng)];
    let mut log = String::new();
    for _ in 0..steps {
        let (d, s) = if rng.chance(1, 2) { (0, 1) } else { (1, 0) };
        match rng.below(10) {
            // ALU with the other track (pairwise) or a constant at a boundary.
            0..=4 => {
                let w = width(rng);
                let op = rng.pick(&OPS);
                if op == AluOp::MovSx32 && w == Width::W32 {
                    continue;
                }
                let (b, ys): (Scalar, Vec<u64>) = if rng.chance(1, 2) {
                    (t[s].a, t[s].xs.clone())
                } else {
                    let k = point(rng) & if rng.chance(1, 2) { 63 } else { u64::MAX };
                    let k = if w == Width::W32 { k & 0xffff_ffff } else { k };
                    (Scalar::constant(k), vec![k; 12])
                };
                log += &format!("{op:?} {w:?} {} <- {}\n", t[d].a, b);
                t[d].a = t[d].a.alu(op, w, &b);
                t[d].xs =
                    t[d].xs.iter().zip(&ys).map(|(&x, &y)| semantics::alu(op, w, x, y)).collect();
            }
            // A branch, both operands narrowed; with itself a fifth of the time.
            5..=8 => {
                let w = width(rng);
                let c = rng.pick(&CONDS);
                let same = rng.chance(1, 5);
                let holds = rng.chance(1, 2);
                let (a, b) = (t[d].a, if same { t[d].a } else { t[s].a });
                let ys = if same { t[d].xs.clone() } else { t[s].xs.clone() };
                log += &format!("{c:?} {w:?} {holds} same={same}: {a} vs {b}\n");
                // The analyzer decides `jset r, r` as `r != 0` (taken) or `r == 0` (not), at
                // the width (`same_register` in analyze/branch.rs): that way too.
                let via_zero = same && c == JmpCond::Set && rng.chance(1, 2);
                let r = if via_zero {
                    let z = Scalar::constant(0);
                    let c0 = if holds { JmpCond::Ne } else { JmpCond::Eq };
                    Scalar::refine_branch(w, c0, &a, &z, true).map(|(x, _)| (x, x))
                } else {
                    Scalar::refine_branch(w, c, &a, &b, holds)
                };
                let keep: Vec<usize> =
                    (0..12).filter(|&k| eval(w, c, t[d].xs[k], ys[k]) == holds).collect();
                let Some((na, nb)) = r else {
                    if let Some(&k) = keep.first() {
                        return Err(format!(
                            "{log}side declared impossible, but {:#x} vs {:#x} takes it",
                            t[d].xs[k], ys[k]
                        ));
                    }
                    continue;
                };
                if keep.is_empty() {
                    continue;
                }
                // The kept pairs only, for both tracks (they are paired by index).
                for tr in &mut t {
                    tr.xs = keep.iter().map(|&k| tr.xs[k]).collect();
                    while tr.xs.len() < 12 {
                        tr.xs.push(tr.xs[0]);
                    }
                }
                if same {
                    // One register: both refined values describe it.
                    t[d].a =
                        na.meet(&nb).ok_or_else(|| format!("{log}same: {na} and {nb} disjoint"))?;
                } else {
                    t[d].a = na;
                    t[s].a = nb;
                }
                log += &format!("  -> {} / {}\n", t[d].a, t[s].a);
            }
            // The other path's value joined in.
            _ => {
                let o = Track::new(rng);
                log += &format!("join {} with {}\n", t[d].a, o.a);
                t[d].a = t[d].a.join(&o.a);
                // Keep half of each.
                for k in 0..6 {
                    t[d].xs[2 * k + 1] = o.xs[2 * k + 1];
                }
            }
        }
        for tr in &t {
            if let Some(x) = tr.xs.iter().find(|&&x| !tr.a.contains(x)) {
                return Err(format!("{log}{} misses {x:#x}", tr.a));
            }
        }
    }
    Ok(())
}

#[test]
fn chains_of_operations_keep_their_values() {
    let default = if cfg!(debug_assertions) { 5_000 } else { 20_000 };
    let n: u64 =
        std::env::var("UDF_RED_CHAINS").ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let mut rng = Rng::new(0xc4a1_5eed);
    for i in 0..n {
        if let Err(e) = chain(&mut rng, 12) {
            panic!("chain {i}:\n{e}");
        }
    }
}
