//! Productions on memory: stack stores, loads, spills and fills, stack pointers, atomics,
//! early exits and context writes.

use alloc::vec::Vec;

use super::*;

impl Gen<'_> {
    pub(super) fn t_store(&mut self, f: &mut FnCtx) -> bool {
        let s = self.pick_size();
        let (base, o) = self.stack_base(f);
        for _ in 0..6 {
            let a = self.stack_addr(s);
            if !Self::stack_write_ok(f, a, s as usize, SD) {
                continue;
            }
            let src = match self.scalar_reg(f) {
                Some(r) if self.rng.chance(1, 2) => Source::Reg(r),
                _ => Source::Imm(self.rng.imm32()),
            };
            f.b.emit(st(size_of(s), base, a - o, src));
            Self::stack_write(f, a, s as usize, Val::Scalar);
            return true;
        }
        false
    }

    /// A stack range that is readable as scalar bytes.
    pub(super) fn find_readable(&mut self, f: &FnCtx, s: u32) -> Option<i32> {
        let d: Vec<usize> = (0..512).filter(|&i| f.st.stack[i] == SD).collect();
        if d.is_empty() {
            return None;
        }
        for _ in 0..10 {
            let i = self.rng.pick(&d) as i32 - 512;
            let a = if self.rng.chance(1, 2) {
                i & !(s as i32 - 1)
            } else {
                i - self.rng.below(s as u64) as i32
            };
            if Self::stack_read(f, a, s as usize) == Some(Val::Scalar) {
                return Some(a);
            }
        }
        None
    }

    pub(super) fn t_load(&mut self, f: &mut FnCtx) -> bool {
        let s = self.pick_size();
        let Some(a) = self.find_readable(f, s) else {
            return false;
        };
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return false;
        };
        let (base, o) = self.stack_base(f);
        let signed = s < 8 && self.rng.chance(1, 4);
        f.b.emit(load(size_of(s), signed, d, base, a - o));
        f.set(d, Val::Scalar);
        true
    }

    pub(super) fn t_spill(&mut self, f: &mut FnCtx) -> bool {
        let Some(p) = self.pick_where(f, Val::is_ptr) else {
            return false;
        };
        let v = f.reg(p);
        for _ in 0..6 {
            let a = if f.heads.is_empty() {
                let span = if self.rng.chance(3, 4) { 8 } else { 64 };
                -8 * (1 + self.rng.below(span) as i32)
            } else {
                -512 + 8 * self.rng.below(SPILL_ZONE as u64 / 8) as i32
            };
            if !Self::stack_write_ok(f, a, 8, SP) {
                continue;
            }
            f.b.emit(st(Size::DW, Reg::R10, a, Source::Reg(p)));
            Self::stack_write(f, a, 8, v);
            self.feats.pointer_spills += 1;
            // Often filled straight back, into another register.
            if self.rng.chance(1, 2) {
                self.fill_at(f, a);
            }
            return true;
        }
        false
    }

    pub(super) fn fill_at(&mut self, f: &mut FnCtx, a: i32) -> bool {
        let Some(v) = Self::stack_read(f, a, 8) else {
            return false;
        };
        let Some(d) = self.pick_dst(f, v, 0) else {
            return false;
        };
        let (base, o) = self.stack_base(f);
        f.b.emit(ldx(Size::DW, d, base, a - o));
        f.set(d, v);
        if v.is_ptr() {
            self.feats.pointer_fills += 1;
        }
        true
    }

    pub(super) fn t_fill(&mut self, f: &mut FnCtx) -> bool {
        let slots: Vec<usize> = (0..64).filter(|&s| f.st.stack[s * 8] == SP).collect();
        if slots.is_empty() {
            return false;
        }
        let slot = self.rng.pick(&slots);
        self.fill_at(f, slot as i32 * 8 - 512)
    }

    pub(super) fn t_stack_ptr(&mut self, f: &mut FnCtx) -> bool {
        let k = if self.rng.chance(3, 4) {
            8 * (1 + self.rng.below(8) as i32)
        } else {
            1 + self.rng.below(512) as i32
        };
        let Some(d) = self.pick_dst(f, Val::Stack(-k), 0) else {
            return false;
        };
        f.b.emit(mov(d, Reg::R10));
        if self.rng.chance(1, 4) {
            f.b.emit(alu64(AluOp::Sub, d, Source::Imm(k)));
        } else {
            f.b.emit(addi(d, -k));
        }
        f.set(d, Val::Stack(-k));
        if self.rng.chance(1, 2) {
            self.t_store(f);
        }
        true
    }

    pub(super) fn t_atomic(&mut self, f: &mut FnCtx) -> bool {
        let s = self.rng.pick(&[4u32, 8]);
        let Some(a) = self.find_readable(f, s) else {
            return false;
        };
        if a % s as i32 != 0 || !Self::stack_write_ok(f, a, s as usize, SD) {
            return false;
        }
        let Some(src) = self.scalar_reg(f) else {
            return false;
        };
        let op = self.rng.pick(&ATOMIC_OPS);
        let fetch = op.always_fetches() || self.rng.chance(1, 2);
        if fetch && !self.can_write(f, src, Val::Scalar) {
            return false;
        }
        if op == AtomicOp::CmpXchg
            && !(f.reg(Reg::R0).is_scalar() && self.can_write(f, Reg::R0, Val::Scalar))
        {
            return false;
        }
        f.b.emit(Insn::Atomic { size: size_of(s), op, fetch, base: Reg::R10, off: a as i16, src });
        if op == AtomicOp::CmpXchg {
            f.set(Reg::R0, Val::Scalar);
        } else if fetch {
            f.set(src, Val::Scalar);
        }
        true
    }

    /// A register whose comparison with a constant the input decides (not the length: a
    /// `len == k` exit could hide the one length where a planted flaw shows).
    pub(super) fn input_reg(&mut self, f: &FnCtx) -> Option<Reg> {
        self.pick_where(f, |v| v == Val::Input)
    }

    /// `if x == imm goto out` on an input value: never taken on every path, so what follows
    /// stays reachable.
    pub(super) fn t_early_out(&mut self, f: &mut FnCtx) -> bool {
        let Some(r) = self.input_reg(f) else {
            return false;
        };
        let w = width(self.rng);
        let imm = self.rng.below(64) as i32;
        f.b.branch(jmp(w, JmpCond::Eq, r, Source::Imm(imm)), f.out);
        f.out_used = true;
        true
    }

    pub(super) fn t_ctx_write(&mut self, f: &mut FnCtx) -> bool {
        let flaw = !self.ctx_writable && self.flaw_now(f, Flaw::CtxWrite);
        if !self.ctx_writable && !flaw {
            return false;
        }
        if self.ctx_reg(f).is_none() {
            return false;
        }
        let s = self.pick_size();
        let Some((a, p, o)) = self.readable_ctx_ref(f, s) else {
            return false;
        };
        let src = match self.scalar_reg(f) {
            Some(r) if self.rng.chance(1, 2) => Source::Reg(r),
            _ => Source::Imm(self.rng.imm32()),
        };
        f.b.emit(st(size_of(s), p, a as i32 - o, src));
        if flaw {
            self.planted(Flaw::CtxWrite);
        }
        true
    }
}
