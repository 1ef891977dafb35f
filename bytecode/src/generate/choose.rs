//! Choices every production makes: which flaw, which register, which stack bytes.

use alloc::vec::Vec;

use super::*;

impl Gen<'_> {
    pub(super) fn total(&self, f: &FnCtx) -> usize {
        self.done_len + self.open_len + f.b.len()
    }

    pub(super) fn pick_flaw(&mut self) -> Flaw {
        let mut kinds: Vec<(u64, Flaw)> = alloc::vec![
            (3, Flaw::CtxOutOfBounds),
            (2, Flaw::StackUninitRead),
            (2, Flaw::StackOutOfBounds),
            (3, Flaw::UnboundedLoop),
            (2, Flaw::LoopIndexOffByOne),
            (3, Flaw::PointerLeak),
            (1, Flaw::BadPointerArith),
            (1, Flaw::UninitRegister),
        ];
        if self.fixed.is_none() {
            kinds.push((2, Flaw::HeaderOffByOne));
        }
        if !self.ctx_writable {
            kinds.push((1, Flaw::CtxWrite));
        }
        self.rng.weighted(&kinds).unwrap_or(Flaw::PointerLeak)
    }

    /// Whether to plant `kind` here (now and then, where it is sure to be reached).
    pub(super) fn flaw_now(&mut self, f: &FnCtx, kind: Flaw) -> bool {
        self.want == Some(kind) && f.uncond() && (self.force || self.rng.chance(1, 3))
    }

    pub(super) fn planted(&mut self, kind: Flaw) {
        self.flaw = Some(kind);
        self.want = None;
    }

    // --- register choice ----------------------------------------------------------------------

    /// `r` holds the last copy of the context pointer or length (overall, or among r6-r9).
    pub(super) fn protected(f: &FnCtx, r: Reg) -> bool {
        let cur = f.reg(r);
        let like = |v: Val| (cur.is_ctx() && v.is_ctx()) || (cur == Val::Len && v == Val::Len);
        if !cur.is_ctx() && cur != Val::Len {
            return false;
        }
        let others = |lo: usize, hi: usize| (lo..=hi).any(|i| i != r.index() && like(f.st.regs[i]));
        if !others(0, 9) {
            return true;
        }
        (6..=9).contains(&r.index()) && !others(6, 9)
    }

    pub(super) fn can_write(&self, f: &FnCtx, r: Reg, v: Val) -> bool {
        if r == Reg::R10 || f.pinned & bit(r) != 0 {
            return false;
        }
        if let Some(h) = f.heads.last() {
            match h.regs[r.index()] {
                Val::Uninit | Val::Junk => {}
                Val::Scalar if v.is_scalar() => {}
                Val::Len if v == Val::Len => {}
                _ => return false,
            }
        }
        f.reg(r) == v || !Self::protected(f, r)
    }

    pub(super) fn pick_dst(&mut self, f: &FnCtx, v: Val, exclude: u16) -> Option<Reg> {
        let cands: Vec<Reg> = REGS[..10]
            .iter()
            .copied()
            .filter(|&r| exclude & bit(r) == 0 && self.can_write(f, r, v))
            .collect();
        if cands.is_empty() { None } else { Some(self.rng.pick(&cands)) }
    }

    /// `N` different registers, none in `used`, each writable with its value; every pick is
    /// made (the same draws whether or not one fails), then all or none.
    pub(super) fn pick_distinct<const N: usize>(
        &mut self,
        f: &FnCtx,
        mut used: u16,
        vals: [Val; N],
    ) -> Option<[Reg; N]> {
        let picks = vals.map(|v| {
            let r = self.pick_dst(f, v, used);
            if let Some(r) = r {
                used |= bit(r);
            }
            r
        });
        let mut out = [Reg::R0; N];
        for (o, r) in out.iter_mut().zip(picks) {
            *o = r?;
        }
        Some(out)
    }

    pub(super) fn pick_where(&mut self, f: &FnCtx, pred: impl Fn(Val) -> bool) -> Option<Reg> {
        let cands: Vec<Reg> = REGS.iter().copied().filter(|&r| pred(f.reg(r))).collect();
        if cands.is_empty() { None } else { Some(self.rng.pick(&cands)) }
    }

    pub(super) fn scalar_reg(&mut self, f: &FnCtx) -> Option<Reg> {
        self.pick_where(f, Val::is_scalar)
    }

    pub(super) fn ctx_reg(&mut self, f: &FnCtx) -> Option<(Reg, i32)> {
        let r = self.pick_where(f, Val::is_ctx)?;
        match f.reg(r) {
            Val::Ctx(o) => Some((r, o)),
            _ => None,
        }
    }

    /// Registers holding a context pointer.
    pub(super) fn ctx_mask(f: &FnCtx) -> u16 {
        REGS.iter().filter(|&&r| f.reg(r).is_ctx()).fold(0, |m, &r| m | bit(r))
    }

    pub(super) fn len_reg(&mut self, f: &FnCtx) -> Option<Reg> {
        self.pick_where(f, |v| v == Val::Len)
    }

    /// Copies the context pointer (and length) into a callee-saved register if none holds one.
    pub(super) fn ensure_saved(&mut self, f: &mut FnCtx) {
        for want_ctx in [true, false] {
            let like = |v: Val| if want_ctx { v.is_ctx() } else { v == Val::Len };
            let Some(src) = (0..10).find(|&i| like(f.st.regs[i])) else {
                continue;
            };
            if (6..=9).any(|i| like(f.st.regs[i])) {
                continue;
            }
            let v = f.st.regs[src];
            let start = self.rng.below(4) as usize;
            for k in 0..4 {
                let r = REGS[6 + (start + k) % 4];
                if self.can_write(f, r, v) {
                    f.b.emit(mov(r, REGS[src]));
                    f.set(r, v);
                    break;
                }
            }
        }
    }

    /// A helper or local call may clobber `r1`-`r5` and set `r0` here.
    pub(super) fn clobber_ok(&self, f: &FnCtx) -> bool {
        let args_free = (1..=5).all(|i| {
            f.pinned & (1 << i) == 0
                && f.heads.last().is_none_or(|h| matches!(h.regs[i], Val::Uninit | Val::Junk))
        });
        args_free && self.can_write(f, Reg::R0, Val::Scalar)
    }

    pub(super) fn clobber(f: &mut FnCtx) {
        for i in 1..=5 {
            f.st.regs[i] = Val::Uninit;
        }
        f.st.regs[0] = Val::Scalar;
    }

    // --- stack --------------------------------------------------------------------------------

    pub(super) fn stack_write_ok(f: &FnCtx, a: i32, n: usize, code: u8) -> bool {
        if a < -512 || a + n as i32 > 0 {
            return false;
        }
        let lo = sidx(a);
        let hi = lo + n;
        let whole = n == 8 && lo.is_multiple_of(8);
        if !whole {
            for slot in lo / 8..=(hi - 1) / 8 {
                if f.st.stack[slot * 8..slot * 8 + 8].iter().any(|&c| c == SP || c == SX) {
                    return false;
                }
            }
        }
        if let Some(h) = f.heads.last() {
            for &c in &h.stack[lo..hi] {
                if c == SP || (c == SD && code != SD) {
                    return false;
                }
            }
            // A pointer spilled in a loop body is still there when the next iteration starts,
            // where the body took the slot for unwritten: spills go to the spill zone only, and
            // the body writes zone slots it found unwritten only whole.
            let zone = lo < SPILL_ZONE;
            if code == SP {
                return whole && zone && h.stack[lo..hi].iter().all(|&c| c == SU || c == SX);
            }
            if !whole && zone {
                let (s0, s1) = (lo & !7, ((hi + 7) & !7).min(SPILL_ZONE));
                if h.stack[s0..s1].iter().any(|&c| c != SD) {
                    return false;
                }
            }
        }
        true
    }

    pub(super) fn stack_write(f: &mut FnCtx, a: i32, n: usize, v: Val) {
        let lo = sidx(a);
        let code = if v.is_ptr() { SP } else { SD };
        for i in lo..lo + n {
            f.st.stack[i] = code;
            f.touched[i] = true;
        }
        if n == 8 && lo.is_multiple_of(8) {
            f.st.spill[lo / 8] = if code == SP { v } else { Val::Uninit };
        }
    }

    pub(super) fn stack_read(f: &FnCtx, a: i32, n: usize) -> Option<Val> {
        if a < -512 || a + n as i32 > 0 {
            return None;
        }
        let lo = sidx(a);
        let bytes = &f.st.stack[lo..lo + n];
        if bytes.iter().all(|&c| c == SD) {
            Some(Val::Scalar)
        } else if n == 8 && lo.is_multiple_of(8) && bytes.iter().all(|&c| c == SP) {
            Some(f.st.spill[lo / 8])
        } else {
            None
        }
    }

    /// A base register for stack access: `r10` mostly, else a register holding `r10 + o`.
    pub(super) fn stack_base(&mut self, f: &FnCtx) -> (Reg, i32) {
        if self.rng.chance(1, 4)
            && let Some(r) = self.pick_where(f, |v| matches!(v, Val::Stack(o) if o != 0))
            && let Val::Stack(o) = f.reg(r)
        {
            return (r, o);
        }
        (Reg::R10, 0)
    }

    /// A stack address for an `n`-byte access: near the top mostly, aligned mostly.
    pub(super) fn stack_addr(&mut self, n: u32) -> i32 {
        let n = n as i32;
        let span = if self.rng.chance(3, 4) { 64 } else { 512 };
        if self.rng.chance(3, 4) {
            let k = 1 + self.rng.below((span / n) as u64) as i32;
            -(k * n)
        } else {
            -(n + self.rng.below((span - n + 1) as u64) as i32)
        }
    }

    pub(super) fn pick_size(&mut self) -> u32 {
        self.rng.pick(&[1, 2, 4, 8, 8, 4])
    }
}
