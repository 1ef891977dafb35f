//! Hazards: joins of paths that know different things.

use super::*;

impl Gen<'_> {
    /// Joins of paths that know different things ([`Hazard::PathFacts`]).
    pub(super) fn h_path_facts(&mut self, f: &mut FnCtx, room: usize) -> bool {
        let ok = match self.rng.below(3) {
            0 => room >= 24 && self.path_join_facts(f),
            1 => room >= 12 && self.path_stack_join(f),
            _ => room >= 18 && self.path_var_store(f),
        };
        if ok {
            self.feats.path_facts += 1;
        }
        ok
    }

    /// `x = *(size *)(ctx + a)`, readable since [`Gen::readable_offset`].
    pub(super) fn load_input(&mut self, f: &mut FnCtx, x: Reg, a: u32, s: u32) -> bool {
        let Some((p, o)) = self.ctx_reg(f) else {
            return false;
        };
        let off = a as i32 - o;
        if i16::try_from(off).is_err() {
            return false;
        }
        f.b.emit(ldx(size_of(s), x, p, off));
        f.set(x, Val::Input);
        self.feats.ctx_reads += 1;
        true
    }

    /// An input to branch on: a register already holding one (`Set` of a low bit) or a byte
    /// loaded at `lb` into a scratch register outside `keep`; then `if b COND imm goto l`,
    /// taken for some inputs and not for others.
    pub(super) fn input_branch(&mut self, f: &mut FnCtx, lb: u32, keep: u16, l: Label) -> bool {
        let held = self.input_reg(f).filter(|r| keep & bit(*r) == 0 && self.rng.chance(1, 3));
        let (b, cond, imm) = match held {
            Some(b) => (b, JmpCond::Set, 1 << self.rng.below(8)),
            None => {
                let Some(b) = self.pick_dst(f, Val::Input, keep | Self::ctx_mask(f)) else {
                    return false;
                };
                if !self.load_input(f, b, lb, 1) {
                    return false;
                }
                let (cond, imm) = match self.rng.below(3) {
                    0 => (JmpCond::Set, 1 << self.rng.below(8)),
                    1 => (JmpCond::Gt, self.rng.below(255) as i32),
                    _ => (JmpCond::Lt, 1 + self.rng.below(255) as i32),
                };
                (b, cond, imm)
            }
        };
        f.b.branch(jmp(Width::W64, cond, b, Source::Imm(imm)), l);
        true
    }

    /// `x` = a context load (masked now and then); on one side of a branch on another input
    /// `x + k1 <= len` is checked, on the other `x + k2 <= len`; after the join a read through
    /// `r1 + x` ends at `x + e`. Proven when `e <= min(k1, k2)`; `e` up to the larger bound
    /// is the unproven variant (a join keeping the larger bound accepts it).
    pub(super) fn path_join_facts(&mut self, f: &mut FnCtx) -> bool {
        let xs = self.rng.pick(&[1u32, 1, 2]);
        let mask = match self.rng.below(5) {
            0 => None,
            1 => Some(15),
            2 => Some(31),
            _ => Some(63),
        };
        let xmax = match mask {
            Some(m) => m as u32,
            None => (1u32 << (8 * xs)) - 1,
        };
        let (k_lo, k_hi) = if self.rng.chance(1, 2) {
            // aimed at a length: `x + k_lo <= len < x + k_hi` for a good share of the `x`
            let len = self.fixed.unwrap_or(24 + self.rng.below(73) as u32);
            let span = xmax.min(len).max(4);
            let hi = len.saturating_sub(self.rng.below((span / 2) as u64) as u32);
            let lo = hi.saturating_sub(1 + self.rng.below((span / 2) as u64) as u32);
            if lo >= 1 { (lo, hi) } else { (1, 2 + self.rng.below(16) as u32) }
        } else {
            let k = 1 + self.rng.below(24) as u32;
            (k, k + 1 + self.rng.below(16) as u32)
        };
        let wide = self.rng.chance(1, 2);
        let mut n = self.rng.pick(&[1u32, 2, 4, 1, 8]);
        let e = if wide {
            if (k_lo + 1).max(n) > k_hi {
                n = 1;
            }
            let lo = (k_lo + 1).max(n);
            lo + self.rng.below((k_hi - lo + 1) as u64) as u32
        } else {
            while n > k_lo {
                n /= 2;
            }
            n + self.rng.below((k_lo - n + 1) as u64) as u32
        };
        let a = e - n;
        let (Some(la), Some(lb)) = (self.ctx_offset(xs), self.ctx_offset(1)) else {
            return false;
        };
        if !self.ensure_len(f, (la + xs).max(lb + 1)) {
            return false;
        }
        let (Some(l), Some((p, o))) = (self.len_reg(f), self.ctx_reg(f)) else {
            return false;
        };
        let keep = bit(l) | Self::ctx_mask(f);
        let Some(x) = self.pick_dst(f, Val::Scalar, keep) else {
            return false;
        };
        let keep = keep | bit(x);
        let Some(t) = self.pick_dst(f, Val::Scalar, keep) else {
            return false;
        };
        let Some(q) = self.pick_dst(f, Val::Junk, keep | bit(t)) else {
            return false;
        };
        if !self.load_input(f, x, la, xs) {
            return false;
        }
        if let Some(m) = mask {
            f.b.emit(alu64(AluOp::And, x, Source::Imm(m)));
            f.set(x, Val::Scalar);
        }
        // the branch's scratch register spares x, t and q
        let l_else = f.b.label();
        let l_join = f.b.label();
        if !self.input_branch(f, lb, keep | bit(t) | bit(q), l_else) {
            // nothing emitted after the load: the production stands as a load
            return true;
        }
        let w = if self.rng.chance(1, 4) { Width::W32 } else { Width::W64 };
        let (k1, k2) = if self.rng.chance(1, 2) { (k_lo, k_hi) } else { (k_hi, k_lo) };
        self.check_end(f, x, l, k1, w, t);
        f.b.branch(Insn::Ja { off: 0 }, l_join);
        f.b.bind(l_else);
        self.check_end(f, x, l, k2, w, t);
        f.b.bind(l_join);
        if self.fixed.is_none() {
            f.st.len_min = f.st.len_min.max(k_lo);
            f.st.len_hint = f.st.len_hint.max(k_lo);
        }
        let covered = match self.fixed {
            Some(s) => xmax + e <= s,
            None => xmax + e <= f.st.len_min,
        };
        // q = p + x, now and then moved up and brought back by the offset (not down, as
        // `access_via` may: the verifier keeps no symbol for a pointer moved below its
        // region's start, so a proven variant would be refused)
        f.b.emit(mov(q, p));
        f.b.emit(alu64(AluOp::Add, q, Source::Reg(x)));
        let mut off = a as i32 - o;
        if self.rng.chance(1, 4) {
            let k = self.rng.pick(&[600, 4096, 20000]);
            f.b.emit(addi(q, k));
            off -= k;
        }
        f.set(q, Val::Junk);
        let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(q);
        f.b.emit(ldx(size_of(n), d, q, off));
        f.set(d, Val::Input);
        self.feats.ctx_reads += 1;
        if wide && !covered {
            self.unproven += 1;
        }
        true
    }

    /// Bytes `[a, a + n)` of the stack hold scalar data or nothing (no pointer bits), and an
    /// `n`-byte scalar store there is allowed.
    pub(super) fn plain_stack(f: &FnCtx, a: i32, n: usize) -> bool {
        Self::stack_write_ok(f, a, n, SD)
            && f.st.stack[sidx(a)..sidx(a) + n].iter().all(|&c| c == SU || c == SD)
    }

    pub(super) fn untouched(f: &FnCtx, a: i32, n: usize) -> bool {
        f.touched[sidx(a)..sidx(a) + n].iter().all(|t| !t)
    }

    /// A scalar source for a store.
    pub(super) fn store_src(&mut self, f: &FnCtx) -> Source {
        match self.scalar_reg(f) {
            Some(r) if self.rng.chance(1, 2) => Source::Reg(r),
            _ => Source::Imm(self.rng.imm32()),
        }
    }

    /// A stack store on one side of a branch on an input (or on both), then a read of those
    /// bytes after the join: unproven where one side leaves them unwritten.
    pub(super) fn path_stack_join(&mut self, f: &mut FnCtx) -> bool {
        let n = self.pick_size();
        let both = self.rng.chance(1, 2);
        let mut at = None;
        for k in 0..12 {
            let a = self.stack_addr(n);
            if Self::plain_stack(f, a, n as usize)
                && (both || k >= 8 || Self::untouched(f, a, n as usize))
            {
                at = Some(a);
                break;
            }
        }
        let Some(a) = at else {
            return false;
        };
        let Some(lb) = self.readable_offset(f, 1) else {
            return false;
        };
        let l_else = f.b.label();
        if !self.input_branch(f, lb, 0, l_else) {
            return false;
        }
        let s0 = f.st.clone();
        // which sides write: then (one-armed: the only arm), else
        let two = both || self.rng.chance(1, 2);
        let then_writes = both || !two || self.rng.chance(1, 2);
        let else_writes = both || (two && !then_writes);
        let write = |g: &mut Self, f: &mut FnCtx| {
            let src = g.store_src(f);
            f.b.emit(st(size_of(n), Reg::R10, a, src));
            Self::stack_write(f, a, n as usize, Val::Scalar);
        };
        if then_writes {
            write(self, f);
        }
        let s1 = core::mem::replace(&mut f.st, s0.clone());
        if two {
            let l_join = f.b.label();
            f.b.branch(Insn::Ja { off: 0 }, l_join);
            f.b.bind(l_else);
            if else_writes {
                write(self, f);
            }
            f.b.bind(l_join);
            let s2 = core::mem::replace(&mut f.st, s0);
            f.st = State::meet(&s1, &s2);
        } else {
            f.b.bind(l_else);
            f.st = State::meet(&s1, &s0);
        }
        let m = self.rng.pick(&[1u32, 2, 4, 8]).min(n);
        let j = self.rng.below((n - m + 1) as u64) as i32;
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return true;
        };
        let valid = Self::stack_read(f, a + j, m as usize) == Some(Val::Scalar);
        f.b.emit(ldx(size_of(m), d, Reg::R10, a + j));
        f.set(d, Val::Scalar);
        if !valid {
            self.unproven += 1;
        }
        true
    }

    /// `v = input & m; s = r10 + v; *(s + base) = ...` (a store at one of several
    /// addresses), then a read at one of them: unproven unless every possible address was
    /// written before (or the bytes hold data already).
    pub(super) fn path_var_store(&mut self, f: &mut FnCtx) -> bool {
        let m = self.rng.pick(&[8i32, 8, 16, 24, 4]);
        let n = if m == 4 { self.rng.pick(&[1u32, 2, 4]) } else { self.pick_size() };
        let offs: &[i32] = match m {
            24 => &[0, 8, 16, 24],
            _ if m == 16 => &[0, 16],
            _ if m == 8 => &[0, 8],
            _ => &[0, 4],
        };
        let fill = self.rng.chance(1, 2);
        let span = m + n as i32;
        let k0 = (span + 7) / 8;
        let mut at = None;
        for k in 0..12 {
            let base = -8 * (k0 + self.rng.below(if k < 6 { 8 } else { 56 }) as i32);
            if base < -512 {
                continue;
            }
            let plain = Self::plain_stack(f, base, span as usize)
                && offs.iter().all(|&v| Self::stack_write_ok(f, base + v, n as usize, SD));
            if plain && (fill || k >= 8 || Self::untouched(f, base, span as usize)) {
                at = Some(base);
                break;
            }
        }
        let Some(base) = at else {
            return false;
        };
        let Some(lv) = self.readable_offset(f, 1) else {
            return false;
        };
        let keep = Self::ctx_mask(f);
        let Some(v) = self.pick_dst(f, Val::Scalar, keep) else {
            return false;
        };
        let Some(s) = self.pick_dst(f, Val::Junk, keep | bit(v)) else {
            return false;
        };
        if fill {
            for &w in offs {
                let src = self.store_src(f);
                f.b.emit(st(size_of(n), Reg::R10, base + w, src));
                Self::stack_write(f, base + w, n as usize, Val::Scalar);
            }
        }
        match self.input_reg(f).filter(|_| self.rng.chance(1, 3)) {
            Some(r) => f.b.emit(mov(v, r)),
            None => {
                if !self.load_input(f, v, lv, 1) {
                    return true;
                }
            }
        }
        f.b.emit(alu64(AluOp::And, v, Source::Imm(m)));
        f.set(v, Val::Scalar);
        f.b.emit(mov(s, Reg::R10));
        let off = if self.rng.chance(1, 2) {
            f.b.emit(addi(s, base));
            0
        } else {
            base
        };
        f.b.emit(alu64(AluOp::Add, s, Source::Reg(v)));
        f.set(s, Val::Junk);
        let src = self.store_src(f);
        f.b.emit(st(size_of(n), s, off, src));
        for &w in offs {
            let lo = sidx(base + w);
            f.touched[lo..lo + n as usize].fill(true);
        }
        // the read: within the lowest address mostly (what the store may have missed)
        let w = if self.rng.chance(2, 3) { 0 } else { self.rng.pick(offs) };
        let r = self.rng.pick(&[1u32, 2, 4, 8]).min(n);
        let j = self.rng.below((n - r + 1) as u64) as i32;
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return true;
        };
        let valid = Self::stack_read(f, base + w + j, r as usize) == Some(Val::Scalar);
        f.b.emit(ldx(size_of(r), d, Reg::R10, base + w + j));
        f.set(d, Val::Scalar);
        if !valid {
            self.unproven += 1;
        }
        true
    }
}
