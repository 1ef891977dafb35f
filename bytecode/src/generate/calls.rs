//! Helper calls, local calls (a callee generated or reused for the arguments at hand) and
//! the function epilogue.

use alloc::vec::Vec;

use super::*;

impl Gen<'_> {
    /// Sets `r1`-`r3` to scalars (keeping some that already are) and calls `emit`.
    pub(super) fn t_helper(&mut self, f: &mut FnCtx, leak: bool) -> bool {
        if !self.emit_helper || !self.clobber_ok(f) {
            return false;
        }
        self.ensure_saved(f);
        let leak_arg = if leak { Some(REGS[1 + self.rng.below(3) as usize]) } else { None };
        for r in [Reg::R3, Reg::R2, Reg::R1] {
            if Some(r) == leak_arg {
                if let Some((p, _)) = self.ctx_reg(f).filter(|_| self.rng.chance(1, 2)) {
                    f.b.emit(mov(r, p));
                } else {
                    f.b.emit(mov(r, Reg::R10));
                    f.b.emit(addi(r, -8 * (1 + self.rng.below(8) as i32)));
                }
                f.set(r, Val::Junk);
                continue;
            }
            // `emit`'s contract, which the verifier proves: the kind fits 32 bits and
            // start + count cannot overflow 64 bits. Start and count are 32-bit values here.
            match self.rng.below(4) {
                0 => {
                    let imm = match r {
                        Reg::R3 => self.rng.below(4) as i32,
                        Reg::R2 => 1 + self.rng.below(16) as i32,
                        _ => self.rng.below(1 << 31) as i32,
                    };
                    f.b.emit(movi(r, imm));
                }
                1 => match self.scalar_reg(f) {
                    Some(s) => f.b.emit(alu(Width::W32, AluOp::Mov, r, Source::Reg(s))),
                    None => f.b.emit(movi(r, 0)),
                },
                _ => {
                    // a field of the object
                    let sz = self.rng.pick(&[4u32, 2]);
                    let readable = match (self.ctx_reg(f), self.ctx_offset(sz)) {
                        (Some((p, o)), Some(a))
                            if self.fixed.is_some() || a + sz <= f.st.len_min =>
                        {
                            Some((p, a as i32 - o))
                        }
                        _ => None,
                    };
                    match readable {
                        Some((p, off)) => {
                            f.b.emit(ldx(size_of(sz), r, p, off));
                            self.feats.ctx_reads += 1;
                        }
                        None => f.b.emit(movi(r, self.rng.below(1000) as i32)),
                    }
                }
            }
            if r == Reg::R3 {
                f.b.emit(alu64(AluOp::And, r, Source::Imm(3)));
            }
            f.set(r, Val::Scalar);
        }
        f.b.emit(Insn::Call { imm: 1 });
        Self::clobber(f);
        self.feats.helper_calls += 1;
        if leak {
            self.planted(Flaw::PointerLeak);
        }
        true
    }

    /// A call of a local function (new, or an earlier one whose assumptions hold).
    pub(super) fn t_call(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if f.depth >= MAX_CALL_DEPTH || room < 16 || !self.clobber_ok(f) {
            return false;
        }
        self.ensure_saved(f);
        let nargs = self.rng.below(6) as usize;
        let mut passed_ctx = false;
        for (i, &r) in REGS.iter().enumerate().take(nargs + 1).skip(1) {
            if i == 1
                && self.rng.chance(1, 2)
                && let Some((p, _)) = self.ctx_reg(f)
            {
                if p != r {
                    f.b.emit(mov(r, p));
                    f.set(r, f.reg(p));
                }
                passed_ctx = true;
                continue;
            }
            if i == 2
                && passed_ctx
                && self.rng.chance(2, 3)
                && let Some(l) = self.len_reg(f)
            {
                if l != r {
                    f.b.emit(mov(r, l));
                    f.set(r, Val::Len);
                }
                continue;
            }
            if f.reg(r).is_scalar() && self.rng.chance(1, 2) {
                continue;
            }
            match self.scalar_reg(f) {
                Some(s) if self.rng.chance(1, 2) => f.b.emit(mov(r, s)),
                _ => f.b.emit(movi(r, self.rng.imm32())),
            }
            f.set(r, Val::Scalar);
        }
        let mut args = [Val::Uninit; 6];
        for (i, a) in args.iter_mut().enumerate().take(nargs + 1).skip(1) {
            *a = match f.st.regs[i] {
                Val::Input => Val::Scalar,
                v => v,
            };
        }
        // Reuse an earlier function now and then.
        let reusable: Vec<usize> = self
            .funcs
            .iter()
            .enumerate()
            .filter_map(|(id, o)| {
                let fo = o.as_ref()?;
                let fits = !fo.private
                    && f.depth + fo.height <= MAX_CALL_DEPTH
                    && (1..=5).all(|i| fo.args[i].accepts(f.st.regs[i]));
                fits.then_some(id)
            })
            .collect();
        let id = if !reusable.is_empty() && self.rng.chance(1, 3) {
            self.rng.pick(&reusable)
        } else {
            let budget = (room - 12).min(8 + self.rng.below(30) as usize);
            self.gen_function(f, args, budget)
        };
        let (h, end) = self.funcs[id].as_ref().map_or((1, 0), |fo| (fo.height, fo.legacy_end));
        f.height = f.height.max(h + 1);
        f.legacy_end = f.legacy_end.max(end);
        f.st.len_hint = f.st.len_hint.max(end);
        f.b.call(id);
        Self::clobber(f);
        self.feats.local_calls += 1;
        true
    }

    pub(super) fn gen_function(&mut self, caller: &FnCtx, args: [Val; 6], budget: usize) -> usize {
        let id = self.funcs.len();
        self.funcs.push(None);
        let mut regs = [Val::Uninit; 11];
        regs[1..6].copy_from_slice(&args[1..6]);
        regs[10] = Val::Stack(0);
        let mut g = FnCtx::new(caller.depth + 1, State::entry(regs));
        let open = caller.b.len();
        self.open_len += open;
        self.segment(&mut g, budget);
        self.epilogue(&mut g);
        self.open_len -= open;
        self.done_len += g.b.len();
        self.funcs[id] = Some(FuncOut {
            b: g.b,
            args,
            height: g.height,
            legacy_end: g.legacy_end,
            private: false,
        });
        id
    }

    pub(super) fn epilogue(&mut self, f: &mut FnCtx) {
        if self.leak_at_exit && f.depth == 0 {
            match self.pick_where(f, Val::is_ptr) {
                Some(p) if self.rng.chance(2, 3) => f.b.emit(mov(Reg::R0, p)),
                _ => {
                    f.b.emit(mov(Reg::R0, Reg::R10));
                    f.b.emit(addi(Reg::R0, -(self.rng.below(64) as i32)));
                }
            }
        } else {
            match self.rng.below(5) {
                0 if f.reg(Reg::R0).is_scalar() => {}
                0 | 1 => f.b.emit(movi(Reg::R0, self.rng.below(3) as i32)),
                _ => match self.scalar_reg(f) {
                    Some(s) => {
                        if s != Reg::R0 {
                            f.b.emit(mov(Reg::R0, s));
                        }
                        if self.rng.chance(1, 3) {
                            f.b.emit(alu(Width::W32, AluOp::And, Reg::R0, Source::Imm(0xffff)));
                        }
                    }
                    None => f.b.emit(movi(Reg::R0, 0)),
                },
            }
        }
        f.b.emit(Insn::Exit);
        if f.out_used {
            f.b.bind(f.out);
            f.b.emit(movi(Reg::R0, self.rng.below(2) as i32));
            f.b.emit(Insn::Exit);
        }
    }
}
