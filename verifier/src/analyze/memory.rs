//! Memory accesses: the region an access reaches, context bounds, stack reads and writes.

use super::*;

impl Analyzer<'_> {
    /// Records the region a memory instruction's base points into (rejected kinds are never
    /// part of accepted facts).
    pub(super) fn note_access(&mut self, i: usize, kind: ValueKind) {
        let a = match kind {
            ValueKind::Ctx => Access::Ctx,
            ValueKind::Stack { .. } => Access::Stack,
            _ => return,
        };
        self.access[i] = self.access[i].with(a);
    }

    pub(super) fn check_ctx(
        &self,
        st: &State,
        i: usize,
        base: Reg,
        p: &Value,
        off: i16,
        n: usize,
    ) -> R<()> {
        let lo = p.n.smin as i128 + off as i128;
        let hi = p.n.smax as i128 + off as i128 + n as i128;
        // The access ends at `sym + end` when the offset is `sym + c`.
        let relational = p.sym.is_some_and(|(s, c)| {
            let end = c as i128 + off as i128 + n as i128;
            if s == LEN { end <= 0 } else { st.fact(s).is_some_and(|k| end <= k as i128) }
        });
        let slack = i128::from(self.conf.planted(Plant::CtxBoundOffByOne));
        if lo >= 0 && (hi <= st.len_min as i128 + slack || relational) {
            return Ok(());
        }

        let relative = p.sym.filter(|(s, _)| *s != LEN).map(|(s, c)| {
            let end = c as i128 + off as i128 + n as i128;
            (st.fact(s), end)
        });
        rej(
            st,
            i,
            Rule::OutOfBounds { region: Region::Ctx, lo, hi, len: st.len_min as i128, relative },
            &[base],
        )
    }

    /// Byte range `[lo, hi)` of the access in the frame (0 = lowest byte), or a rejection.
    pub(super) fn stack_range(
        st: &State,
        i: usize,
        regs: &[Reg],
        o: &Scalar,
        off: i16,
        n: usize,
    ) -> R<(usize, usize)> {
        let lo = o.smin as i128 + off as i128;
        let hi = o.smax as i128 + off as i128 + n as i128;
        if lo < -(FRAME as i128) || hi > 0 {
            return rej(
                st,
                i,
                Rule::OutOfBounds {
                    region: Region::Stack,
                    lo,
                    hi,
                    len: FRAME as i128,
                    relative: None,
                },
                regs,
            );
        }
        Ok(((lo + FRAME as i128) as usize, (hi + FRAME as i128) as usize))
    }

    /// Reads `n` bytes: `Ok(whole)` for a whole spilled value, `Err(n)` for a number.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn stack_read(
        &self,
        st: &State,
        i: usize,
        base: Reg,
        frame: u8,
        o: &Scalar,
        off: i16,
        n: usize,
        signed: bool,
    ) -> R<Result<Value, Scalar>> {
        let (lo, hi) = Self::stack_range(st, i, &[base], o, off, n)?;
        let fr = &st.frames[frame as usize];
        let exact = o.as_const().is_some();
        if exact
            && n == 8
            && lo % 8 == 0
            && let Some(v) = fr.spill(Place::slot(lo / 8))
        {
            return Ok(Ok(*v));
        }
        for (p, v) in &fr.spills {
            if p.overlaps(lo, hi) && v.is_pointer() {
                return rej(st, i, Rule::PartialPointer, &[base]);
            }
        }
        if !fr.all_init(lo, hi) {
            return rej(
                st,
                i,
                Rule::UninitStack { lo: lo as i64 - FRAME as i64, hi: hi as i64 - FRAME as i64 },
                &[base],
            );
        }
        let bits = 8 * n as u32;
        // Bytes inside one stored number: the stack holds its low `len` bytes, least
        // significant first, at `[p.lo, p.hi)`, and no store has touched them since (a store
        // overlapping them would have removed the record). Bytes `[lo, hi)` inside are bits
        // `[8 * (lo - p.lo), 8 * (hi - p.lo))` of the number (all below `8 * len`, which were
        // stored): the number shifted right by the first, truncated to `bits` and zero- or
        // sign-extended as the load does, each step a sound transfer function. (A constant
        // gives its exact bytes.) Where the load takes the number's bytes from its first and
        // every value fits them unchanged (zero-extension: below 2^bits; sign-extension: in
        // the signed `bits`-bit range), the load gives the very number, its name included.
        if exact
            && let Some((p, v)) = fr.spill_covering(lo, hi)
            && v.kind == ValueKind::Scalar
        {
            let shift = 8 * (lo - p.lo as usize) as u64;
            // From the first byte the number itself (a shift by 0 would keep only its
            // unsigned view and lose its signed ranges).
            let x = if shift == 0 {
                v.n
            } else {
                v.n.alu(AluOp::Rsh, Width::W64, &Scalar::constant(shift))
            };
            let x = if signed { x.sign_extend(bits) } else { x.low_bits(bits) };
            let whole = shift == 0
                && (bits == 64
                    || if signed {
                        let m = 1i64 << (bits - 1);
                        v.n.smin >= -m && v.n.smax < m
                    } else {
                        v.n.umax < 1u64 << bits
                    });
            if whole {
                return Ok(Ok(Value::scalar(v.n).with_sym(v.sym)));
            }
            return Ok(Err(x));
        }
        Ok(Err(if signed { Scalar::signed_bits(bits) } else { Scalar::unsigned_bits(bits) }))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn stack_write(
        &mut self,
        st: &mut State,
        i: usize,
        regs: &[Reg],
        frame: u8,
        o: &Scalar,
        off: i16,
        n: usize,
        v: Value,
    ) -> R<()> {
        let (lo, hi) = Self::stack_range(st, i, regs, o, off, n)?;
        self.stack_use = self.stack_use.max((FRAME - lo) as u32);
        let exact = o.as_const().is_some();
        if v.is_pointer() {
            if !(exact && n == 8 && lo % 8 == 0) {
                return rej(st, i, Rule::PartialPointer, regs);
            }
            if matches!(v.kind, ValueKind::Stack { frame: f } if f as usize + 1 > st.frames.len()) {
                return rej(st, i, Rule::PointerLeak { to: "to a dead frame" }, regs);
            }
        }
        let fr = Rc::make_mut(&mut st.frames[frame as usize]);
        fr.clobber(lo, hi);
        if !exact && self.conf.planted(Plant::StackInexactInit) {
            fr.set_init(lo, lo + n, true);
        }
        if exact {
            fr.set_init(lo, hi, true);
            // Whatever the width: the bytes now hold the value's low `n` bytes (a pointer is
            // only ever stored whole, checked above). Reads take back what the bytes say of
            // it (`stack_read`).
            fr.put_spill(Place { lo: lo as u16, len: n as u8 }, v);
        }
        Ok(())
    }
}
