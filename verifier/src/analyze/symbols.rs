//! Symbols of results: when a value is another value plus a constant.

use super::*;

/// Whether `mov`/`movsx` of width `width` returns its operand unchanged for every value of `b`.
pub(super) fn move_is_identity(op: AluOp, width: Width, b: &Scalar) -> bool {
    let signed_fits = |bits: u32| {
        let half = 1i64 << (bits - 1);
        b.smin >= -half && b.smax < half
    };
    match (op, width) {
        (AluOp::Mov, Width::W64) => true,
        (AluOp::Mov, Width::W32) => b.umax <= u32::MAX as u64,
        (AluOp::MovSx8, Width::W64) => signed_fits(8),
        (AluOp::MovSx16, Width::W64) => signed_fits(16),
        (AluOp::MovSx32, Width::W64) => signed_fits(32),
        // 32-bit sign extension then zero extension: the identity only on small non-negative
        // values.
        (AluOp::MovSx8, Width::W32) => b.umax < 1 << 7,
        (AluOp::MovSx16, Width::W32) => b.umax < 1 << 15,
        _ => false,
    }
}

/// Whether a byte-order operation returns its operand unchanged for every value of `a`.
pub(super) fn swap_is_identity(kind: Endian, bits: SwapBits, a: &Scalar) -> bool {
    match (kind, bits) {
        (Endian::Le, SwapBits::B64) => true,
        (Endian::Le, SwapBits::B32) => a.umax <= u32::MAX as u64,
        (Endian::Le, SwapBits::B16) => a.umax <= u16::MAX as u64,
        _ => false,
    }
}

/// The symbol of the result of `a OP b` on numbers, where it is `sym + c` exactly: adding or
/// subtracting a constant where no value can wrap (64-bit), or where both the operand and
/// every result fit 32 bits (32-bit: clang computes length bounds with `add32` at `-mcpu=v3`),
/// and masks that keep every bit the operand may have set.
pub(super) fn scalar_sym(width: Width, op: AluOp, a: &Value, b: &Value) -> Option<(Sym, i64)> {
    // The operand with the symbol, and the constant.
    let (v, s, c) = match (a.sym, b.n.as_const(), a.n.as_const(), b.sym) {
        (Some(s), Some(c), _, _) => (a, s, c),
        (_, _, Some(c), Some(s))
            if matches!(op, AluOp::Add | AluOp::And | AluOp::Or | AluOp::Xor) =>
        {
            (b, s, c)
        }
        _ => return None,
    };
    let fits32 = |x: &Scalar| x.umax <= u32::MAX as u64;
    match (width, op) {
        (Width::W64, AluOp::Add) => shift(v, s, c as i64),
        (Width::W64, AluOp::Sub) => shift(v, s, (c as i64).checked_neg()?),
        (Width::W32, AluOp::Add | AluOp::Sub) if fits32(&v.n) => {
            // The 32-bit immediate or register value, as the signed amount it adds.
            let d = c as u32 as i32 as i64;
            let d = if op == AluOp::Sub { d.checked_neg()? } else { d };
            let lo = v.n.umin as i128 + d as i128;
            let hi = v.n.umax as i128 + d as i128;
            (lo >= 0 && hi <= u32::MAX as i128).then_some(())?;
            Some((s.0, s.1.checked_add(d)?))
        }
        // `or`/`xor` of bits the value never has set adds them (clang writes `ihl + 64` as
        // `ihl | 64` when it knows the bit is clear).
        (Width::W64, AluOp::Or | AluOp::Xor) if (v.n.t.value | v.n.t.mask) & c == 0 => {
            shift(v, s, i64::try_from(c).ok()?)
        }
        (Width::W32, AluOp::Or | AluOp::Xor)
            if fits32(&v.n) && (v.n.t.value | v.n.t.mask) & c & u32::MAX as u64 == 0 =>
        {
            shift(v, s, (c & u32::MAX as u64) as i64)
        }
        (Width::W64, AluOp::And) => {
            let may = v.n.t.value | v.n.t.mask;
            (may & !c == 0).then_some(s)
        }
        (Width::W32, AluOp::And) if fits32(&v.n) => {
            let may = v.n.t.value | v.n.t.mask;
            (may & !(c & u32::MAX as u64) == 0).then_some(s)
        }
        _ => None,
    }
}

/// The symbol of `v + c` when `v = s.0 + s.1` and the addition cannot wrap.
pub(super) fn shift(v: &Value, s: (Sym, i64), c: i64) -> Option<(Sym, i64)> {
    let fits = if c >= 0 {
        v.n.umax.checked_add(c as u64).is_some()
    } else {
        v.n.umin >= c.unsigned_abs()
    };
    if !fits {
        return None;
    }
    Some((s.0, s.1.checked_add(c)?))
}

/// A context pointer with a name plus a named number (`p += p[1] + 2`): the result is named
/// by this instruction as a pointer ([`state::ptr_insn_sym`]), and the sum is remembered, so
/// a bound on the new pointer bounds the parts and the other way round.
pub(super) fn ptr_sum(
    st: &mut State,
    i: usize,
    p: &Value,
    x: &Value,
    op: AluOp,
) -> Option<(Sym, i64)> {
    if p.kind != ValueKind::Ctx || op != AluOp::Add || !st.relational() {
        return None;
    }
    let ((sp, op_), (sx, ox)) = (p.sym?, x.sym?);
    // Exact as integers: the offsets stay in a range where nothing wraps.
    let lo = p.n.smin as i128 + x.n.umin as i128;
    let hi = p.n.smax as i128 + x.n.umax as i128;
    if lo < i64::MIN as i128 || hi > i64::MAX as i128 || x.n.umax > i64::MAX as u64 {
        return None;
    }
    let me = state::ptr_insn_sym(i)?;
    st.syms_below = st.syms_below.max(i as Sym + 1);
    st.add_sum((me, sp, sx, op_.checked_add(ox)?));
    Some((me, 0))
}

/// The symbol of pointer `p OP x`, when it stays exact.
pub(super) fn ptr_sym(p: &Value, x: &Value, op: AluOp) -> Option<(Sym, i64)> {
    // A constant moves the offset by a signed amount (adding `-20000` is subtracting 20000):
    // exact as long as no offset the pointer may have overflows 64-bit signed arithmetic.
    if let (Some((s, o)), Some(c)) = (p.sym, x.n.as_const()) {
        let d = if op == AluOp::Add { c as i64 } else { (c as i64).checked_neg()? };
        p.n.smin.checked_add(d)?;
        p.n.smax.checked_add(d)?;
        return Some((s, o.checked_add(d)?));
    }
    let no_wrap = |lo: i64, hi: i64| {
        let (l, h) = if op == AluOp::Add {
            (lo as i128 + x.n.umin as i128, hi as i128 + x.n.umax as i128)
        } else {
            (lo as i128 - x.n.umax as i128, hi as i128 - x.n.umin as i128)
        };
        l >= i64::MIN as i128 && h <= i64::MAX as i128 && x.n.umax <= i64::MAX as u64
    };
    if !no_wrap(p.n.smin, p.n.smax) {
        return None;
    }
    match (p.sym, p.n.as_const(), x.sym, x.n.as_const()) {
        (Some((s, o)), _, _, Some(c)) => {
            let c = c as i64;
            Some((s, if op == AluOp::Add { o.checked_add(c)? } else { o.checked_sub(c)? }))
        }
        (None, Some(k), Some((s, o)), _) if op == AluOp::Add => Some((s, o.checked_add(k as i64)?)),
        _ => None,
    }
}
