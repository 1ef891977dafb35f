//! Conditional jumps: which arms can be taken, and the facts each arm learns.

use super::*;

impl Analyzer<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn jump(
        &mut self,
        i: usize,
        slot: &mut Option<Flow>,
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Source,
    ) -> R<()> {
        let Some(flow) = slot.as_mut() else {
            return Ok(());
        };
        // A number compared with no name gets one here: symbol `i` names the value `dst`
        // holds after this jump (what [`crate::defines`] says), so what the comparison says
        // about it reaches every copy made after, and the accesses through them.
        if let Some(v) = flow.st.regs.get_mut(dst.index())
            && v.kind == ValueKind::Scalar
            && v.sym.is_none()
        {
            v.sym = Some((i as Sym, 0));
            flow.st.syms_below = flow.st.syms_below.max(i as Sym + 1);
        }
        let st = &flow.st;
        let a = Self::read(st, i, dst)?;
        let (b, b_reg) = match src {
            Source::Reg(r) => (Self::read(st, i, r)?, Some(r)),
            Source::Imm(k) => (Value::scalar(Scalar::constant(extend_imm(width, k))), None),
        };
        let comparable = match (a.kind, b.kind) {
            (ValueKind::Scalar, ValueKind::Scalar) => true,
            (x, y) if x == y && width == Width::W64 => true,
            _ => false,
        };
        if !comparable {
            let regs: Vec<Reg> = core::iter::once(dst).chain(b_reg).collect();
            return rej(st, i, Rule::PointerCompare, &regs);
        }
        let Some(target) = self.cfg.target(i) else {
            return internal(i, "a jump without a target");
        };
        // Two context pointers whose offsets lie in [0, 2^32] compare as their offsets do:
        // the engines address the context at a fixed base far from both ends of the address
        // space (`CTX_BASE`), so no address wraps. This is the `data + n > data_end` idiom.
        let window = |x: &Scalar| x.smin >= 0 && x.smax <= 1 << 32;
        let ctx_cmp = a.kind == ValueKind::Ctx
            && b.kind == ValueKind::Ctx
            && width == Width::W64
            && cond != JmpCond::Set
            && window(&a.n)
            && window(&b.n);
        let same = same_register(width, cond, &a, b_reg == Some(dst));
        let (taken, not) = if let Some(sides) = same {
            sides
        } else if a.is_pointer() && !ctx_cmp {
            // Same region: the outcome depends on the offsets only; both sides stay possible.
            (Some((a.n, b.n)), Some((a.n, b.n)))
        } else {
            (
                refine(self.conf, width, cond, &a, &b, true),
                refine(self.conf, width, cond, &a, &b, false),
            )
        };
        let both = taken.is_some() && not.is_some();
        // Narrows the operands in `f` for one side and records what it says about the length.
        let conf = self.conf;
        let apply = |f: &mut Flow, (na, nb): (Scalar, Scalar), side: bool| {
            if both {
                Self::branch_path(f, i, side);
            }
            f.st.regs[dst.index()].n = na;
            if let Some(r) = b_reg {
                f.st.regs[r.index()].n = nb;
            }
            // Every other number equal to an operand up to a constant narrows with it.
            if a.kind == ValueKind::Scalar {
                // (Nothing to do where the comparison narrowed nothing.)
                let unshifted = conf.planted(Plant::NarrowEqualsUnshifted);
                if let Some((s, o)) = a.sym
                    && na != a.n
                {
                    f.st.narrow_equals(s, o, &na, unshifted);
                }
                if let (Some(_), Some((s, o))) = (b_reg, b.sym)
                    && nb != b.n
                {
                    f.st.narrow_equals(s, o, &nb, unshifted);
                }
            }
            if a.kind == ValueKind::Scalar || ctx_cmp {
                let c = if side {
                    Some(cond)
                } else if cond == JmpCond::Set {
                    None
                } else {
                    Some(cond.negate())
                };
                if let Some(c) = c {
                    let (mut va, mut vb) = (a, b);
                    va.n = na;
                    vb.n = nb;
                    relate(conf, &mut f.st, width, c, &va, &vb);
                }
            }
        };
        let Some(cur) = slot.as_mut() else {
            return Ok(());
        };
        match (not, taken) {
            (Some(n), Some(t)) => {
                let mut f = cur.clone();
                apply(&mut f, t, true);
                apply(cur, n, false);
                self.flow(i, target, f)?;
            }
            (Some(n), None) => apply(cur, n, false),
            (None, Some(t)) => {
                let mut f = cur.clone();
                *slot = None;
                apply(&mut f, t, true);
                self.flow(i, target, f)?;
            }
            (None, None) => *slot = None,
        }
        Ok(())
    }
}

