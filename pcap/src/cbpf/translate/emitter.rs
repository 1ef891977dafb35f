//! Emitting the eBPF: one classic instruction after another in the plan's order, with what is
//! known on entry to each (the length tested, what X holds) carried forwards.

use super::*;

/// What is known on entry to an instruction, on every path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct KnownOnEntry {
    /// `caplen >= checked_len` has been tested.
    checked_len: u64,
    /// Which definition of X is in `r6` (`None`: different ones on different paths).
    x_def: Option<usize>,
    /// `X + x_checked_len <= caplen` has been tested (for `x_def`).
    x_checked_len: u64,
    /// `r5 == r1 + X` (for `x_def`).
    x_pointer: bool,
    /// X is not 0 (for `x_def`).
    x_nonzero: bool,
}

impl KnownOnEntry {
    fn meet(self, o: KnownOnEntry) -> KnownOnEntry {
        let same = self.x_def.is_some() && self.x_def == o.x_def;
        KnownOnEntry {
            checked_len: self.checked_len.min(o.checked_len),
            x_def: if same { self.x_def } else { None },
            x_checked_len: if same { self.x_checked_len.min(o.x_checked_len) } else { 0 },
            x_pointer: same && self.x_pointer && o.x_pointer,
            x_nonzero: same && self.x_nonzero && o.x_nonzero,
        }
    }

    fn new_x(&mut self, id: usize, nonzero: bool) {
        self.x_def = Some(id);
        self.x_checked_len = 0;
        self.x_pointer = false;
        self.x_nonzero = nonzero;
    }
}

/// A jump destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Insn(usize),
    Ret0,
}

/// The eBPF being written, through a program builder whose origin of each instruction is the
/// classic instruction it came from (`None` for the prologue and the shared exit).
pub(super) struct Emitter<'a> {
    plan: &'a Plan,
    code: ProgramBuilder<Option<usize>>,
    /// The label of each classic instruction, bound where its code starts (if emitted).
    labels: Vec<Label>,
    /// The shared `r0 = 0; exit`.
    ret0: Label,
    ret0_used: bool,
}

fn alu32(op: AluOp, dst: Reg, src: Source) -> Insn {
    Insn::Alu { width: Width::W32, op, dst, src }
}

fn alu64(op: AluOp, dst: Reg, src: Source) -> Insn {
    Insn::Alu { width: Width::W64, op, dst, src }
}

fn imm(k: u32) -> Source {
    Source::Imm(k as i32)
}

