//! The productions: the step that picks one, and constants, arithmetic and context reads
//! (fixed, checked, variable headers, legacy packet loads).

use alloc::vec::Vec;

use super::*;

impl Gen<'_> {
    // --- templates ----------------------------------------------------------------------------

    pub(super) fn prologue(&mut self, f: &mut FnCtx) {
        if self.rng.chance(3, 5) {
            self.ensure_saved(f);
        }
        if self.rng.chance(1, 3) {
            f.b.emit(movi(Reg::R0, 0));
            f.set(Reg::R0, Val::Scalar);
        }
    }

    pub(super) fn segment(&mut self, f: &mut FnCtx, budget: usize) {
        let end = (self.total(f) + budget).min(self.limit);
        let mut fails = 0;
        while !f.st.dead && fails < 12 {
            let total = self.total(f);
            if total + 2 > end {
                break;
            }
            if !self.step(f, end - total) {
                fails += 1;
            }
        }
    }

    pub(super) fn step(&mut self, f: &mut FnCtx, room: usize) -> bool {
        let var = self.fixed.is_none();
        let mut table: Vec<(u64, Template)> = alloc::vec![
            (3, Template::Const),
            (7, Template::Arith),
            (5, Template::CtxRead),
            (4, Template::Store),
            (3, Template::Load),
            (2, Template::Spill),
            (2, Template::Fill),
            (1, Template::StackPtr),
            (1, Template::Atomic),
            (1, Template::EarlyOut),
        ];
        if var {
            table.push((2, Template::Header));
        }
        if self.legacy {
            table.push((2, Template::Legacy));
        }
        match f.loop_depth {
            0 => table.push((4, Template::Loop)),
            1 => table.push((1, Template::Loop)),
            _ => {}
        }
        if f.arm_depth < 2 {
            table.push((3, Template::Diamond));
        }
        if self.emit_helper {
            table.push((3, Template::Helper));
        }
        if f.depth < MAX_CALL_DEPTH {
            table.push((1, Template::Call));
        }
        if self.ctx_writable {
            table.push((1, Template::CtxWrite));
        }
        if self.want.is_some() && f.uncond() {
            table.push((2, Template::FlawOnly));
        }
        for h in Hazard::ALL {
            let w = match self.focus {
                None => 1,
                Some(x) if x == h => 14,
                Some(_) => 0,
            };
            if w > 0 {
                table.push((w, Template::Hazard(h)));
            }
        }
        match self.rng.weighted(&table).unwrap_or(Template::Const) {
            Template::Const => self.t_const(f),
            Template::Arith => self.t_arith(f),
            Template::CtxRead => room >= 6 && self.t_ctx_read(f),
            Template::Header => room >= 12 && self.t_header(f),
            Template::Legacy => self.t_legacy(f),
            Template::Store => room >= 3 && self.t_store(f),
            Template::Load => self.t_load(f),
            Template::Spill => room >= 3 && self.t_spill(f),
            Template::Fill => self.t_fill(f),
            Template::StackPtr => room >= 3 && self.t_stack_ptr(f),
            Template::Atomic => self.t_atomic(f),
            Template::Loop => self.t_loop(f, room),
            Template::Diamond => self.t_diamond(f, room),
            Template::Helper => room >= 8 && self.t_helper(f, false),
            Template::Call => self.t_call(f, room),
            Template::EarlyOut => self.t_early_out(f),
            Template::CtxWrite => room >= 6 && self.t_ctx_write(f),
            Template::FlawOnly => room >= 8 && self.t_flaw(f),
            Template::Hazard(h) => self.hazard(f, h, room),
        }
    }

    pub(super) fn imm64(&mut self) -> u64 {
        match self.rng.below(4) {
            0 => self.rng.pick(&[0, u64::MAX, 1 << 63, 0x8000_0000, 0xffff_ffff, 1 << 32]),
            1 => self.rng.below(1 << 16),
            _ => self.rng.next_u64(),
        }
    }

    pub(super) fn t_const(&mut self, f: &mut FnCtx) -> bool {
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return false;
        };
        let insn = match self.rng.below(5) {
            0 => Insn::LoadImm64 { dst: d, imm: self.imm64() },
            1 => alu(Width::W32, AluOp::Mov, d, Source::Imm(self.rng.imm32())),
            _ => movi(d, self.rng.imm32()),
        };
        f.b.emit(insn);
        f.set(d, Val::Scalar);
        true
    }

    pub(super) fn t_arith(&mut self, f: &mut FnCtx) -> bool {
        let cands: Vec<Reg> = REGS[..10]
            .iter()
            .copied()
            .filter(|&r| f.reg(r).is_scalar() && self.can_write(f, r, Val::Scalar))
            .collect();
        if cands.is_empty() {
            return self.t_const(f);
        }
        let d = self.rng.pick(&cands);
        let mut result = Val::Scalar;
        let insn = match self.rng.below(10) {
            0 => Insn::Neg { width: width(self.rng), dst: d },
            1 => {
                let kind = self.rng.pick(&[Endian::Le, Endian::Be, Endian::Swap]);
                let bits = self.rng.pick(&[SwapBits::B16, SwapBits::B32, SwapBits::B64]);
                Insn::End { kind, bits, dst: d }
            }
            _ => {
                let op = self.rng.pick(&[
                    AluOp::Add,
                    AluOp::Sub,
                    AluOp::Mul,
                    AluOp::Div,
                    AluOp::SDiv,
                    AluOp::Or,
                    AluOp::And,
                    AluOp::Lsh,
                    AluOp::Rsh,
                    AluOp::Mod,
                    AluOp::SMod,
                    AluOp::Xor,
                    AluOp::Arsh,
                    AluOp::Mov,
                    AluOp::MovSx8,
                    AluOp::MovSx16,
                    AluOp::MovSx32,
                    AluOp::Add,
                    AluOp::And,
                ]);
                let mut w = width(self.rng);
                let src_reg = self.scalar_reg(f);
                let use_reg = op.is_movsx() || (src_reg.is_some() && self.rng.chance(1, 2));
                let src = if use_reg {
                    Source::Reg(src_reg.unwrap_or(d))
                } else {
                    let bits = if w == Width::W32 { 32 } else { 64 };
                    Source::Imm(match op {
                        AluOp::Lsh | AluOp::Rsh | AluOp::Arsh => self.rng.below(bits) as i32,
                        AluOp::Div | AluOp::SDiv | AluOp::Mod | AluOp::SMod => {
                            self.rng.pick(&[0, 0, -1, 1, 3, 7, 10, 255, 4096, i32::MIN])
                        }
                        _ => self.rng.imm32(),
                    })
                };
                if op == AluOp::MovSx32 {
                    w = Width::W64;
                }
                if let (AluOp::Mov, Width::W64, Source::Reg(s)) = (op, w, src)
                    && f.reg(s) == Val::Input
                {
                    result = Val::Input;
                }
                alu(w, op, d, src)
            }
        };
        f.b.emit(insn);
        f.set(d, result);
        true
    }

    /// `if len < k goto out` in one of several spellings; afterwards `len >= k` is proven.
    pub(super) fn len_check(&mut self, f: &mut FnCtx, k: u32) -> bool {
        let Some(l) = self.len_reg(f) else {
            return false;
        };
        let k = k.max(1) as i32;
        let out = f.out;
        match self.rng.below(14) {
            0..=4 => f.b.branch(jmp(Width::W64, JmpCond::Lt, l, Source::Imm(k)), out),
            5..=6 => f.b.branch(jmp(Width::W64, JmpCond::Le, l, Source::Imm(k - 1)), out),
            7..=8 => {
                let Some(t) = self.pick_dst(f, Val::Scalar, bit(l) | Self::ctx_mask(f)) else {
                    return false;
                };
                f.b.emit(movi(t, k));
                f.set(t, Val::Scalar);
                f.b.branch(jmp(Width::W64, JmpCond::Gt, t, Source::Reg(l)), out);
            }
            9..=10 => {
                let ok = f.b.label();
                f.b.branch(jmp(Width::W64, JmpCond::Ge, l, Source::Imm(k)), ok);
                f.b.emit(movi(Reg::R0, 0));
                f.b.emit(Insn::Exit);
                f.b.bind(ok);
                self.feats.len_checks += 1;
                f.st.len_min = f.st.len_min.max(k as u32);
                f.st.len_hint = f.st.len_hint.max(k as u32);
                return true;
            }
            11 => f.b.branch(jmp(Width::W64, JmpCond::Slt, l, Source::Imm(k)), out),
            12 => f.b.branch(jmp(Width::W32, JmpCond::Lt, l, Source::Imm(k)), out),
            _ => {
                let Some(t) = self.pick_dst(f, Val::Len, bit(l) | Self::ctx_mask(f)) else {
                    return false;
                };
                f.b.emit(mov(t, l));
                f.set(t, Val::Len);
                f.b.branch(jmp(Width::W64, JmpCond::Lt, t, Source::Imm(k)), out);
            }
        }
        f.out_used = true;
        self.feats.len_checks += 1;
        f.st.len_min = f.st.len_min.max(k as u32);
        f.st.len_hint = f.st.len_hint.max(k as u32);
        true
    }

    /// Makes `[0, need)` of the context readable: nothing for a fixed size that covers it, a
    /// length check for a variable one.
    pub(super) fn ensure_len(&mut self, f: &mut FnCtx, need: u32) -> bool {
        match self.fixed {
            Some(n) => need <= n,
            None => need <= f.st.len_min || self.len_check(f, need),
        }
    }

    /// A context offset for an `s`-byte load, made readable (before any register is chosen: a
    /// length check may take a scratch register).
    pub(super) fn readable_offset(&mut self, f: &mut FnCtx, s: u32) -> Option<u32> {
        let a = self.ctx_offset(s)?;
        self.ensure_len(f, a + s).then_some(a)
    }

    /// [`Gen::readable_offset`], then a context pointer `p` (at offset `o`) to reach it.
    pub(super) fn readable_ctx_ref(&mut self, f: &mut FnCtx, s: u32) -> Option<(u32, Reg, i32)> {
        let a = self.readable_offset(f, s)?;
        let (p, o) = self.ctx_reg(f)?;
        Some((a, p, o))
    }

    pub(super) fn ctx_offset(&mut self, s: u32) -> Option<u32> {
        match self.fixed {
            Some(n) => {
                let n = n.min(4096);
                if self.ty == ProgramType::Acl && self.rng.chance(1, 3) {
                    // the request: principal u64 at 0, operation u32 at 8
                    let a = self.rng.pick(&[0, 8, 12]);
                    if a + s <= n {
                        return Some(a);
                    }
                }
                (n >= s).then(|| self.rng.below((n - s + 1) as u64) as u32)
            }
            None => Some(if self.rng.chance(1, 3) {
                self.rng.pick(&[12, 14, 16, 20, 23, 26, 30, 34, 36, 0])
            } else {
                self.rng.below(64) as u32
            }),
        }
    }

    pub(super) fn t_ctx_read(&mut self, f: &mut FnCtx) -> bool {
        if self.ctx_reg(f).is_none() {
            return false;
        }
        let mut s = self.pick_size();
        if let Some(n) = self.fixed {
            while s > n && s > 1 {
                s /= 2;
            }
        }
        let flaw = self.flaw_now(f, Flaw::CtxOutOfBounds);
        let a = if flaw {
            match self.fixed {
                // ends 1..=s bytes past the end
                Some(n) if n <= 4096 => n.saturating_sub(s) + 1 + self.rng.below(s as u64) as u32,
                Some(_) => return false,
                None => {
                    // check one byte short of the end of the access
                    let k = (f.st.len_hint + 1 + self.rng.below(24) as u32).max(s);
                    if k - 1 > f.st.len_min && !self.len_check(f, k - 1) {
                        return false;
                    }
                    k - s
                }
            }
        } else {
            let Some(a) = self.readable_offset(f, s) else {
                return false;
            };
            a
        };
        let Some((p, o)) = self.ctx_reg(f) else {
            return false;
        };
        let Some(d) = self.pick_dst(f, Val::Scalar, 0) else {
            return false;
        };
        let signed = s < 8 && self.rng.chance(1, 4);
        f.b.emit(load(size_of(s), signed, d, p, a as i32 - o));
        f.set(d, Val::Input);
        self.feats.ctx_reads += 1;
        if flaw {
            self.planted(Flaw::CtxOutOfBounds);
        }
        true
    }

    /// `A = ctx[h]; A &= 15; A <<= 2; B = A + E; if B > len goto out; C = ctx + A; D = C[o2]`.
    pub(super) fn t_header(&mut self, f: &mut FnCtx) -> bool {
        if self.fixed.is_some() {
            return false;
        }
        if self.ctx_reg(f).is_none() {
            return false;
        }
        let hoff = self.rng.pick(&[14, 14, 0, 12, 20, 9]) as u32;
        if !self.ensure_len(f, hoff + 1) {
            return false;
        }
        let Some((p, o)) = self.ctx_reg(f) else {
            return false;
        };
        let Some(l) = self.len_reg(f) else {
            return false;
        };
        let keep = bit(p) | bit(l);
        let Some(ra) = self.pick_dst(f, Val::Scalar, keep) else {
            return false;
        };
        let Some(rb) = self.pick_dst(f, Val::Scalar, keep | bit(ra)) else {
            return false;
        };
        let Some(rc) = self.pick_dst(f, Val::Ctx(o), keep | bit(ra) | bit(rb)) else {
            return false;
        };
        if !self.can_write(f, rc, Val::Junk) {
            return false;
        }
        let flaw = self.flaw_now(f, Flaw::HeaderOffByOne);
        f.b.emit(ldx(Size::B, ra, p, hoff as i32 - o));
        match self.rng.below(3) {
            0 => {
                f.b.emit(alu64(AluOp::And, ra, Source::Imm(15)));
                f.b.emit(alu64(AluOp::Lsh, ra, Source::Imm(2)));
            }
            1 => f.b.emit(alu64(AluOp::And, ra, Source::Imm(0x3c))),
            _ => {
                f.b.emit(alu(Width::W32, AluOp::And, ra, Source::Imm(7)));
                f.b.emit(alu64(AluOp::Mul, ra, Source::Imm(8)));
            }
        }
        f.set(ra, Val::Scalar);
        let s = self.pick_size();
        let e = (s + self.rng.below(24) as u32).max(self.rng.pick(&[s, 18, 20, 22, 24]));
        // For the flaw, the one-byte overrun must be reachable: `hlen + e` at least what a
        // verifier may know of the length.
        let flaw = flaw && f.st.len_hint <= e + 56;
        let o2 =
            if flaw { e - s + 1 } else { e - s - self.rng.below((e - s + 1).min(4) as u64) as u32 };
        f.b.emit(mov(rb, ra));
        f.b.emit(addi(rb, e as i32));
        f.set(rb, Val::Scalar);
        if self.rng.chance(1, 2) {
            f.b.branch(jmp(Width::W64, JmpCond::Gt, rb, Source::Reg(l)), f.out);
        } else {
            f.b.branch(jmp(Width::W64, JmpCond::Lt, l, Source::Reg(rb)), f.out);
        }
        f.out_used = true;
        f.b.emit(mov(rc, p));
        f.b.emit(alu64(AluOp::Add, rc, Source::Reg(ra)));
        f.set(rc, Val::Junk);
        let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(rc);
        f.b.emit(ldx(size_of(s), d, rc, o2 as i32));
        f.set(d, Val::Input);
        self.feats.header_patterns += 1;
        self.feats.len_checks += 1;
        self.feats.ctx_reads += 2;
        if flaw {
            self.planted(Flaw::HeaderOffByOne);
        }
        true
    }

    pub(super) fn t_legacy(&mut self, f: &mut FnCtx) -> bool {
        if !self.legacy || !self.can_write(f, Reg::R0, Val::Scalar) {
            return false;
        }
        let size = self.rng.pick(&[Size::B, Size::H, Size::W]);
        // An index from the input, masked so that the load is in bounds for some lengths (a
        // constant or the length itself could put everything after out of reach: out of
        // bounds, the program returns).
        let x = self.input_reg(f).filter(|_| self.rng.chance(1, 3));
        let insn = match x {
            Some(x) => {
                let src = match self.pick_dst(f, Val::Scalar, bit(Reg::R0)) {
                    Some(t) => {
                        f.b.emit(mov(t, x));
                        let mask = self.rng.pick(&[15, 63, 255]);
                        f.b.emit(alu64(AluOp::And, t, Source::Imm(mask)));
                        f.set(t, Val::Scalar);
                        t
                    }
                    None => x,
                };
                Insn::LoadInd { size, src, imm: self.rng.below(32) as i32 }
            }
            None => Insn::LoadAbs {
                size,
                imm: if self.rng.chance(1, 8) {
                    self.rng.below(256) as i32
                } else {
                    self.rng.below(64) as i32
                },
            },
        };
        if let Insn::LoadAbs { imm, .. } | Insn::LoadInd { imm, .. } = insn {
            let end = imm as u32 + size.bytes() as u32;
            f.st.len_hint = f.st.len_hint.max(end);
            f.legacy_end = f.legacy_end.max(end);
        }
        f.b.emit(insn);
        f.set(Reg::R0, Val::Input);
        self.feats.legacy_loads += 1;
        true
    }
}
