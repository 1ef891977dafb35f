//! Hazards: the shapes of the relational and region bug classes. This file: length-derived
//! values transformed, then compared with the length and used for an access.

use super::*;

/// What a transform did to a value of `bits` significant bits (`64`: any value, signs too).
pub(super) struct Transformed {
    /// The result equals the operand for every operand of the source's range.
    pub(super) ident: bool,
    /// The result is always below `2^b` (and not negative).
    pub(super) out_bits: Option<u32>,
    /// A precise verifier keeps the operand's symbol (the same value, by a copy-like step).
    pub(super) keeps: bool,
}

pub(super) fn bits_of(v: u64) -> u32 {
    64 - v.leading_zeros()
}

impl Gen<'_> {
    pub(super) fn hazard(&mut self, f: &mut FnCtx, h: Hazard, room: usize) -> bool {
        match h {
            Hazard::Transform => self.h_transform(f, room),
            Hazard::CallSymbols => self.h_call_twice(f, room),
            Hazard::FarOffsets => room >= 6 && self.h_far(f),
            Hazard::EitherRegion => self.h_either(f, room),
            Hazard::LoopRegion => self.h_loop_region(f, room),
            Hazard::PathFacts => self.h_path_facts(f, room),
        }
    }

    /// The length's significant bits: 32 for a variable context, the size's for a fixed one.
    pub(super) fn len_bits(&self) -> u32 {
        match self.fixed {
            None => 32,
            Some(n) => bits_of(n as u64),
        }
    }

    /// `t = v + e; if t > len goto out` (or `len < t`), at `width`: afterwards `v + e <= len`.
    pub(super) fn check_end(
        &mut self,
        f: &mut FnCtx,
        v: Reg,
        l: Reg,
        e: u32,
        width: Width,
        t: Reg,
    ) {
        f.b.emit(mov(t, v));
        if e != 0 || self.rng.chance(1, 2) {
            f.b.emit(addi(t, e as i32));
        }
        f.set(t, Val::Scalar);
        if self.rng.chance(1, 2) {
            f.b.branch(jmp(width, JmpCond::Gt, t, Source::Reg(l)), f.out);
        } else {
            f.b.branch(jmp(width, JmpCond::Lt, l, Source::Reg(t)), f.out);
        }
        f.out_used = true;
        self.feats.len_checks += 1;
    }

    /// `q = p + v; d = *(q + a - o)`, an `n`-byte context read at offset `v + a`; through a
    /// pointer moved far and brought back now and then.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn access_via(
        &mut self,
        f: &mut FnCtx,
        p: Reg,
        o: i32,
        v: Reg,
        a: i32,
        n: u32,
        q: Reg,
    ) {
        f.b.emit(mov(q, p));
        f.b.emit(alu64(AluOp::Add, q, Source::Reg(v)));
        let mut off = a - o;
        if self.rng.chance(1, 4) {
            let k = self.rng.pick(&[600, 4096, 20000]);
            f.b.emit(addi(q, -k));
            off += k;
        }
        f.set(q, Val::Junk);
        let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(q);
        let signed = n < 8 && self.rng.chance(1, 6);
        f.b.emit(load(size_of(n), signed, d, q, off));
        f.set(d, Val::Input);
        self.feats.ctx_reads += 1;
    }

    /// An 8-aligned 8-byte stack slot that may be written with scalar data.
    pub(super) fn scalar_slot(&mut self, f: &FnCtx) -> Option<i32> {
        (0..8)
            .map(|_| -8 * (1 + self.rng.below(16) as i32))
            .find(|&a| Self::stack_write_ok(f, a, 8, SD))
    }

    /// Applies a random value-changing or value-keeping operation to `y` (holding a value of
    /// `bits` significant bits).
    pub(super) fn transform(&mut self, f: &mut FnCtx, y: Reg, bits: u32) -> Transformed {
        let id = |max: u32| bits <= max;
        let same = |ident: bool| if ident && bits < 64 { Some(bits) } else { None };
        let t = |ident, out_bits, keeps| Transformed { ident, out_bits, keeps };
        match self.rng.below(20) {
            0..=5 => {
                let kind = self.rng.pick(&[Endian::Le, Endian::Be, Endian::Swap]);
                let sb = self.rng.pick(&[SwapBits::B16, SwapBits::B32, SwapBits::B64]);
                f.b.emit(Insn::End { kind, bits: sb, dst: y });
                let w = sb.bits();
                if kind == Endian::Le {
                    let ident = id(w);
                    t(ident, if w < 64 { Some(w) } else { same(true) }, true)
                } else {
                    t(false, (w < 64).then_some(w), false)
                }
            }
            6..=7 => {
                let (op, w) = self.rng.pick(&[
                    (AluOp::MovSx8, 7),
                    (AluOp::MovSx16, 15),
                    (AluOp::MovSx32, 31),
                ]);
                f.b.emit(alu64(op, y, Source::Reg(y)));
                t(id(w), same(id(w)), true)
            }
            8 => {
                f.b.emit(alu(Width::W32, AluOp::Mov, y, Source::Reg(y)));
                t(id(32), Some(bits.min(32)), true)
            }
            9 => {
                let (op, imm) = self.rng.pick(&[
                    (AluOp::And, -1),
                    (AluOp::Add, 0),
                    (AluOp::Or, 0),
                    (AluOp::Xor, 0),
                    (AluOp::Lsh, 0),
                    (AluOp::Rsh, 0),
                ]);
                f.b.emit(alu(Width::W32, op, y, Source::Imm(imm)));
                t(id(32), Some(bits.min(32)), false)
            }
            10 => {
                let c = 1 + self.rng.below(16) as i32;
                let op = self.rng.pick(&[AluOp::Add, AluOp::Sub]);
                f.b.emit(alu(Width::W32, op, y, Source::Imm(c)));
                t(false, Some(32), false)
            }
            11 => {
                let w = width(self.rng);
                f.b.emit(Insn::Neg { width: w, dst: y });
                t(false, (w == Width::W32).then_some(32), false)
            }
            12 => {
                f.b.emit(Insn::Neg { width: Width::W64, dst: y });
                f.b.emit(Insn::Neg { width: Width::W64, dst: y });
                t(true, same(true), false)
            }
            13 => {
                let c = 1 + self.rng.below(64) as i32;
                f.b.emit(addi(y, c));
                f.b.emit(alu64(AluOp::Sub, y, Source::Imm(c)));
                t(true, same(bits <= 62), bits <= 62)
            }
            14 => {
                f.b.emit(alu64(AluOp::Lsh, y, Source::Imm(32)));
                if self.rng.chance(1, 2) {
                    f.b.emit(alu64(AluOp::Rsh, y, Source::Imm(32)));
                    t(id(32), Some(bits.min(32)), false)
                } else {
                    f.b.emit(alu64(AluOp::Arsh, y, Source::Imm(32)));
                    t(id(31), same(id(31)), false)
                }
            }
            _ => {
                // through the stack: a whole spill read back whole, in part, or sign-extended
                let Some(a) = self.scalar_slot(f) else {
                    f.b.emit(alu(Width::W32, AluOp::Mov, y, Source::Reg(y)));
                    return t(id(32), Some(bits.min(32)), true);
                };
                f.b.emit(st(Size::DW, Reg::R10, a, Source::Reg(y)));
                Self::stack_write(f, a, 8, Val::Scalar);
                let (size, signed, max) = self.rng.pick(&[
                    (Size::DW, false, 64),
                    (Size::W, false, 32),
                    (Size::W, true, 31),
                    (Size::H, true, 15),
                    (Size::B, true, 7),
                    (Size::H, false, 16),
                ]);
                f.b.emit(load(size, signed, y, Reg::R10, a));
                let out = if signed {
                    same(id(max))
                } else if size == Size::DW {
                    same(true)
                } else {
                    Some((size.bytes() as u32 * 8).min(bits))
                };
                t(id(max), out, size == Size::DW)
            }
        }
    }

    /// A length-derived or loaded value, transformed, compared with the length, and used for
    /// a context access ([`Hazard::Transform`]).
    pub(super) fn h_transform(&mut self, f: &mut FnCtx, room: usize) -> bool {
        if room < 16 || self.ctx_reg(f).is_none() || self.len_reg(f).is_none() {
            return false;
        }
        let var = self.fixed.is_none();
        // 0: the length, 1: the length minus c, 2: a context load
        let src = match self.rng.below(if var { 3 } else { 2 }) {
            0 => 0,
            1 if var => 1,
            _ => 2,
        };
        let n = self.rng.pick(&[1u32, 2, 4, 8, 1, 2]);
        let a = self.rng.below(8) as u32;
        let c = 1 + self.rng.below(16) as u32;
        // what must be readable before: the load, or room for a trailing read
        let (ls, la, lsigned, lmask) = if src == 2 {
            let s = self.rng.pick(&[2u32, 4, 1, 2, 4, 8]);
            let Some(la) = self.readable_offset(f, s) else {
                return false;
            };
            let mask = self.rng.chance(1, 4).then(|| self.rng.pick(&[15, 63, 255, 0xffff]));
            // (no sign-extending 8-byte load exists)
            (s, la, s < 8 && self.rng.chance(1, 5), mask)
        } else {
            (0, 0, false, None)
        };
        // trailing reads need `len >= c + n` (or `>= n`)
        let trail = src != 2 && self.rng.chance(1, 3);
        if trail && !self.ensure_len(f, if src == 1 { c + n } else { n }) {
            return false;
        }
        if src == 1 && !self.ensure_len(f, c) {
            return false;
        }
        let (Some(l), Some((p, o))) = (self.len_reg(f), self.ctx_reg(f)) else {
            return false;
        };
        let keep = bit(l) | Self::ctx_mask(f);
        let bits;
        let x = if src == 0 {
            bits = self.len_bits();
            l
        } else {
            let Some(x) = self.pick_dst(f, Val::Scalar, keep) else {
                return false;
            };
            if src == 1 {
                f.b.emit(mov(x, l));
                if self.rng.chance(1, 2) {
                    f.b.emit(addi(x, -(c as i32)));
                } else {
                    f.b.emit(alu64(AluOp::Sub, x, Source::Imm(c as i32)));
                }
                bits = 32;
            } else {
                f.b.emit(load(size_of(ls), lsigned, x, p, la as i32 - o));
                self.feats.ctx_reads += 1;
                bits = match (lsigned, lmask) {
                    (_, Some(m)) => {
                        f.b.emit(alu64(AluOp::And, x, Source::Imm(m)));
                        bits_of(m as u64)
                    }
                    (true, None) => 64,
                    (false, None) => ls * 8,
                };
            }
            f.set(x, Val::Scalar);
            x
        };
        // y: a copy (always of the length itself), or x itself
        let copy = src == 0 || self.rng.chance(2, 3);
        let y = if copy {
            let Some(y) = self.pick_dst(f, Val::Scalar, keep | bit(x)) else {
                return false;
            };
            f.b.emit(mov(y, x));
            f.set(y, Val::Scalar);
            y
        } else {
            x
        };
        let tr = self.transform(f, y, bits);
        f.set(y, Val::Scalar);
        let keep = keep | bit(x) | bit(y);
        let Some(t) = self.pick_dst(f, Val::Scalar, keep) else {
            return true;
        };
        let Some(q) = self.pick_dst(f, Val::Junk, keep | bit(t)) else {
            return true;
        };
        let w = if self.rng.chance(1, 3) { Width::W32 } else { Width::W64 };
        let fits = |b: Option<u32>| b.is_some_and(|b| b <= if w == Width::W32 { 31 } else { 62 });
        let alias_ok = tr.ident && tr.keeps;
        let e = a + n;
        let valid = if trail {
            // q = r1 + y - n: the last n bytes (before the c subtracted)
            f.b.emit(mov(q, p));
            f.b.emit(alu64(AluOp::Add, q, Source::Reg(y)));
            f.set(q, Val::Junk);
            let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(q);
            f.b.emit(ldx(size_of(n), d, q, -(n as i32) - o));
            f.set(d, Val::Input);
            self.feats.ctx_reads += 1;
            alias_ok
        } else {
            match self.rng.below(if src == 0 {
                2
            } else if copy {
                3
            } else {
                1
            }) {
                0 => {
                    // the transformed value checked and used
                    self.check_end(f, y, l, e, w, t);
                    self.access_via(f, p, o, y, a as i32, n, q);
                    fits(tr.out_bits)
                }
                1 if src == 0 => {
                    // the length judged by its transformed copy
                    let k = match self.fixed {
                        Some(s) => 1 + self.rng.below(s.max(1) as u64) as u32,
                        None => f.st.len_min + 1 + self.rng.below(24) as u32,
                    };
                    let n = n.min(k);
                    let a0 = self.rng.below((k - n + 1) as u64) as u32;
                    match self.rng.below(3) {
                        0 => f.b.branch(jmp(w, JmpCond::Lt, y, Source::Imm(k as i32)), f.out),
                        1 => f.b.branch(jmp(w, JmpCond::Le, y, Source::Imm(k as i32 - 1)), f.out),
                        _ => {
                            f.b.emit(movi(t, k as i32));
                            f.set(t, Val::Scalar);
                            f.b.branch(jmp(w, JmpCond::Gt, t, Source::Reg(y)), f.out);
                        }
                    }
                    f.out_used = true;
                    self.feats.len_checks += 1;
                    let covered = self.fixed.is_some_and(|s| a0 + n <= s);
                    let valid = covered || alias_ok;
                    if valid && var {
                        f.st.len_min = f.st.len_min.max(k);
                        f.st.len_hint = f.st.len_hint.max(k);
                    }
                    let d = self.pick_dst(f, Val::Scalar, 0).unwrap_or(t);
                    f.b.emit(ldx(size_of(n), d, p, a0 as i32 - o));
                    f.set(d, Val::Input);
                    self.feats.ctx_reads += 1;
                    valid
                }
                _ => {
                    // one checked, the other used
                    let (chk, used, b) = if self.rng.chance(1, 2) {
                        (y, x, Some(bits))
                    } else {
                        (x, y, tr.out_bits)
                    };
                    self.check_end(f, chk, l, e, w, t);
                    self.access_via(f, p, o, used, a as i32, n, q);
                    alias_ok && fits(Some(bits)) && fits(b)
                }
            }
        };
        if !valid {
            self.unproven += 1;
        }
        self.feats.transforms += 1;
        true
    }
}
