//! The planted flaws: each a subtle mistake on code the entry reaches for some input.

use alloc::vec::Vec;

use super::*;

impl Gen<'_> {
    // --- flaws only -----------------------------------------------------------------------------

    pub(super) fn t_flaw(&mut self, f: &mut FnCtx) -> bool {
        let Some(kind) = self.want else { return false };
        if !f.uncond() {
            return false;
        }
        match kind {
            Flaw::StackUninitRead => self.f_stack_uninit(f),
            Flaw::StackOutOfBounds => self.f_stack_oob(f),
            Flaw::PointerLeak => self.f_leak(f),
            Flaw::BadPointerArith => self.f_bad_arith(f),
            Flaw::UninitRegister => self.f_uninit_reg(f),
            Flaw::CtxWrite => {
                self.force = true;
                let ok = self.t_ctx_write(f);
                self.force = false;
                ok
            }
            _ => false,
        }
    }

    pub(super) fn force_flaw(&mut self, f: &mut FnCtx) {
        let Some(kind) = self.want else { return };
        self.force = true;
        let ok = match kind {
            Flaw::CtxOutOfBounds => self.t_ctx_read(f),
            Flaw::HeaderOffByOne => self.t_header(f),
            Flaw::UnboundedLoop | Flaw::LoopIndexOffByOne => {
                // a small loop with an almost empty body
                let saved = self.limit;
                self.limit = self.total(f) + 2;
                let ok = self.t_loop(f, 31);
                self.limit = saved;
                ok && self.flaw.is_some()
            }
            _ => self.t_flaw(f),
        };
        self.force = false;
        if !ok || self.flaw.is_none() {
            self.want = Some(Flaw::PointerLeak);
            self.leak_at_exit = true;
            self.planted(Flaw::PointerLeak);
        }
    }

    pub(super) fn f_stack_uninit(&mut self, f: &mut FnCtx) -> bool {
        let s = self.pick_size();
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return false;
        };
        for _ in 0..20 {
            // next to written bytes half the time
            let a = if self.rng.chance(1, 2) {
                match self.find_readable(f, 1) {
                    Some(i) => i - self.rng.below(s as u64) as i32,
                    None => self.stack_addr(s),
                }
            } else {
                self.stack_addr(s)
            };
            if a < -512 || a + s as i32 > 0 {
                continue;
            }
            let lo = sidx(a);
            if (lo..lo + s as usize).any(|i| !f.touched[i]) {
                f.b.emit(ldx(size_of(s), d, Reg::R10, a));
                f.set(d, Val::Scalar);
                self.planted(Flaw::StackUninitRead);
                return true;
            }
        }
        false
    }

    pub(super) fn f_stack_oob(&mut self, f: &mut FnCtx) -> bool {
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return false;
        };
        match self.rng.below(5) {
            0 => {
                f.b.emit(ldx(Size::DW, d, Reg::R10, 0));
                f.set(d, Val::Scalar);
            }
            1 => f.b.emit(st(Size::DW, Reg::R10, -4, Source::Imm(self.rng.imm32()))),
            2 => {
                f.b.emit(ldx(Size::B, d, Reg::R10, -513));
                f.set(d, Val::Scalar);
            }
            3 => {
                let Some(p) = self.pick_dst(f, Val::Stack(-512), bit(d)) else {
                    return false;
                };
                f.b.emit(mov(p, Reg::R10));
                f.b.emit(addi(p, -512));
                f.set(p, Val::Stack(-512));
                f.b.emit(st(Size::W, p, -4, Source::Imm(0)));
            }
            _ => f.b.emit(st(Size::W, Reg::R10, 2, Source::Reg(Reg::R10))),
        }
        self.planted(Flaw::StackOutOfBounds);
        true
    }

    pub(super) fn f_leak(&mut self, f: &mut FnCtx) -> bool {
        match self.rng.below(4) {
            0 if self.emit_helper => self.t_helper(f, true),
            1 => {
                // read back part of a spilled pointer
                let slots: Vec<usize> = (0..64).filter(|&s| f.st.stack[s * 8] == SP).collect();
                if slots.is_empty() {
                    return false;
                }
                let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
                    return false;
                };
                let a = self.rng.pick(&slots) as i32 * 8 - 512 + 4 * self.rng.below(2) as i32;
                f.b.emit(ldx(Size::W, d, Reg::R10, a));
                f.set(d, Val::Scalar);
                self.planted(Flaw::PointerLeak);
                true
            }
            2 if self.legacy && self.can_write(f, Reg::R0, Val::Scalar) => {
                let Some((p, _)) = self.ctx_reg(f) else {
                    return false;
                };
                f.b.emit(Insn::LoadInd { size: Size::B, src: p, imm: 0 });
                f.set(Reg::R0, Val::Scalar);
                self.planted(Flaw::PointerLeak);
                true
            }
            _ => {
                self.leak_at_exit = true;
                self.planted(Flaw::PointerLeak);
                true
            }
        }
    }

    pub(super) fn f_bad_arith(&mut self, f: &mut FnCtx) -> bool {
        let stack = self.rng.chance(1, 3);
        let (src, v) = if stack {
            (Reg::R10, Val::Stack(0))
        } else {
            match self.ctx_reg(f) {
                Some((p, o)) => (p, Val::Ctx(o)),
                None => return false,
            }
        };
        let Some(p) = self.pick_dst(f, v, 0) else {
            return false;
        };
        if !self.can_write(f, p, Val::Junk) {
            return false;
        }
        f.b.emit(mov(p, src));
        match self.rng.below(4) {
            0 => f.b.emit(alu64(AluOp::Mul, p, Source::Imm(1))),
            1 => f.b.emit(alu64(AluOp::Or, p, Source::Imm(0))),
            2 => f.b.emit(alu(Width::W32, AluOp::Add, p, Source::Imm(0))),
            _ => f.b.emit(alu64(AluOp::Xor, p, Source::Imm(0))),
        }
        f.set(p, Val::Junk);
        if stack {
            f.b.emit(st(Size::DW, p, -8, Source::Imm(0)));
        } else {
            let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
                return false;
            };
            let o = match v {
                Val::Ctx(o) => o,
                _ => 0,
            };
            f.b.emit(ldx(Size::B, d, p, -o));
            f.set(d, Val::Scalar);
        }
        self.planted(Flaw::BadPointerArith);
        true
    }

    pub(super) fn f_uninit_reg(&mut self, f: &mut FnCtx) -> bool {
        let Some(r) = self.pick_where(f, |v| v == Val::Uninit) else {
            return false;
        };
        if !self.can_write(f, r, Val::Scalar) {
            return false;
        }
        let Some(a) = self.scalar_reg(f) else {
            return false;
        };
        let Some(d) = self.pick_dst(f, Val::Scalar, bit(r)) else {
            return false;
        };
        let join = f.b.label();
        let cond = self.rng.pick(&JmpCond::ALL);
        f.b.branch(jmp(Width::W64, cond, a, Source::Imm(self.rng.below(16) as i32)), join);
        f.b.emit(movi(r, self.rng.imm32()));
        f.b.bind(join);
        f.b.emit(mov(d, r));
        f.set(d, Val::Scalar);
        self.planted(Flaw::UninitRegister);
        true
    }
}