/// The sides of `r COND r` (`same`: both operands are the register `a` was read from), or
/// `None` to decide them as for two registers. Both operands are then one value, read once, so
/// the outcome depends on nothing else: `x == x`, `x >= x`, `x <= x` (signed or not) always
/// hold and `x != x`, `x > x`, `x < x` never do, at either width (the 32-bit views of one
/// value are one value too), for numbers and pointers alike (a pointer equals its own
/// address). `jset r, r` holds exactly when `r & r` (at the width) is non-zero, that is when
/// `r`'s view is not 0: the taken side is `r != 0`, the other `r == 0`, both refined as
/// comparisons with the constant 0 are. A pointer's `jset` on itself depends on its address,
/// which nothing here knows: left to the general case.
#[allow(clippy::type_complexity)]
pub(super) fn same_register(
    width: Width,
    cond: JmpCond,
    a: &Value,
    same: bool,
) -> Option<(Option<(Scalar, Scalar)>, Option<(Scalar, Scalar)>)> {
    use JmpCond::*;
    if !same {
        return None;
    }
    let both = |x: Option<(Scalar, Scalar)>| x.map(|(x, _)| (x, x));
    match cond {
        Eq | Ge | Le | Sge | Sle => Some((Some((a.n, a.n)), None)),
        Ne | Gt | Lt | Sgt | Slt => Some((None, Some((a.n, a.n)))),
        Set if a.kind == ValueKind::Scalar => {
            let zero = Scalar::constant(0);
            Some((
                both(Scalar::refine_branch(width, Ne, &a.n, &zero, true)),
                both(Scalar::refine_branch(width, Eq, &a.n, &zero, true)),
            ))
        }
        Set => None,
    }
}

/// The narrowed operands when `a COND b` (or its negation) can hold.
pub(super) fn refine(
    conf: &Config,
    width: Width,
    cond: JmpCond,
    a: &Value,
    b: &Value,
    holds: bool,
) -> Option<(Scalar, Scalar)> {
    let wide = conf.planted(Plant::Jmp32NarrowsWide);
    Scalar::refine_branch_as(width, cond, &a.n, &b.n, holds, wide)
}

/// Records what `a COND b` says about the context length.
pub(super) fn relate(
    conf: &Config,
    st: &mut State,
    width: Width,
    cond: JmpCond,
    a: &Value,
    b: &Value,
) {
    use JmpCond::*;
    // A 32-bit comparison says the same as the 64-bit one only where both values are their
    // own 32-bit views: below 2^32 for unsigned conditions, in [0, 2^31) for signed ones.
    let signed = matches!(cond, Sgt | Sge | Slt | Sle);
    let limit = if signed { i32::MAX as u64 } else { u32::MAX as u64 };
    if width == Width::W32
        && !(a.n.umax <= limit && b.n.umax <= limit)
        && !conf.planted(Plant::Relate32Unchecked)
    {
        return;
    }
    let nonneg = a.n.smin >= 0 && b.n.smin >= 0;
    match cond {
        Gt => le(st, b, a, 1),
        Ge => le(st, b, a, 0),
        Lt => le(st, a, b, 1),
        Le => le(st, a, b, i64::from(conf.planted(Plant::LeAsLt))),
        Sgt if nonneg => le(st, b, a, 1),
        Sge if nonneg => le(st, b, a, 0),
        Slt if nonneg => le(st, a, b, 1),
        Sle if nonneg => le(st, a, b, 0),
        Eq => {
            le(st, a, b, 0);
            le(st, b, a, 0);
        }
        _ => {}
    }
}

/// Records `x + d <= y`.
pub(super) fn le(st: &mut State, x: &Value, y: &Value, d: i64) {
    // Through a bound on `y`: `x + d <= y` and `y + ky <= len` give `x + d + ky <= len`
    // (`opt < end` where `end <= len` was proven).
    if let (Some((sx, ox)), Some((sy, oy))) = (x.sym, y.sym)
        && sx != LEN
        && sy != LEN
        && sx != sy
        && let Some(ky) = st.fact(sy)
        && let Some(k) =
            ox.checked_add(d).and_then(|v| v.checked_add(ky)).and_then(|v| v.checked_sub(oy))
    {
        st.add_fact(sx, k);
    }
    if let Some((LEN, oy)) = y.sym {
        if let Some((s, ox)) = x.sym
            && s != LEN
            && let Some(k) = ox.checked_add(d).and_then(|v| v.checked_sub(oy))
        {
            st.add_fact(s, k);
        }
        let m = x.n.umin as i128 + d as i128 - oy as i128;
        if m > st.len_min as i128 {
            st.len_min = m.min(u64::MAX as i128) as u64;
        }
    }
    if let Some((LEN, ox)) = x.sym {
        let m = y.n.umax as i128 - d as i128 - ox as i128;
        if m >= 0 && m < st.len_max as i128 {
            st.len_max = m as u64;
        }
    }
}
