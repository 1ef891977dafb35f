//! Hazards: one callee called twice, far offsets, either-region pointers, loops that
//! swap regions or keep a stale value.

use alloc::vec::Vec;

use super::*;

impl Gen<'_> {
    /// Registers a function built by hand (called from depth `depth`).
    pub(super) fn private_function(&mut self, b: Builder, args: [Val; 6]) -> usize {
        self.done_len += b.len();
        self.funcs.push(Some(FuncOut { b, args, height: 1, legacy_end: 0, private: true }));
        self.funcs.len() - 1
    }

    /// A call of `id` (height 1) with the caller-side bookkeeping of [`Gen::t_call`].
    pub(super) fn call_private(&mut self, f: &mut FnCtx, id: usize) {
        f.height = f.height.max(2);
        f.b.call(id);
        Self::clobber(f);
        self.feats.local_calls += 1;
    }

    /// A value computed by a function with a symbol-producing instruction, called twice, the
    /// first result kept in `r6`-`r9` ([`Hazard::CallSymbols`]).
    pub(super) fn h_call_twice(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if f.depth >= MAX_CALL_DEPTH || room < 30 || !self.clobber_ok(f) {
            return false;
        }
        let mask: i32 = if self.fixed.is_some() {
            self.rng.pick(&[127, 255, 63])
        } else {
            self.rng.pick(&[15, 63, 255, 31])
        };
        // 0: r1 & mask, 1: r1 % (mask + 1), 2: (ctx[k] + r1) & mask, 3: (r1 & mask) + c
        let kind = self.rng.below(4);
        let k = self.rng.below(16) as u32;
        if kind == 2 && !self.ensure_len(f, k + 1) {
            return false;
        }
        self.ensure_saved(f);
        let Some((_, o)) = self.ctx_reg(f) else {
            return false;
        };
        let mut b = Builder::default();
        let c = 1 + self.rng.below(8) as i32;
        match kind {
            0 => {
                b.emit(mov(Reg::R0, Reg::R1));
                b.emit(alu64(AluOp::And, Reg::R0, Source::Imm(mask)));
            }
            1 => {
                b.emit(mov(Reg::R0, Reg::R1));
                b.emit(alu64(AluOp::Mod, Reg::R0, Source::Imm(mask + 1)));
            }
            2 => {
                b.emit(ldx(Size::B, Reg::R0, Reg::R2, k as i32 - o));
                b.emit(alu64(AluOp::Add, Reg::R0, Source::Reg(Reg::R1)));
                b.emit(alu64(AluOp::And, Reg::R0, Source::Imm(mask)));
            }
            _ => {
                b.emit(mov(Reg::R0, Reg::R1));
                b.emit(alu64(AluOp::And, Reg::R0, Source::Imm(mask)));
                b.emit(addi(Reg::R0, c));
            }
        }
        b.emit(Insn::Exit);
        let hi = mask + if kind == 3 { c } else { 0 };
        let mut args = [Val::Uninit; 6];
        args[1] = Val::Scalar;
        if kind == 2 {
            args[2] = Val::Ctx(o);
        }
        let id = self.private_function(b, args);
        // The arguments: one large, one small (in either order), or from the input.
        let big = hi - self.rng.below(4) as i32;
        let small = self.rng.below(4) as i32;
        let (a1, a2) = if self.rng.chance(1, 2) { (big, small) } else { (small, big) };
        let keepers: Vec<Reg> = [Reg::R6, Reg::R7, Reg::R8, Reg::R9]
            .into_iter()
            .filter(|&r| self.can_write(f, r, Val::Scalar) && !Self::protected(f, r))
            .collect();
        let keeper = (!keepers.is_empty()).then(|| self.rng.pick(&keepers));
        let Some(kp) = keeper else {
            return false;
        };
        for (n, arg) in [a1, a2].into_iter().enumerate() {
            if kind == 2 {
                let Some((p, _)) = self.ctx_reg(f) else {
                    return n > 0;
                };
                if p != Reg::R2 {
                    f.b.emit(mov(Reg::R2, p));
                }
            }
            match self.input_reg(f).filter(|_| self.rng.chance(1, 4)) {
                Some(x) => f.b.emit(mov(Reg::R1, x)),
                None => f.b.emit(movi(Reg::R1, arg)),
            }
            self.call_private(f, id);
            if n == 0 {
                f.b.emit(mov(kp, Reg::R0));
                f.set(kp, Val::Scalar);
            }
        }
        self.feats.call_symbols += 1;
        // r0: the second result; kp: the first.
        let (Some(l), Some((p, o))) = (self.len_reg(f), self.ctx_reg(f)) else {
            return true;
        };
        let keep = bit(l) | bit(p) | bit(kp) | bit(Reg::R0);
        let (Some(t), Some(q)) =
            (self.pick_dst(f, Val::Scalar, keep), self.pick_dst(f, Val::Junk, keep))
        else {
            return true;
        };
        if t == q {
            return true;
        }
        let a = self.rng.below(8) as i32;
        let n = self.rng.pick(&[1u32, 2, 4, 8]);
        let e = a as u32 + n;
        let w = if self.rng.chance(1, 4) { Width::W32 } else { Width::W64 };
        let (chk, used) = match self.rng.below(4) {
            0 | 1 => (Reg::R0, kp),
            2 => (kp, Reg::R0),
            _ => {
                let r = self.rng.pick(&[Reg::R0, kp]);
                (r, r)
            }
        };
        // keep r0 (the second result) alive: copy it where it is needed
        self.check_end(f, chk, l, e, w, t);
        self.access_via(f, p, o, used, a, n, q);
        let covered = self.fixed.is_some_and(|s| hi as u32 + e <= s)
            || (self.fixed.is_none() && hi as u32 + e <= f.st.len_min);
        if chk != used && !covered {
            self.unproven += 1;
        }
        true
    }

    /// Pointers moved outside their region and brought back ([`Hazard::FarOffsets`]).
    pub(super) fn h_far(&mut self, f: &mut FnCtx) -> bool {
        let Some(q) = self.pick_dst(f, Val::Junk, Self::ctx_mask(f)) else {
            return false;
        };
        let k: i32 = self.rng.pick(&[513, 1024, 4096, 16384, 30000, 32000]);
        let later = self.rng.chance(1, 3);
        // the base moved by -k (stack) or +-k (context); `back`: what the offset must add
        let move_by = |g: &mut Self, f: &mut FnCtx, by: i32| match g.rng.below(3) {
            0 => f.b.emit(addi(q, by)),
            1 => f.b.emit(alu64(AluOp::Sub, q, Source::Imm(-by))),
            _ => {
                let t = g.pick_dst(f, Val::Scalar, bit(q) | Self::ctx_mask(f));
                match t {
                    Some(t) => {
                        f.b.emit(Insn::LoadImm64 { dst: t, imm: (-by) as i64 as u64 });
                        f.b.emit(alu64(AluOp::Sub, q, Source::Reg(t)));
                        f.set(t, Val::Scalar);
                    }
                    None => f.b.emit(addi(q, by)),
                }
            }
        };
        if self.rng.chance(1, 2) {
            // the stack
            let s = self.pick_size();
            let store = self.rng.chance(1, 2);
            let a = if store {
                let Some(a) = (0..6)
                    .map(|_| self.stack_addr(s))
                    .find(|&a| Self::stack_write_ok(f, a, s as usize, SD))
                else {
                    return false;
                };
                a
            } else {
                let Some(a) = self.find_readable(f, s) else {
                    return false;
                };
                a
            };
            f.b.emit(mov(q, Reg::R10));
            move_by(self, f, -k);
            let mut back = k;
            if later {
                let d = self.rng.below(64) as i32;
                f.b.emit(addi(q, k - d));
                back = d;
            }
            f.set(q, Val::Junk);
            if store {
                let src = match self.scalar_reg(f) {
                    Some(r) if self.rng.chance(1, 2) => Source::Reg(r),
                    _ => Source::Imm(self.rng.imm32()),
                };
                f.b.emit(st(size_of(s), q, a + back, src));
                Self::stack_write(f, a, s as usize, Val::Scalar);
            } else {
                let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(q);
                f.b.emit(ldx(size_of(s), d, q, a + back));
                f.set(d, Val::Scalar);
            }
        } else {
            // the context
            let mut s = self.pick_size();
            if let Some(n) = self.fixed {
                while s > n && s > 1 {
                    s /= 2;
                }
            }
            let Some((a, p, o)) = self.readable_ctx_ref(f, s) else {
                return false;
            };
            if q == p {
                return false;
            }
            let by = if self.rng.chance(1, 2) { k } else { -k };
            f.b.emit(mov(q, p));
            move_by(self, f, by);
            let mut back = -by;
            if later {
                let d = self.rng.below(8) as i32;
                f.b.emit(addi(q, -by - d));
                back = d;
            }
            f.set(q, Val::Junk);
            let off = a as i32 - o + back;
            if i16::try_from(off).is_err() {
                return false;
            }
            let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(q);
            f.b.emit(ldx(size_of(s), d, q, off));
            f.set(d, Val::Input);
            self.feats.ctx_reads += 1;
        }
        self.feats.far_offsets += 1;
        true
    }

    /// Writes scalar data to `[r10 - at, r10 - at + n)` (8-byte stores); false if the
    /// generator's rules forbid it here.
    pub(super) fn fill_window(&mut self, f: &mut FnCtx, at: i32, n: u32) -> bool {
        let words = n.div_ceil(8) as i32;
        if (0..words).any(|j| !Self::stack_write_ok(f, -at + 8 * j, 8, SD)) {
            return false;
        }
        for j in 0..words {
            let src = match self.scalar_reg(f) {
                Some(r) if self.rng.chance(1, 3) => Source::Reg(r),
                _ => Source::Imm(self.rng.imm32()),
            };
            f.b.emit(st(Size::DW, Reg::R10, -at + 8 * j, src));
            Self::stack_write(f, -at + 8 * j, 8, Val::Scalar);
        }
        true
    }

    /// Reads `[base + a, + sz)` within a window of `n` bytes into `r3` and adds it to `r0`,
    /// directly or through a copy of the base moved far and brought back.
    pub(super) fn window_read(
        &mut self,
        b: &mut Builder,
        base: Reg,
        tmp: Reg,
        n: u32,
        acc: Reg,
        dst: Reg,
    ) {
        let mut sz = self.rng.pick(&[1u32, 2, 4, 8]);
        while sz > n {
            sz /= 2;
        }
        let a = self.rng.below((n - sz + 1) as u64) as i32;
        match self.rng.below(4) {
            0 | 1 => b.emit(ldx(size_of(sz), dst, base, a)),
            2 => {
                let k = self.rng.pick(&[4096, 20000, 32000, 600]);
                let by = if self.rng.chance(1, 2) { k } else { -k };
                b.emit(mov(tmp, base));
                b.emit(addi(tmp, by));
                b.emit(ldx(size_of(sz), dst, tmp, a - by));
            }
            _ => {
                let k = self.rng.pick(&[4096, 100_000, 1 << 20]);
                b.emit(mov(tmp, base));
                b.emit(addi(tmp, -k));
                b.emit(addi(tmp, k));
                b.emit(ldx(size_of(sz), dst, tmp, a));
            }
        }
        b.emit(alu64(AluOp::Add, acc, Source::Reg(dst)));
    }

    /// A context window and a stack window of `n` readable bytes: the context offset (after
    /// a length check if needed) and the stack distance below `r10`.
    pub(super) fn windows(&mut self, f: &mut FnCtx, n: u32) -> Option<(u32, i32)> {
        let c0 = self.ctx_offset(n)?;
        if !self.ensure_len(f, c0 + n) {
            return None;
        }
        let at = 8 * (n.div_ceil(8) as i32 + self.rng.below(8) as i32);
        if !self.fill_window(f, at, n) {
            return None;
        }
        Some((c0, at))
    }

    /// A function called with a context pointer and a stack pointer ([`Hazard::EitherRegion`]).
    pub(super) fn h_either(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if f.depth >= MAX_CALL_DEPTH || room < 26 || !self.clobber_ok(f) {
            return false;
        }
        let mut n = self.rng.pick(&[1u32, 2, 4, 8, 16, 8]);
        if let Some(s) = self.fixed {
            while n > s && n > 1 {
                n /= 2;
            }
        }
        let Some((c0, at)) = self.windows(f, n) else {
            return false;
        };
        self.ensure_saved(f);
        // Both call sites need the context pointer after a call has clobbered r1-r5, and the
        // diamond binds its labels only when both arms are emitted: give up before emitting
        // anything unless a callee-saved register holds it.
        let saved = [Reg::R6, Reg::R7, Reg::R8, Reg::R9].iter().fold(0, |m, &r| m | bit(r));
        if Self::ctx_mask(f) & saved == 0 {
            return false;
        }
        let mut b = Builder::default();
        b.emit(movi(Reg::R0, 0));
        for _ in 0..1 + self.rng.below(3) {
            self.window_read(&mut b, Reg::R1, Reg::R4, n, Reg::R0, Reg::R3);
        }
        b.emit(Insn::Exit);
        let mut args = [Val::Uninit; 6];
        args[1] = Val::Junk;
        let id = self.private_function(b, args);
        let ctx_first = self.rng.chance(1, 2);
        // In two arms of a diamond on an input value now and then, else one after the other.
        let arms = self.input_reg(f).filter(|&r| r.index() >= 6 && self.rng.chance(1, 3));
        let site = |g: &mut Self, f: &mut FnCtx, ctx: bool| -> bool {
            if ctx {
                let Some((p, o)) = g.ctx_reg(f) else {
                    return false;
                };
                f.b.emit(mov(Reg::R1, p));
                if c0 as i32 != o {
                    f.b.emit(addi(Reg::R1, c0 as i32 - o));
                }
            } else {
                f.b.emit(mov(Reg::R1, Reg::R10));
                f.b.emit(addi(Reg::R1, -at));
            }
            g.call_private(f, id);
            true
        };
        match arms {
            Some(x) => {
                let l_else = f.b.label();
                let l_join = f.b.label();
                f.b.branch(
                    jmp(Width::W64, JmpCond::Ne, x, Source::Imm(self.rng.below(4) as i32)),
                    l_else,
                );
                let s0 = f.st.clone();
                if !site(self, f, ctx_first) {
                    return false;
                }
                let s1 = core::mem::replace(&mut f.st, s0);
                f.b.branch(Insn::Ja { off: 0 }, l_join);
                f.b.bind(l_else);
                if !site(self, f, !ctx_first) {
                    return false;
                }
                f.b.bind(l_join);
                f.st = State::meet(&s1, &f.st);
                self.feats.diamonds += 1;
            }
            None => {
                if !site(self, f, ctx_first) || !site(self, f, !ctx_first) {
                    return false;
                }
            }
        }
        self.feats.either_calls += 1;
        true
    }

    /// Loops whose iterations change an access's region or a value's meaning
    /// ([`Hazard::LoopRegion`]).
    pub(super) fn h_loop_region(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if room < 22 || f.loop_depth >= 2 {
            return false;
        }
        if self.rng.chance(1, 2) { self.loop_swap_regions(f) } else { self.loop_stale_value(f) }
    }

    /// `q` = context window, `s` = stack window; each iteration reads through `q`, then swaps
    /// them: the read is on the context in odd iterations and on the stack in even ones.
    pub(super) fn loop_swap_regions(&mut self, f: &mut FnCtx) -> bool {
        let mut n = self.rng.pick(&[1u32, 2, 4, 8, 8]);
        if let Some(s) = self.fixed {
            while n > s && n > 1 {
                n /= 2;
            }
        }
        let Some((c0, at)) = self.windows(f, n) else {
            return false;
        };
        let Some((p, o)) = self.ctx_reg(f) else {
            return false;
        };
        let Some([q, s, t, c, d]) = self.pick_distinct(
            f,
            Self::ctx_mask(f),
            [Val::Junk, Val::Junk, Val::Junk, Val::Scalar, Val::Scalar],
        ) else {
            return false;
        };
        f.b.emit(mov(q, p));
        if c0 as i32 != o {
            f.b.emit(addi(q, c0 as i32 - o));
        }
        f.b.emit(mov(s, Reg::R10));
        f.b.emit(addi(s, -at));
        let stack_first = self.rng.chance(1, 3);
        if stack_first {
            f.b.emit(mov(t, q));
            f.b.emit(mov(q, s));
            f.b.emit(mov(s, t));
        }
        f.b.emit(movi(c, 0));
        f.set(d, Val::Scalar);
        f.b.emit(movi(d, 0));
        let iters = 2 + self.rng.below(4) as i32;
        let head = f.b.here();
        let mut b = core::mem::take(&mut f.b);
        self.window_read(&mut b, q, t, n, d, t);
        f.b = b;
        f.b.emit(mov(t, q));
        f.b.emit(mov(q, s));
        f.b.emit(mov(s, t));
        f.b.emit(addi(c, 1));
        f.b.branch(jmp(Width::W64, JmpCond::Lt, c, Source::Imm(iters)), head);
        for r in [q, s, t] {
            f.set(r, Val::Junk);
        }
        f.set(c, Val::Scalar);
        self.feats.loops += 1;
        self.feats.loop_regions += 1;
        true
    }

    /// Each iteration computes `v` (a fresh symbol), checks `v + e <= len` and reads through
    /// `v` or through `k`, the previous iteration's `v` (0 at first); then `k = v`.
    pub(super) fn loop_stale_value(&mut self, f: &mut FnCtx) -> bool {
        let a = self.rng.below(4) as i32;
        let n = self.rng.pick(&[1u32, 2, 4]);
        let e = a as u32 + n;
        if !self.ensure_len(f, e) {
            return false;
        }
        let (Some(l), Some((p, o))) = (self.len_reg(f), self.ctx_reg(f)) else {
            return false;
        };
        let Some([k, v, c, t, q]) = self.pick_distinct(
            f,
            Self::ctx_mask(f) | bit(l),
            [Val::Scalar, Val::Scalar, Val::Scalar, Val::Scalar, Val::Junk],
        ) else {
            return false;
        };
        let iters = 2 + self.rng.below(3) as i32;
        let step = self.rng.pick(&[1, 8, 16, 24]);
        let k0 = iters + self.rng.below(4) as i32;
        let stale = self.rng.chance(1, 2);
        f.b.emit(movi(k, 0));
        f.b.emit(movi(c, 0));
        f.b.emit(movi(v, 0));
        let head = f.b.here();
        // v = (k0 - c) * step: decreasing, a new symbol each iteration
        f.b.emit(movi(v, k0));
        f.b.emit(alu64(AluOp::Sub, v, Source::Reg(c)));
        f.b.emit(alu64(AluOp::Mul, v, Source::Imm(step)));
        let w = if self.rng.chance(1, 4) { Width::W32 } else { Width::W64 };
        for r in [k, v, c] {
            f.set(r, Val::Scalar);
        }
        // the loop's registers and the length and context stay as they are in the body
        let saved_pins = f.pinned;
        f.pinned |= bit(k) | bit(v) | bit(c) | bit(l) | bit(p) | bit(t);
        self.check_end(f, v, l, e, w, t);
        self.access_via(f, p, o, if stale { k } else { v }, a, n, q);
        f.pinned = saved_pins;
        f.b.emit(mov(k, v));
        f.b.emit(addi(c, 1));
        f.b.branch(jmp(Width::W64, JmpCond::Lt, c, Source::Imm(iters)), head);
        for r in [k, v, c, t] {
            f.set(r, Val::Scalar);
        }
        if stale {
            self.unproven += 1;
        }
        self.feats.loops += 1;
        self.feats.loop_regions += 1;
        true
    }
}