impl<'a> Emitter<'a> {
    pub(super) fn new(plan: &'a Plan) -> Emitter<'a> {
        let mut code = ProgramBuilder::new();
        let labels = (0..plan.ops.len()).map(|_| code.label()).collect();
        let ret0 = code.label();
        Emitter { plan, code, labels, ret0, ret0_used: false }
    }

    fn push(&mut self, insn: Insn) {
        self.code.emit(insn);
    }

    /// The label of a jump destination.
    fn label(&mut self, t: Target) -> Label {
        match t {
            Target::Insn(i) => self.labels[i],
            Target::Ret0 => {
                self.ret0_used = true;
                self.ret0
            }
        }
    }

    /// `goto t`.
    fn ja(&mut self, t: Target) {
        let l = self.label(t);
        self.code.ja(l);
    }

    /// `if dst COND src goto t`.
    fn jcc(&mut self, width: Width, cond: JmpCond, dst: Reg, src: Source, t: Target) {
        let l = self.label(t);
        self.code.jump_if(width, cond, dst, src, l);
    }

    fn target(&self, s: usize) -> Target {
        if s < self.plan.zero.len() - 1 && !self.plan.zero[s] {
            Target::Insn(s)
        } else {
            Target::Ret0
        }
    }

    /// `end > caplen` (the end in `end`, 64-bit) returns 0.
    fn ret0_past_caplen(&mut self, end: Reg) {
        self.jcc(Width::W64, JmpCond::Gt, end, Source::Reg(CAPLEN), Target::Ret0);
    }

    /// `caplen < end` returns 0.
    fn len_test(&mut self, end: u64) {
        if end <= i32::MAX as u64 {
            self.jcc(Width::W64, JmpCond::Lt, CAPLEN, Source::Imm(end as i32), Target::Ret0);
        } else {
            self.push(alu32(AluOp::Mov, TMP, imm(end as u32)));
            self.ret0_past_caplen(TMP);
        }
    }

    /// `dst = ntoh(*(size *)(base + k))`.
    fn load(&mut self, size: Size, dst: Reg, base: Reg, k: u32) {
        if let Ok(off) = i16::try_from(k) {
            self.push(Insn::Load { size, signed: false, dst, base, off });
        } else {
            self.push(alu32(AluOp::Mov, TMP, imm(k)));
            self.push(alu64(AluOp::Add, TMP, Source::Reg(base)));
            self.push(Insn::Load { size, signed: false, dst, base: TMP, off: 0 });
        }
        let bits = match size {
            Size::H => SwapBits::B16,
            Size::W => SwapBits::B32,
            _ => return,
        };
        self.push(Insn::End { kind: Endian::Be, bits, dst });
    }

    fn prologue(&mut self) {
        let init = self.plan.init;
        if init & CELL_A != 0 {
            self.push(alu32(AluOp::Mov, A, Source::Imm(0)));
        }
        if init & CELL_X != 0 {
            self.push(alu32(AluOp::Mov, X, Source::Imm(0)));
        }
        let mut k = 0;
        while k < 16 {
            let want = |k: u32| init & cell_m(k) != 0;
            match self.plan.homes[k as usize] {
                Home::Reg(r) if want(k) => self.push(alu32(AluOp::Mov, r, Source::Imm(0))),
                Home::Stack(off) if want(k) => {
                    let pair = k % 2 == 0
                        && want(k + 1)
                        && matches!(self.plan.homes[k as usize + 1], Home::Stack(_));
                    self.push(Insn::Store {
                        size: if pair { Size::DW } else { Size::W },
                        base: Reg::R10,
                        off,
                        src: Source::Imm(0),
                    });
                    if pair {
                        k += 1;
                    }
                }
                _ => {}
            }
            k += 1;
        }
    }

    /// Copies scratch word M[k] into `reg` (`load`), or `reg` into M[k], wherever M[k] lives.
    fn scratch(&mut self, k: u32, reg: Reg, load: bool) {
        let insn = match (self.plan.homes[k as usize], load) {
            (Home::Reg(r), true) => alu32(AluOp::Mov, reg, Source::Reg(r)),
            (Home::Reg(r), false) => alu32(AluOp::Mov, r, Source::Reg(reg)),
            (Home::Stack(off), true) => {
                Insn::Load { size: Size::W, signed: false, dst: reg, base: Reg::R10, off }
            }
            (Home::Stack(off), false) => {
                Insn::Store { size: Size::W, base: Reg::R10, off, src: Source::Reg(reg) }
            }
        };
        self.push(insn);
    }

    /// Emits instruction `i` in state `s`; returns the state after it.
    fn insn(&mut self, i: usize, mut s: KnownOnEntry, next: Target) -> KnownOnEntry {
        let plan = self.plan;
        match plan.ops[i] {
            Op::RetK(k) => {
                self.push(alu32(AluOp::Mov, A, imm(k)));
                self.push(Insn::Exit);
            }
            Op::RetA => self.push(Insn::Exit),
            Op::Imm { x, k } => {
                self.push(alu32(AluOp::Mov, if x { X } else { A }, imm(k)));
                if x {
                    s.new_x(i, k != 0);
                }
            }
            Op::Len { x } => {
                self.push(alu32(AluOp::Mov, if x { X } else { A }, Source::Reg(WIRE)));
                if x {
                    s.new_x(i, false);
                }
            }
            Op::LdMem { x, k } => {
                self.scratch(k, if x { X } else { A }, true);
                if x {
                    s.new_x(i, false);
                }
            }
            Op::St { x, k } => {
                self.scratch(k, if x { X } else { A }, false);
            }
            Op::Abs { size, k } => {
                let end = k as u64 + size.bytes() as u64;
                if s.checked_len < end {
                    let t = plan.ant_fixed[i];
                    self.len_test(t);
                    s.checked_len = t;
                }
                self.load(size, A, PKT, k);
            }
            Op::Msh { k } => {
                if s.checked_len < k as u64 + 1 {
                    let t = plan.ant_fixed[i];
                    self.len_test(t);
                    s.checked_len = t;
                }
                self.load(Size::B, X, PKT, k);
                self.push(alu32(AluOp::And, X, Source::Imm(0xf)));
                self.push(alu32(AluOp::Lsh, X, Source::Imm(2)));
                s.new_x(i, false);
            }
            Op::Ind { size, k } => {
                let end = k as u64 + size.bytes() as u64;
                if s.x_def.is_none() || s.x_checked_len < end {
                    if s.x_def.is_none() {
                        // Paths with different X meet here: give X one symbol again.
                        self.push(alu32(AluOp::Mov, X, Source::Reg(X)));
                        s.new_x(plan.ops.len() + i, false);
                    }
                    let t = plan.ant_ind[i];
                    self.push(alu64(AluOp::Mov, TMP, Source::Reg(X)));
                    if t <= i32::MAX as u64 {
                        self.push(alu64(AluOp::Add, TMP, Source::Imm(t as i32)));
                    } else {
                        self.push(alu32(AluOp::Mov, XP, imm(t as u32)));
                        self.push(alu64(AluOp::Add, TMP, Source::Reg(XP)));
                        s.x_pointer = false;
                    }
                    self.ret0_past_caplen(TMP);
                    s.x_checked_len = t;
                }
                if !s.x_pointer {
                    self.push(alu64(AluOp::Mov, XP, Source::Reg(PKT)));
                    self.push(alu64(AluOp::Add, XP, Source::Reg(X)));
                    s.x_pointer = true;
                }
                self.load(size, A, XP, k);
            }
            Op::Tax => {
                self.push(alu32(AluOp::Mov, X, Source::Reg(A)));
                s.new_x(i, false);
            }
            Op::Txa => self.push(alu32(AluOp::Mov, A, Source::Reg(X))),
            Op::Neg => self.push(Insn::Neg { width: Width::W32, dst: A }),
            Op::Alu { op: o, x, k } => {
                let aop = match o {
                    op::ADD => AluOp::Add,
                    op::SUB => AluOp::Sub,
                    op::MUL => AluOp::Mul,
                    op::DIV => AluOp::Div,
                    op::MOD => AluOp::Mod,
                    op::OR => AluOp::Or,
                    op::AND => AluOp::And,
                    op::XOR => AluOp::Xor,
                    op::LSH => AluOp::Lsh,
                    _ => AluOp::Rsh,
                };
                let shift = matches!(aop, AluOp::Lsh | AluOp::Rsh);
                if !x {
                    if shift && k >= 32 {
                        self.push(alu32(AluOp::Mov, A, Source::Imm(0)));
                    } else {
                        self.push(alu32(aop, A, imm(k)));
                    }
                } else if shift {
                    // eBPF masks the count; cBPF (ours) gives 0 from 32 on.
                    self.push(alu32(aop, A, Source::Reg(X)));
                    self.push(Insn::Jump {
                        width: Width::W64,
                        cond: JmpCond::Lt,
                        dst: X,
                        src: Source::Imm(32),
                        off: 1,
                    });
                    self.push(alu32(AluOp::Mov, A, Source::Imm(0)));
                } else {
                    if matches!(aop, AluOp::Div | AluOp::Mod) && !s.x_nonzero {
                        self.jcc(Width::W64, JmpCond::Eq, X, Source::Imm(0), Target::Ret0);
                        s.x_nonzero = true;
                    }
                    self.push(alu32(aop, A, Source::Reg(X)));
                }
            }
            Op::Ja(t) => {
                let t = self.target(t);
                if t != next {
                    self.ja(t);
                }
            }
            Op::Jcc { op: o, x, k, t, f } => {
                let cond = match o {
                    op::JEQ => JmpCond::Eq,
                    op::JGT => JmpCond::Gt,
                    op::JGE => JmpCond::Ge,
                    _ => JmpCond::Set,
                };
                let (width, src) = if x {
                    (Width::W64, Source::Reg(X))
                } else if cond == JmpCond::Set || k <= i32::MAX as u32 {
                    // A is zero-extended: a 64-bit compare with a non-negative constant (or a
                    // bit test with the sign-extended one) is the 32-bit one.
                    (Width::W64, imm(k))
                } else {
                    (Width::W32, imm(k))
                };
                let (tt, ft) = (self.target(t), self.target(f));
                if tt == ft {
                    if tt != next {
                        self.ja(tt);
                    }
                } else if tt == next {
                    if cond == JmpCond::Set {
                        self.push(Insn::Jump { width, cond, dst: A, src, off: 1 });
                        self.ja(ft);
                    } else {
                        self.jcc(width, cond.negate(), A, src, ft);
                    }
                } else {
                    self.jcc(width, cond, A, src, tt);
                    if ft != next {
                        self.ja(ft);
                    }
                }
            }
        }
        s
    }

    /// Emits the whole program; the builder holds it, labels not yet resolved.
    pub(super) fn run(mut self) -> ProgramBuilder<Option<usize>> {
        let plan = self.plan;
        let n = plan.ops.len();
        self.prologue();
        let mut states: Vec<Option<KnownOnEntry>> = vec![None; n];
        if n > 0 && plan.live[0] {
            states[0] = Some(KnownOnEntry {
                checked_len: 0,
                x_def: Some(2 * n),
                x_checked_len: 0,
                x_pointer: false,
                x_nonzero: false,
            });
        }
        let live: Vec<usize> = (0..n).filter(|&i| plan.live[i]).collect();
        for (p, &i) in live.iter().enumerate() {
            let s = states[i].expect("a live instruction is reached");
            self.code.bind(self.labels[i]);
            self.code.set_origin(Some(i));
            let next = live.get(p + 1).map_or(Target::Ret0, |&j| Target::Insn(j));
            let out = self.insn(i, s, next);
            let (succ, count) = successors(&plan.ops[i], i);
            for &t in &succ[..count] {
                if let Target::Insn(t) = self.target(t) {
                    states[t] = Some(states[t].map_or(out, |e| e.meet(out)));
                }
            }
            // The last instruction may fall through into the shared exit.
            if next == Target::Ret0 && !matches!(plan.ops[i], Op::RetK(_) | Op::RetA) {
                self.ret0_used = true;
            }
        }
        self.code.set_origin(None);
        if self.ret0_used || live.is_empty() {
            self.code.bind(self.ret0);
            self.push(alu32(AluOp::Mov, A, Source::Imm(0)));
            self.push(Insn::Exit);
        }
        self.code
    }
}
