//! The abstract interpreter: walks each function's instructions in index order, joining the
//! states that reach an instruction before running it, unrolls each loop iteration by
//! iteration, and analyses each local call in its caller's state.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;

use udf_bytecode::insn::*;
use udf_bytecode::progtype::{HELPER_EMIT, ProgramType};
use udf_bytecode::semantics::extend_imm;
use udf_bytecode::{Insn, Program};

use crate::cfg::{Cfg, MAX_FRAMES};
use crate::error::{PathStep, Region, Rule};
use crate::scalar::Scalar;
use crate::state::{self, FRAME, Frame, Kind, LEN, State, Sym, Value};
use crate::{Access, Config, LoopFact, Plant, Recorded};

/// The most recent branch decisions of a path, oldest first once unrolled (a ring buffer:
/// copied with the state, never allocated).
#[derive(Clone, Copy, Debug, Default)]
pub struct PathRing {
    steps: [(u32, bool); PATH_STEPS],
    len: usize,
}

/// Branch decisions kept per state.
const PATH_STEPS: usize = 12;

impl PathRing {
    fn push(&mut self, index: usize, taken: bool) {
        self.steps[self.len % PATH_STEPS] = (index as u32, taken);
        self.len += 1;
    }

    fn steps(&self) -> Vec<PathStep> {
        let first = self.len.saturating_sub(PATH_STEPS);
        (first..self.len)
            .map(|k| {
                let (index, taken) = self.steps[k % PATH_STEPS];
                PathStep {
                    index: index as usize,
                    taken,
                }
            })
            .collect()
    }
}

/// A state plus the path that produced it.
#[derive(Clone, Debug)]
pub struct Flow {
    st: State,
    path: PathRing,
}

impl Flow {
    /// Joins `o` in; `at`: where control arrives (both states had its join symbols killed),
    /// `None` for joins that are no arrival (returns from a call).
    fn join(&mut self, o: Flow, conf: &Config, at: Option<usize>) {
        if conf.planted(Plant::JoinFactsMax)
            || conf.planted(Plant::JoinKeepsSymbol)
            || conf.planted(Plant::StackJoinUnion)
        {
            return self.planted_join(o, conf);
        }
        match at {
            Some(j) => self
                .st
                .join_at(&o.st, j, conf.planted(Plant::JoinSymbolStronger)),
            None => self.st.join_with(&o.st),
        }
    }

    /// The join with one of the planted join mistakes.
    fn planted_join(&mut self, o: Flow, conf: &Config) {
        let before = self.st.clone();
        self.st.join_with(&o.st);
        if conf.planted(Plant::JoinFactsMax) {
            for f in &mut self.st.facts {
                let a = before.fact(f.0).unwrap_or(f.1);
                let b = o.st.fact(f.0).unwrap_or(f.1);
                f.1 = a.max(b);
            }
        }
        if conf.planted(Plant::JoinKeepsSymbol) {
            for (r, b) in self.st.regs.iter_mut().zip(before.regs.iter()) {
                if r.kind != Kind::Uninit && r.sym.is_none() {
                    r.sym = b.sym;
                }
            }
        }
        if conf.planted(Plant::StackJoinUnion) {
            for (f, g) in self.st.frames.iter_mut().zip(before.frames.iter()) {
                let f = Rc::make_mut(f);
                for (w, x) in f.init.iter_mut().zip(g.init.iter()) {
                    *w |= x;
                }
            }
        }
    }
}

/// The positions with a pending state: a bit per position and a bit per word of them, so
/// the next one after a position is found in a few word reads however far it is.
struct Queue {
    words: Vec<u64>,
    summary: Vec<u64>,
}

impl Queue {
    fn new(n: usize) -> Queue {
        let w = n.div_ceil(64);
        Queue {
            words: vec![0; w],
            summary: vec![0; w.div_ceil(64)],
        }
    }

    fn insert(&mut self, p: usize) {
        if let Some(w) = self.words.get_mut(p / 64) {
            *w |= 1 << (p % 64);
            self.summary[p / 4096] |= 1 << ((p / 64) % 64);
        }
    }

    fn remove(&mut self, p: usize) {
        if let Some(w) = self.words.get_mut(p / 64) {
            *w &= !(1 << (p % 64));
            if *w == 0 {
                self.summary[p / 4096] &= !(1 << ((p / 64) % 64));
            }
        }
    }

    /// The first position in `[lo, hi)` with a state.
    fn next(&self, lo: usize, hi: usize) -> Option<usize> {
        if lo >= hi {
            return None;
        }
        let found = |p: usize| (p < hi).then_some(p);
        // The rest of `lo`'s word.
        let w = lo / 64;
        let bits = *self.words.get(w)? & (u64::MAX << (lo % 64));
        if bits != 0 {
            return found(w * 64 + bits.trailing_zeros() as usize);
        }
        // Then whole words, found through the summary.
        let mut sw = w + 1;
        while sw * 64 < hi {
            let s = sw / 64;
            let sbits = *self.summary.get(s)? & (u64::MAX << (sw % 64));
            if sbits != 0 {
                let word = s * 64 + sbits.trailing_zeros() as usize;
                let bits = self.words[word];
                return found(word * 64 + bits.trailing_zeros() as usize);
            }
            sw = (s + 1) * 64;
        }
        None
    }
}

/// A rejection: the instruction, the rule, and the registers involved with their values.
pub(crate) type Fail = (usize, Rule, Vec<(Reg, Value)>);
type R<T> = Result<T, Box<Fail>>;

/// A state the analysis believes impossible: refused as an internal error, never a panic.
fn internal<T>(i: usize, what: &'static str) -> R<T> {
    Err(Box::new((i, Rule::Internal { what }, Vec::new())))
}

fn rej<T>(st: &State, i: usize, rule: Rule, regs: &[Reg]) -> R<T> {
    let mut shown: Vec<(Reg, Value)> = Vec::new();
    for &r in regs {
        if shown.iter().all(|(x, _)| *x != r) {
            shown.push((r, st.regs[r.index()]));
        }
    }
    Err(Box::new((i, rule, shown)))
}

pub(crate) struct Analyzer<'a> {
    insns: &'a [Insn],
    cfg: &'a Cfg,
    conf: &'a Config,
    ty: ProgramType,
    pending: Vec<Option<Box<Flow>>>,
    /// The positions (in the order) whose instruction has a pending state: the walk skips
    /// straight to the next one, so an iteration costs what it analyses, not its loop's size.
    queued: Queue,
    back: Vec<Option<Flow>>,
    iteration: Vec<u64>,
    /// Loops being iterated now (back edges may only reach these).
    active: Vec<bool>,
    returns: Vec<Option<Flow>>,
    pub(crate) exit_count: u64,
    pub(crate) exit_emits: u64,
    pub(crate) visited: Vec<bool>,
    pub(crate) record: Option<Vec<Option<Recorded>>>,
    pub(crate) access: Vec<Access>,
    pub(crate) loop_facts: Vec<LoopFact>,
    pub(crate) stack_use: u32,
    pub(crate) max_depth: usize,
    /// Registers and path before the failing instruction, for the rejection report.
    pub(crate) failed: Option<PathRing>,
}

impl<'a> Analyzer<'a> {
    pub(crate) fn new(prog: &'a Program, cfg: &'a Cfg, conf: &'a Config) -> Analyzer<'a> {
        let n = prog.len();
        Analyzer {
            insns: prog.insns(),
            cfg,
            conf,
            ty: conf.ty,
            pending: vec![None; n],
            queued: Queue::new(cfg.order.len()),
            back: vec![None; cfg.loops.len()],
            iteration: vec![0; cfg.loops.len()],
            active: vec![false; cfg.loops.len()],
            returns: Vec::new(),
            exit_count: 0,
            exit_emits: 0,
            visited: vec![false; n],
            record: conf.record_states.then(|| vec![None; n]),
            access: vec![Access::None; n],
            loop_facts: cfg
                .loops
                .iter()
                .map(|l| LoopFact {
                    head: l.head,
                    tail: l.tail,
                    max_iterations: 0,
                })
                .collect(),
            stack_use: 0,
            max_depth: 1,
            failed: None,
        }
    }

    /// Leaves `flow` pending at instruction `i` (joined with what is there).
    fn put(&mut self, i: usize, flow: Flow) -> R<()> {
        let Some(p) = self.cfg.pos(i) else {
            return internal(i, "a state for an instruction outside the order");
        };
        match self.pending.get_mut(i) {
            Some(Some(s)) => s.join(flow, self.conf, Some(i)),
            Some(slot) => *slot = Some(Box::new(flow)),
            None => return internal(i, "an edge out of the program"),
        }
        self.queued.insert(p);
        Ok(())
    }

    /// Takes the state pending at instruction `i`.
    fn take(&mut self, i: usize) -> Option<Flow> {
        let f = self.pending.get_mut(i)?.take()?;
        if let Some(p) = self.cfg.pos(i) {
            self.queued.remove(p);
        }
        Some(*f)
    }

    /// Where a walk at position `p` with nothing falling through resumes for the next pending
    /// state at position `q`: `q`, or the head of the outermost loop starting at or after `p`
    /// that holds `q` (a state entering a loop elsewhere than at its head waits for its
    /// loop's first iteration).
    fn resume_at(&self, p: usize, q: usize) -> usize {
        let mut best = q;
        let mut k = self.cfg.inner(self.cfg.order[q] as usize);
        while let Some(kk) = k {
            match self.cfg.pos(self.cfg.loops[kk as usize].head) {
                Some(h) if h >= p => best = h,
                _ => break,
            }
            k = self.cfg.parent(kk);
        }
        best
    }

    pub(crate) fn run(&mut self, entry: State) -> R<()> {
        self.put(
            0,
            Flow {
                st: entry,
                path: PathRing::default(),
            },
        )?;
        let (lo, hi) = self.cfg.func_pos[0];
        self.function(lo as usize, hi as usize)
    }

    pub(crate) fn path_of(&self) -> Vec<PathStep> {
        self.failed.map(|p| p.steps()).unwrap_or_default()
    }

    /// Runs one function (positions `[lo, hi)` of the order) from the state pending at its
    /// first instruction. Every state sent inside it is consumed by the walk; one left over
    /// would be a path never analysed, so it is refused rather than trusted.
    fn function(&mut self, lo: usize, hi: usize) -> R<()> {
        self.seq(lo, hi, None)?;
        if let Some(q) = self.queued.next(lo, hi) {
            return internal(
                self.cfg.order[q] as usize,
                "a state the walk never consumed",
            );
        }
        Ok(())
    }

    /// Walks positions `[lo, hi)` of the order once (`skip_head`: the loop being iterated,
    /// whose head runs as a plain instruction).
    fn seq(&mut self, lo: usize, hi: usize, skip_head: Option<usize>) -> R<()> {
        let order = &self.cfg.order;
        let mut p = lo;
        // The state falling through from the previous position's instruction, when that is
        // the instruction before this one, kept out of `pending`.
        let mut carry: Option<Flow> = None;
        while p < hi {
            if carry.is_none() {
                let Some(q) = self.queued.next(p, hi) else {
                    break;
                };
                p = self.resume_at(p, q);
            }
            let i = order[p] as usize;
            if Some(p) != skip_head
                && let Some(end) = self.cfg.comp_end(p)
            {
                if let Some(c) = carry.take() {
                    self.flow(i - 1, i, c)?;
                }
                self.run_loop(p, end)?;
                p = end;
                continue;
            }
            // Arriving at `i` again: its join symbols named the last arrival.
            if let Some(c) = &mut carry {
                c.st.kill_join(i);
            }
            if let Some(q) = self.take(i) {
                match &mut carry {
                    Some(f) => f.join(q, self.conf, Some(i)),
                    None => carry = Some(q),
                }
            }
            if carry.is_some() {
                self.step(i, &mut carry)?;
            }
            if let Some(c) = carry.take() {
                // Falls through to `i + 1`.
                let next = order.get(p + 1).map(|&x| x as usize);
                if p + 1 < hi && next == Some(i + 1) {
                    carry = Some(c);
                } else {
                    self.flow(i, i + 1, c)?;
                }
            }
            p += 1;
        }
        Ok(())
    }

    /// Runs the loop whose head is at position `p` (its component ends before `end`)
    /// iteration by iteration: iteration `k + 1` starts from the join of the states iteration
    /// `k` sent back to the head, until none is sent. States entering elsewhere than at the
    /// head (irreducible flow) are pending inside before the first iteration runs.
    fn run_loop(&mut self, p: usize, end: usize) -> R<()> {
        let head = self.cfg.order[p] as usize;
        let Some(k) = self.cfg.loop_at(head).map(|k| k as usize) else {
            return internal(head, "a loop without a head");
        };
        // Each iteration names what it starts with after the head, so a value the body updates
        // in place keeps a name the update does not kill; what no longer names anything is
        // dropped, so that a repeating loop repeats its entry state exactly.
        let name = |mut f: Flow| {
            f.st.name_at(head);
            f.st.drop_unheld();
            f
        };
        let mut entry = self.take(head).map(name);
        let side = self.queued.next(p + 1, end).is_some();
        if entry.is_none() && !side {
            return Ok(());
        }
        let mut iter = 0u64;
        loop {
            self.iteration[k] = iter;
            let before = entry.as_ref().map(|f| f.st.clone());
            self.back[k] = None;
            if let Some(f) = entry {
                self.pending[head] = Some(Box::new(f));
                self.queued.insert(p);
            }
            self.active[k] = true;
            let r = self.seq(p, end, Some(p));
            self.active[k] = false;
            r?;
            iter += 1;
            entry = self.back[k].take().map(name);
            let Some(next) = &entry else { break };
            if let Some(before) = &before
                && next.st.same_as(before)
            {
                let l = self.cfg.loops[k];
                return rej(
                    before,
                    l.tail,
                    Rule::NoLoopBound {
                        head: l.head,
                        tail: l.tail,
                        iterations: iter,
                    },
                    &[],
                );
            }
        }
        let fact = &mut self.loop_facts[k];
        fact.max_iterations = fact.max_iterations.max(iter);
        Ok(())
    }

    /// What arriving at `to` does to the names of a state: `to`'s join symbols name the
    /// previous arrival (at a loop head, those whose register still holds them stay).
    fn arrive(&self, st: &mut State, to: usize) {
        if self.cfg.loop_at(to).is_some() {
            if !self.conf.planted(Plant::HeadKeepsNames) {
                st.arrive_at_head(to);
            }
        } else {
            st.kill_join(to);
        }
    }

    /// Sends `flow` along the edge `from -> to`.
    fn flow(&mut self, from: usize, to: usize, mut flow: Flow) -> R<()> {
        self.arrive(&mut flow.st, to);
        let (Some(pf), Some(pt)) = (self.cfg.pos(from), self.cfg.pos(to)) else {
            return internal(from, "an edge to an instruction outside the order");
        };
        if pt <= pf {
            // A back edge: only to the head of a loop being iterated around it.
            let Some(k) = self.cfg.loop_at(to).filter(|&k| self.active[k as usize]) else {
                return internal(from, "a backward edge to no loop head around it");
            };
            match &mut self.back[k as usize] {
                None => self.back[k as usize] = Some(flow),
                Some(s) => s.join(flow, self.conf, Some(to)),
            }
        } else {
            self.put(to, flow)?;
        }
        Ok(())
    }

    /// A run may end in state `st`: its counts bound the program's.
    fn path_ends(&mut self, st: &State) {
        self.exit_count = self.exit_count.max(st.count);
        self.exit_emits = self.exit_emits.max(st.emits);
    }

    fn branch_path(flow: &mut Flow, index: usize, taken: bool) {
        flow.path.push(index, taken);
    }

    /// Runs instruction `i` on the state in `slot`; what is left there falls through to `i + 1`.
    fn step(&mut self, i: usize, slot: &mut Option<Flow>) -> R<()> {
        self.visited[i] = true;
        let Some(flow) = slot.as_mut() else {
            return Ok(());
        };
        // A context load: what the facts imply is made explicit before the state is recorded,
        // so the checking interpreter checks it at this very instruction on every run: the
        // best bound on the address's symbol a sum gives, and the least length the facts
        // imply (`x <= len`, then `x >= 4`).
        if let Insn::Load { base, .. } = self.insns[i]
            && let Some(v) = flow.st.regs.get(base.index())
            && v.kind == Kind::Ctx
        {
            if let Some((s, _)) = v.sym
                && s != LEN
                && !flow.st.sums.is_empty()
                && let Some(k) = flow
                    .st
                    .derived_fact(s, self.conf.planted(Plant::SumUsesGreatest))
                && flow.st.fact(s).is_none_or(|f| f < k)
            {
                flow.st.add_fact(s, k);
            }
            if !flow.st.facts.is_empty() && flow.st.relational() {
                flow.st.len_min = flow.st.len_floor();
            }
        }
        if let Some(rec) = &mut self.record {
            // What holds before `i` runs: symbol `i` (about to die) is recorded as it is; the
            // checker compares with the value `i` produced the last time it ran.
            let now = Recorded {
                regs: flow.st.regs,
                facts: flow.st.facts.clone(),
                sums: flow.st.sums.clone(),
                len_min: flow.st.len_min,
                len_max: flow.st.len_max,
            };
            match &mut rec[i] {
                None => rec[i] = Some(now),
                Some(old) => old.join_with(&now),
            }
        }
        let path = flow.path;
        flow.st.count += 1;
        if flow.st.count > self.conf.budget {
            let in_loop = self.cfg.inner(i).map(|k| {
                let l = self.cfg.loops[k as usize];
                (l.head, l.tail, self.iteration[k as usize])
            });
            self.failed = Some(path);
            return rej(
                &flow.st,
                i,
                Rule::BudgetExceeded {
                    budget: self.conf.budget,
                    in_loop,
                },
                &[],
            );
        }
        let r = self.transfer(i, slot);
        if r.is_err() && self.failed.is_none() {
            self.failed = Some(path);
        }
        r
    }

    fn read(st: &State, i: usize, r: Reg) -> R<Value> {
        let v = st.regs[r.index()];
        if v.kind == Kind::Uninit {
            return rej(st, i, Rule::UninitRead { reg: r }, &[r]);
        }
        Ok(v)
    }

    /// Symbol `i` was killed when instruction `i` began (`transfer`).
    fn set_scalar(st: &mut State, i: usize, dst: Reg, n: Scalar, sym: Option<(Sym, i64)>) {
        st.syms_below = st.syms_below.max(i as Sym + 1);
        st.regs[dst.index()] = Value {
            kind: Kind::Scalar,
            n,
            sym: match sym {
                Some((s, o)) if s != i as Sym => Some((s, o)),
                _ => Some((i as Sym, 0)),
            },
        };
    }

    fn transfer(&mut self, i: usize, slot: &mut Option<Flow>) -> R<()> {
        let insn = self.insns[i];
        let Some(flow) = slot.as_mut() else {
            return Ok(());
        };
        let st = &mut flow.st;
        // What `lsh r, 32` just before left (for this instruction only).
        let shl32 = st.shl32.take();
        // Symbol `i` names the value this instruction produced the last time it ran: it dies
        // now, whatever this run produces (a pointer, a copy, nothing). A load first uses what
        // is known before it runs (its address may be `v{i} + c`: a walk that reads its next
        // offset from the byte the same load read the last time round), then kills it.
        if !matches!(insn, Insn::Load { .. }) && st.may_hold(i as Sym) {
            st.kill_insn(i);
        }
        match insn {
            Insn::Alu {
                width,
                op,
                dst,
                src,
            } => {
                let (b, b_reg) = match src {
                    Source::Reg(r) => (Self::read(st, i, r)?, Some(r)),
                    Source::Imm(k) => (Value::scalar(Scalar::constant(extend_imm(width, k))), None),
                };
                let regs = [dst, b_reg.unwrap_or(dst)];
                if matches!(op, AluOp::Mov) && width == Width::W64 {
                    st.regs[dst.index()] = b;
                } else if op.is_movsx() || op == AluOp::Mov {
                    if b.is_pointer() {
                        return rej(
                            st,
                            i,
                            Rule::PointerArithmetic {
                                what: "a pointer may only be copied whole (64-bit mov)",
                            },
                            &regs,
                        );
                    }
                    let n = b.n.alu(op, width, &b.n);
                    // The symbol survives only where the move is the identity on every value
                    // `b` may hold (an equal abstract value is not enough).
                    let sym = if move_is_identity(op, width, &b.n)
                        || self.conf.planted(Plant::NarrowMoveKeepsSymbol)
                    {
                        b.sym
                    } else {
                        None
                    };
                    Self::set_scalar(st, i, dst, n, sym);
                } else {
                    let a = Self::read(st, i, dst)?;
                    self.alu(st, i, width, op, dst, a, b, &regs)?;
                    // `lsh r, 32` then `arsh r, 32` (`rsh r, 32`) sign- (zero-) extends the low
                    // 32 bits: where that is the identity on the value before the shift, the
                    // result is that value, its symbol included.
                    let k = b.n.as_const();
                    let k32 = k == Some(32) && width == Width::W64;
                    if k32 && op == AluOp::Lsh && a.kind == Kind::Scalar {
                        st.shl32 = Some(Box::new((dst.index() as u8, a)));
                    } else if k32
                        && matches!(op, AluOp::Arsh | AluOp::Rsh)
                        && let Some(&(r, v)) = shl32.as_deref()
                        && r as usize == dst.index()
                    {
                        let (ext, w) = if op == AluOp::Arsh {
                            (AluOp::MovSx32, Width::W64)
                        } else {
                            (AluOp::Mov, Width::W32)
                        };
                        if move_is_identity(ext, w, &v.n) {
                            let n = st.regs[dst.index()].n.meet(&v.n).unwrap_or(v.n);
                            Self::set_scalar(st, i, dst, n, v.sym);
                        }
                    }
                }
            }
            Insn::Neg { width, dst } => {
                let a = Self::read(st, i, dst)?;
                if a.is_pointer() {
                    return rej(
                        st,
                        i,
                        Rule::PointerArithmetic {
                            what: "negating a pointer",
                        },
                        &[dst],
                    );
                }
                Self::set_scalar(st, i, dst, a.n.neg(width), None);
            }
            Insn::End { kind, bits, dst } => {
                let a = Self::read(st, i, dst)?;
                if a.is_pointer() {
                    return rej(
                        st,
                        i,
                        Rule::PointerArithmetic {
                            what: "byte swap of a pointer",
                        },
                        &[dst],
                    );
                }
                let n = a.n.endian(kind, bits);
                // Only `le` of a value that already fits its width leaves it unchanged; a
                // swap changes the value even where the abstract value looks the same.
                let sym = if swap_is_identity(kind, bits, &a.n)
                    || self.conf.planted(Plant::SwapKeepsSymbol)
                {
                    a.sym
                } else {
                    None
                };
                Self::set_scalar(st, i, dst, n, sym);
            }
            Insn::LoadImm64 { dst, imm } => {
                Self::set_scalar(st, i, dst, Scalar::constant(imm), None);
            }
            Insn::LoadPseudo { .. } | Insn::CallKfunc { .. } => {
                // Refused by the structural checks before the analysis starts.
                return rej(
                    st,
                    i,
                    Rule::Structure(udf_bytecode::CheckErrorKind::Unsupported {
                        what: "map, variable, code or kfunc references",
                    }),
                    &[],
                );
            }
            Insn::Load {
                size,
                signed,
                dst,
                base,
                off,
            } => {
                let p = Self::read(st, i, base)?;
                let n = size.bytes();
                self.note_access(i, p.kind);
                let v = match p.kind {
                    Kind::Ctx => {
                        self.check_ctx(st, i, base, &p, off, n)?;
                        Ok(if signed {
                            Scalar::signed_bits(8 * n as u32)
                        } else {
                            Scalar::unsigned_bits(8 * n as u32)
                        })
                    }
                    Kind::Stack { frame } if frame as usize >= st.frames.len() => {
                        return rej(st, i, Rule::NotAPointer { reg: base }, &[base]);
                    }
                    Kind::Stack { frame } => {
                        match self.stack_read(st, i, base, frame, &p.n, off, n, signed)? {
                            Ok(whole) => Err(whole),
                            Err(n) => Ok(n),
                        }
                    }
                    _ => return rej(st, i, Rule::NotAPointer { reg: base }, &[base]),
                };
                if st.may_hold(i as Sym) {
                    st.kill_insn(i);
                }
                match v {
                    Ok(n) => Self::set_scalar(st, i, dst, n, None),
                    // A value spilled whole comes back as it was, its symbol included unless
                    // that is the one just killed.
                    Err(mut whole) => {
                        if matches!(whole.sym, Some((s, _)) if s == i as Sym) {
                            whole.sym = None;
                        }
                        if whole.kind == Kind::Scalar {
                            Self::set_scalar(st, i, dst, whole.n, whole.sym);
                        } else {
                            st.regs[dst.index()] = whole;
                        }
                    }
                }
            }
            Insn::Store {
                size,
                base,
                off,
                src,
            } => {
                let p = Self::read(st, i, base)?;
                let (v, regs) = match src {
                    Source::Reg(r) => (Self::read(st, i, r)?, [base, r]),
                    Source::Imm(k) => (
                        Value::scalar(Scalar::constant(k as i64 as u64)),
                        [base, base],
                    ),
                };
                self.note_access(i, p.kind);
                match p.kind {
                    Kind::Ctx => return rej(st, i, Rule::ReadOnly, &regs),
                    Kind::Stack { frame } if frame as usize >= st.frames.len() => {
                        return rej(st, i, Rule::NotAPointer { reg: base }, &[base]);
                    }
                    Kind::Stack { frame } => {
                        self.stack_write(st, i, &regs, frame, &p.n, off, size.bytes(), v)?
                    }
                    _ => return rej(st, i, Rule::NotAPointer { reg: base }, &regs),
                }
            }
            Insn::Atomic {
                size,
                op,
                fetch,
                base,
                off,
                src,
            } => {
                let p = Self::read(st, i, base)?;
                let v = Self::read(st, i, src)?;
                let regs = [base, src];
                if v.is_pointer() {
                    return rej(
                        st,
                        i,
                        Rule::PointerLeak {
                            to: "into memory through an atomic operation",
                        },
                        &regs,
                    );
                }
                let n = size.bytes();
                self.note_access(i, p.kind);
                let old = match p.kind {
                    Kind::Ctx => return rej(st, i, Rule::ReadOnly, &regs),
                    Kind::Stack { frame } if frame as usize >= st.frames.len() => {
                        return rej(st, i, Rule::NotAPointer { reg: base }, &[base]);
                    }
                    Kind::Stack { frame } => {
                        // The old value must be a readable number; what the slot holds is
                        // what a fetch returns.
                        let (old, old_sym) =
                            match self.stack_read(st, i, base, frame, &p.n, off, n, false)? {
                                Ok(w) if w.is_pointer() => {
                                    return rej(st, i, Rule::PartialPointer, &regs);
                                }
                                Ok(w) => (w.n, w.sym),
                                Err(x) => (x, None),
                            };
                        if op == AtomicOp::CmpXchg {
                            let r0 = Self::read(st, i, Reg::R0)?;
                            if r0.is_pointer() {
                                return rej(st, i, Rule::PointerCompare, &[Reg::R0]);
                            }
                        }
                        // The value stored: the operation on the old value at the access
                        // width (`cmpxchg` stores either).
                        let w = if n == 8 { Width::W64 } else { Width::W32 };
                        let new = match op {
                            AtomicOp::Add => old.alu(AluOp::Add, w, &v.n),
                            AtomicOp::Or => old.alu(AluOp::Or, w, &v.n),
                            AtomicOp::And => old.alu(AluOp::And, w, &v.n),
                            AtomicOp::Xor => old.alu(AluOp::Xor, w, &v.n),
                            AtomicOp::Xchg => v.n.alu(AluOp::Mov, w, &v.n),
                            AtomicOp::CmpXchg => old.join(&v.n.alu(AluOp::Mov, w, &v.n)),
                        };
                        // The engines' atomics come only in 4 and 8 bytes; keep the width's
                        // bits whatever the size.
                        let new = if n < 4 {
                            Scalar::unsigned_bits(8 * n as u32)
                        } else {
                            new
                        };
                        self.stack_write(st, i, &regs, frame, &p.n, off, n, Value::scalar(new))?;
                        (old, old_sym)
                    }
                    _ => return rej(st, i, Rule::NotAPointer { reg: base }, &regs),
                };
                let (old, old_sym) = old;
                if op == AtomicOp::CmpXchg {
                    Self::set_scalar(st, i, Reg::R0, old, old_sym);
                } else if fetch || op.always_fetches() {
                    Self::set_scalar(st, i, src, old, old_sym);
                }
            }
            Insn::LoadAbs { size, .. } | Insn::LoadInd { size, .. } => {
                if let Insn::LoadInd { src, .. } = insn {
                    let x = Self::read(st, i, src)?;
                    if x.is_pointer() {
                        return rej(
                            st,
                            i,
                            Rule::PointerArithmetic {
                                what: "a pointer as LD_IND index",
                            },
                            &[src],
                        );
                    }
                }
                // Out of bounds, the program ends here returning 0.
                self.path_ends(st);
                Self::set_scalar(
                    st,
                    i,
                    Reg::R0,
                    Scalar::unsigned_bits(8 * size.bytes() as u32),
                    None,
                );
            }
            Insn::Ja { .. } | Insn::Ja32 { .. } => {
                let Some(t) = self.cfg.target(i) else {
                    return internal(i, "a jump without a target");
                };
                if let Some(f) = slot.take() {
                    self.flow(i, t, f)?;
                }
                return Ok(());
            }
            Insn::Jump {
                width,
                cond,
                dst,
                src,
                ..
            } => return self.jump(i, slot, width, cond, dst, src),
            Insn::Call { imm } => self.helper_call(st, i, imm)?,
            Insn::CallReg { reg } => {
                let v = Self::read(st, i, reg)?;
                match (v.kind, v.n.as_const()) {
                    (Kind::Scalar, Some(id))
                        if u32::try_from(id).is_ok_and(|id| self.ty.helper(id).is_some()) =>
                    {
                        self.helper_call(st, i, id as i32)?
                    }
                    _ => return rej(st, i, Rule::CallxUnknown, &[reg]),
                }
            }
            Insn::CallLocal { .. } => return self.local_call(i, slot),
            Insn::Exit => return self.exit(i, slot),
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn alu(
        &self,
        st: &mut State,
        i: usize,
        width: Width,
        op: AluOp,
        dst: Reg,
        a: Value,
        b: Value,
        regs: &[Reg],
    ) -> R<()> {
        if self.conf.reject_division_by_zero
            && matches!(op, AluOp::Div | AluOp::Mod | AluOp::SDiv | AluOp::SMod)
            && b.kind == Kind::Scalar
            && b.n.alu(AluOp::Mov, width, &b.n).contains(0)
        {
            return rej(st, i, Rule::DivisionByZero, regs);
        }
        match (a.is_pointer(), b.is_pointer()) {
            (false, false) => {
                let n = a.n.alu(op, width, &b.n);
                let n = if self.conf.planted(Plant::AndBelowMin)
                    && op == AluOp::And
                    && width == Width::W64
                {
                    Scalar::urange(0, b.n.umin).meet(&n).unwrap_or(n)
                } else {
                    n
                };
                let sym = match (width, op, a.sym, b.n.as_const()) {
                    (Width::W64, AluOp::Add, Some(s), Some(c))
                        if self.conf.planted(Plant::AddSymbolWraps) =>
                    {
                        Some((s.0, s.1.wrapping_add(c as i64)))
                    }
                    (Width::W64, AluOp::Sub, Some(s), Some(c))
                        if self.conf.planted(Plant::SubSymbolSign) =>
                    {
                        shift(&a, s, c as i64)
                    }
                    (Width::W32, AluOp::Add, Some(s), Some(c))
                        if self.conf.planted(Plant::Add32Unchecked) =>
                    {
                        Some((s.0, s.1.wrapping_add(c as u32 as i32 as i64)))
                    }
                    _ => scalar_sym(width, op, &a, &b),
                };
                Self::set_scalar(st, i, dst, n, sym);
                // The sum of two named numbers, where it cannot wrap: remembered.
                if let (None, Width::W64, AluOp::Add, Some((sa, oa)), Some((sb, ob))) =
                    (sym, width, op, a.sym, b.sym)
                    && a.n.as_const().is_none()
                    && b.n.as_const().is_none()
                    && a.n.umax.checked_add(b.n.umax).is_some()
                    && let Some(c) = oa.checked_add(ob)
                    && st.relational()
                {
                    st.add_sum((i as Sym, sa, sb, c));
                }
            }
            (true, false) if width == Width::W64 && matches!(op, AluOp::Add | AluOp::Sub) => {
                let n = a.n.alu(op, width, &b.n);
                let sym = ptr_sym(&a, &b, op).or_else(|| ptr_sum(st, i, &a, &b, op));
                st.regs[dst.index()] = Value {
                    kind: a.kind,
                    n,
                    sym,
                };
            }
            (false, true) if width == Width::W64 && op == AluOp::Add => {
                let n = a.n.alu(op, width, &b.n);
                let sym = ptr_sym(&b, &a, op).or_else(|| ptr_sum(st, i, &b, &a, op));
                st.regs[dst.index()] = Value {
                    kind: b.kind,
                    n,
                    sym,
                };
            }
            (true, true) if width == Width::W64 && op == AluOp::Sub && a.kind == b.kind => {
                let n = a.n.alu(op, width, &b.n);
                Self::set_scalar(st, i, dst, n, None);
            }
            _ => {
                return rej(
                    st,
                    i,
                    Rule::PointerArithmetic {
                        what: "only 64-bit pointer + number, pointer - number and the difference of two pointers into the same region",
                    },
                    regs,
                );
            }
        }
        Ok(())
    }

    /// Records the region a memory instruction's base points into (rejected kinds are never
    /// part of accepted facts).
    fn note_access(&mut self, i: usize, kind: Kind) {
        let a = match kind {
            Kind::Ctx => Access::Ctx,
            Kind::Stack { .. } => Access::Stack,
            _ => return,
        };
        self.access[i] = self.access[i].with(a);
    }

    fn check_ctx(&self, st: &State, i: usize, base: Reg, p: &Value, off: i16, n: usize) -> R<()> {
        let lo = p.n.smin as i128 + off as i128;
        let hi = p.n.smax as i128 + off as i128 + n as i128;
        // The access ends at `sym + end` when the offset is `sym + c`.
        let relational = p.sym.is_some_and(|(s, c)| {
            let end = c as i128 + off as i128 + n as i128;
            if s == LEN {
                end <= 0
            } else {
                st.fact(s).is_some_and(|k| end <= k as i128)
            }
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
            Rule::OutOfBounds {
                region: Region::Ctx,
                lo,
                hi,
                len: st.len_min as i128,
                relative,
            },
            &[base],
        )
    }

    /// Byte range `[lo, hi)` of the access in the frame (0 = lowest byte), or a rejection.
    fn stack_range(
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
    fn stack_read(
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
            && let Some(v) = fr.spill((lo / 8) as u8)
        {
            return Ok(Ok(*v));
        }
        for (slot, v) in &fr.spills {
            let s = *slot as usize * 8;
            if s < hi && lo < s + 8 && v.is_pointer() {
                return rej(st, i, Rule::PartialPointer, &[base]);
            }
        }
        if !fr.all_init(lo, hi) {
            return rej(
                st,
                i,
                Rule::UninitStack {
                    lo: lo as i64 - FRAME as i64,
                    hi: hi as i64 - FRAME as i64,
                },
                &[base],
            );
        }
        // A known constant spilled whole: its bytes are known.
        if exact
            && let Some(v) = fr.spill((lo / 8) as u8)
            && hi <= (lo / 8) * 8 + 8
            && let Some(c) = v.n.as_const()
        {
            let shift = (lo % 8) * 8;
            let bits = 8 * n as u32;
            let raw = c >> shift;
            let raw = if bits == 64 {
                raw
            } else {
                raw & ((1u64 << bits) - 1)
            };
            let val = if signed && bits < 64 {
                ((raw << (64 - bits)) as i64 >> (64 - bits)) as u64
            } else {
                raw
            };
            return Ok(Err(Scalar::constant(val)));
        }
        let bits = 8 * n as u32;
        Ok(Err(if signed {
            Scalar::signed_bits(bits)
        } else {
            Scalar::unsigned_bits(bits)
        }))
    }

    #[allow(clippy::too_many_arguments)]
    fn stack_write(
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
            if matches!(v.kind, Kind::Stack { frame: f } if f as usize + 1 > st.frames.len()) {
                return rej(
                    st,
                    i,
                    Rule::PointerLeak {
                        to: "to a dead frame",
                    },
                    regs,
                );
            }
        }
        let fr = Rc::make_mut(&mut st.frames[frame as usize]);
        fr.clobber(lo, hi);
        if !exact && self.conf.planted(Plant::StackInexactInit) {
            fr.set_init(lo, lo + n, true);
        }
        if exact {
            fr.set_init(lo, hi, true);
            if n == 8 && lo % 8 == 0 {
                fr.put_spill((lo / 8) as u8, v);
            }
        }
        Ok(())
    }

    fn helper_call(&mut self, st: &mut State, i: usize, id: i32) -> R<()> {
        let spec = u32::try_from(id)
            .ok()
            .and_then(|id| self.ty.helper(id))
            .ok_or((
                i,
                Rule::Structure(udf_bytecode::CheckErrorKind::UnknownHelper { id }),
                Vec::new(),
            ))?;
        let mut args = [Scalar::TOP; 5];
        for (k, _) in spec.args.iter().enumerate() {
            let Some(r) = Reg::new(k as u8 + 1) else {
                return internal(i, "a helper with more than five arguments");
            };
            let v = Self::read(st, i, r)?;
            if v.kind != Kind::Scalar {
                return rej(
                    st,
                    i,
                    Rule::HelperArg {
                        reg: r,
                        need: "a number, not a pointer",
                    },
                    &[r],
                );
            }
            args[k] = v.n;
        }
        if spec.id == HELPER_EMIT.id {
            if args[2].umax > u32::MAX as u64 {
                return rej(
                    st,
                    i,
                    Rule::HelperArg {
                        reg: Reg::R3,
                        need: "an extent kind that fits in 32 bits",
                    },
                    &[Reg::R3],
                );
            }
            if args[0].umax.checked_add(args[1].umax).is_none() {
                return rej(
                    st,
                    i,
                    Rule::HelperArg {
                        reg: Reg::R2,
                        need: "a count whose sum with the start (r1) cannot overflow 64 bits",
                    },
                    &[Reg::R1, Reg::R2],
                );
            }
            st.emits += 1;
        }
        // The helper may end the run (it stops or fails): an exit path.
        self.path_ends(st);
        for r in 1..=5 {
            st.regs[r] = Value::UNINIT;
        }
        Self::set_scalar(st, i, Reg::R0, Scalar::TOP, None);
        Ok(())
    }

    fn local_call(&mut self, i: usize, slot: &mut Option<Flow>) -> R<()> {
        let Some(flow) = slot.take() else {
            return Ok(());
        };
        let Some((f, (lo, hi))) = self.cfg.target(i).and_then(|t| self.cfg.func_at(t)) else {
            return internal(i, "a local call to no function");
        };
        let depth = flow.st.frames.len();
        if depth >= MAX_FRAMES {
            return rej(
                &flow.st,
                i,
                Rule::CallDepth {
                    depth: depth + 1,
                    max: MAX_FRAMES,
                },
                &[],
            );
        }
        self.max_depth = self.max_depth.max(depth + 1);
        let caller = flow.st.regs;
        let mut callee = flow;
        Self::branch_path(&mut callee, i, true);
        callee.st.frames.push(Rc::new(Frame {
            saved: [caller[6], caller[7], caller[8], caller[9]],
            ..Frame::default()
        }));
        for r in [0, 6, 7, 8, 9] {
            callee.st.regs[r] = Value::UNINIT;
        }
        callee.st.regs[10] = Value {
            kind: Kind::Stack { frame: depth as u8 },
            n: Scalar::constant(0),
            sym: None,
        };
        self.returns.push(None);
        self.arrive(&mut callee.st, f.start);
        if self.pending[f.start].is_some() {
            return internal(i, "a call into a function already being analysed");
        }
        self.put(f.start, callee)?;
        self.function(lo as usize, hi as usize)?;
        let Some(mut ret) = self.returns.pop().flatten() else {
            return Ok(());
        };
        // The callee-saved registers come back as they are now (a symbol the callee
        // redefined has died in them), not as they were at the call.
        let Some(frame) = ret.st.frames.pop() else {
            return internal(i, "a return without a frame");
        };
        for r in 1..=5 {
            ret.st.regs[r] = Value::UNINIT;
        }
        ret.st.regs[6..=9].copy_from_slice(&frame.saved);
        if self.conf.planted(Plant::StaleCalleeSaved) {
            ret.st.regs[6..=9].copy_from_slice(&caller[6..=9]);
        }
        ret.st.regs[10] = caller[10];
        *slot = Some(ret);
        Ok(())
    }

    fn exit(&mut self, i: usize, slot: &mut Option<Flow>) -> R<()> {
        let Some(mut flow) = slot.take() else {
            return Ok(());
        };
        let depth = flow.st.frames.len();
        let r0 = flow.st.regs[0];
        if depth > 1 {
            // A subprogram's `r0` needs a value only where its caller reads it: an unset one
            // comes back unset, and reading it there is the error.
            if r0.kind
                == (Kind::Stack {
                    frame: depth as u8 - 1,
                })
            {
                return rej(
                    &flow.st,
                    i,
                    Rule::PointerLeak {
                        to: "out of its frame (r0 points into the returning function's stack)",
                    },
                    &[Reg::R0],
                );
            }
            // Pointers into the dying frame left in callers' spills become unreadable.
            let dying = depth as u8 - 1;
            for fr in &mut flow.st.frames[..depth - 1] {
                if !fr
                    .spills
                    .iter()
                    .any(|(_, v)| v.kind == Kind::Stack { frame: dying })
                {
                    continue;
                }
                let fr = Rc::make_mut(fr);
                let slots: Vec<u8> = fr
                    .spills
                    .iter()
                    .filter(|(_, v)| v.kind == Kind::Stack { frame: dying })
                    .map(|(s, _)| *s)
                    .collect();
                for s in slots {
                    let b = s as usize * 8;
                    fr.clobber(b, b + 8);
                }
            }
            let Some(slot) = self.returns.last_mut() else {
                return internal(i, "a return outside a call");
            };
            match slot {
                None => *slot = Some(flow),
                Some(s) => s.join(flow, self.conf, None),
            }
            return Ok(());
        }
        if !self.conf.fragment_exits.contains(&i) {
            match r0.kind {
                Kind::Uninit => {
                    return rej(&flow.st, i, Rule::UninitRead { reg: Reg::R0 }, &[Reg::R0]);
                }
                Kind::Scalar => {}
                _ => {
                    return rej(
                        &flow.st,
                        i,
                        Rule::PointerLeak {
                            to: "as the result (r0 is a pointer)",
                        },
                        &[Reg::R0],
                    );
                }
            }
        }
        self.path_ends(&flow.st);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    #[allow(clippy::too_many_arguments)]
    fn jump(
        &mut self,
        i: usize,
        slot: &mut Option<Flow>,
        width: Width,
        cond: JmpCond,
        dst: Reg,
        src: Source,
    ) -> R<()> {
        let Some(flow) = slot.as_mut() else {
            return Ok(());
        };
        // A number compared with no name gets one here: symbol `i` names the value `dst`
        // holds after this jump (what [`crate::defines`] says), so what the comparison says
        // about it reaches every copy made after, and the accesses through them.
        if let Some(v) = flow.st.regs.get_mut(dst.index())
            && v.kind == Kind::Scalar
            && v.sym.is_none()
        {
            v.sym = Some((i as Sym, 0));
            flow.st.syms_below = flow.st.syms_below.max(i as Sym + 1);
        }
        let st = &flow.st;
        let a = Self::read(st, i, dst)?;
        let (b, b_reg) = match src {
            Source::Reg(r) => (Self::read(st, i, r)?, Some(r)),
            Source::Imm(k) => (Value::scalar(Scalar::constant(extend_imm(width, k))), None),
        };
        let comparable = match (a.kind, b.kind) {
            (Kind::Scalar, Kind::Scalar) => true,
            (x, y) if x == y && width == Width::W64 => true,
            _ => false,
        };
        if !comparable {
            let regs: Vec<Reg> = core::iter::once(dst).chain(b_reg).collect();
            return rej(st, i, Rule::PointerCompare, &regs);
        }
        let Some(target) = self.cfg.target(i) else {
            return internal(i, "a jump without a target");
        };
        // Two context pointers whose offsets lie in [0, 2^32] compare as their offsets do:
        // the engines address the context at a fixed base far from both ends of the address
        // space (`CTX_BASE`), so no address wraps. This is the `data + n > data_end` idiom.
        let window = |x: &Scalar| x.smin >= 0 && x.smax <= 1 << 32;
        let ctx_cmp = a.kind == Kind::Ctx
            && b.kind == Kind::Ctx
            && width == Width::W64
            && cond != JmpCond::Set
            && window(&a.n)
            && window(&b.n);
        let (taken, not) = if a.is_pointer() && !ctx_cmp {
            // Same region: the outcome depends on the offsets only; both sides stay possible.
            (Some((a.n, b.n)), Some((a.n, b.n)))
        } else {
            (
                refine(self.conf, width, cond, &a, &b, true),
                refine(self.conf, width, cond, &a, &b, false),
            )
        };
        let both = taken.is_some() && not.is_some();
        // Narrows the operands in `f` for one side and records what it says about the length.
        let conf = self.conf;
        let apply = |f: &mut Flow, (na, nb): (Scalar, Scalar), side: bool| {
            if both {
                Self::branch_path(f, i, side);
            }
            f.st.regs[dst.index()].n = na;
            if let Some(r) = b_reg {
                f.st.regs[r.index()].n = nb;
            }
            // Every other number equal to an operand up to a constant narrows with it.
            if a.kind == Kind::Scalar {
                // (Nothing to do where the comparison narrowed nothing.)
                let unshifted = conf.planted(Plant::NarrowEqualsUnshifted);
                if let Some((s, o)) = a.sym
                    && na != a.n
                {
                    f.st.narrow_equals(s, o, &na, unshifted);
                }
                if let (Some(_), Some((s, o))) = (b_reg, b.sym)
                    && nb != b.n
                {
                    f.st.narrow_equals(s, o, &nb, unshifted);
                }
            }
            if a.kind == Kind::Scalar || ctx_cmp {
                let c = if side {
                    Some(cond)
                } else if cond == JmpCond::Set {
                    None
                } else {
                    Some(cond.negate())
                };
                if let Some(c) = c {
                    let (mut va, mut vb) = (a, b);
                    va.n = na;
                    vb.n = nb;
                    relate(conf, &mut f.st, width, c, &va, &vb);
                }
            }
        };
        let Some(cur) = slot.as_mut() else {
            return Ok(());
        };
        match (not, taken) {
            (Some(n), Some(t)) => {
                let mut f = cur.clone();
                apply(&mut f, t, true);
                apply(cur, n, false);
                self.flow(i, target, f)?;
            }
            (Some(n), None) => apply(cur, n, false),
            (None, Some(t)) => {
                let mut f = cur.clone();
                *slot = None;
                apply(&mut f, t, true);
                self.flow(i, target, f)?;
            }
            (None, None) => *slot = None,
        }
        Ok(())
    }
}

/// Whether `mov`/`movsx` of width `width` returns its operand unchanged for every value of `b`.
fn move_is_identity(op: AluOp, width: Width, b: &Scalar) -> bool {
    let signed_fits = |bits: u32| {
        let half = 1i64 << (bits - 1);
        b.smin >= -half && b.smax < half
    };
    match (op, width) {
        (AluOp::Mov, Width::W64) => true,
        (AluOp::Mov, Width::W32) => b.umax <= u32::MAX as u64,
        (AluOp::MovSx8, Width::W64) => signed_fits(8),
        (AluOp::MovSx16, Width::W64) => signed_fits(16),
        (AluOp::MovSx32, Width::W64) => signed_fits(32),
        // 32-bit sign extension then zero extension: the identity only on small non-negative
        // values.
        (AluOp::MovSx8, Width::W32) => b.umax < 1 << 7,
        (AluOp::MovSx16, Width::W32) => b.umax < 1 << 15,
        _ => false,
    }
}

/// Whether a byte-order operation returns its operand unchanged for every value of `a`.
fn swap_is_identity(kind: Endian, bits: SwapBits, a: &Scalar) -> bool {
    match (kind, bits) {
        (Endian::Le, SwapBits::B64) => true,
        (Endian::Le, SwapBits::B32) => a.umax <= u32::MAX as u64,
        (Endian::Le, SwapBits::B16) => a.umax <= u16::MAX as u64,
        _ => false,
    }
}

/// The symbol of the result of `a OP b` on numbers, where it is `sym + c` exactly: adding or
/// subtracting a constant where no value can wrap (64-bit), or where both the operand and
/// every result fit 32 bits (32-bit: clang computes length bounds with `add32` at `-mcpu=v3`),
/// and masks that keep every bit the operand may have set.
fn scalar_sym(width: Width, op: AluOp, a: &Value, b: &Value) -> Option<(Sym, i64)> {
    // The operand with the symbol, and the constant.
    let (v, s, c) = match (a.sym, b.n.as_const(), a.n.as_const(), b.sym) {
        (Some(s), Some(c), _, _) => (a, s, c),
        (_, _, Some(c), Some(s))
            if matches!(op, AluOp::Add | AluOp::And | AluOp::Or | AluOp::Xor) =>
        {
            (b, s, c)
        }
        _ => return None,
    };
    let fits32 = |x: &Scalar| x.umax <= u32::MAX as u64;
    match (width, op) {
        (Width::W64, AluOp::Add) => shift(v, s, c as i64),
        (Width::W64, AluOp::Sub) => shift(v, s, (c as i64).checked_neg()?),
        (Width::W32, AluOp::Add | AluOp::Sub) if fits32(&v.n) => {
            // The 32-bit immediate or register value, as the signed amount it adds.
            let d = c as u32 as i32 as i64;
            let d = if op == AluOp::Sub {
                d.checked_neg()?
            } else {
                d
            };
            let lo = v.n.umin as i128 + d as i128;
            let hi = v.n.umax as i128 + d as i128;
            (lo >= 0 && hi <= u32::MAX as i128).then_some(())?;
            Some((s.0, s.1.checked_add(d)?))
        }
        // `or`/`xor` of bits the value never has set adds them (clang writes `ihl + 64` as
        // `ihl | 64` when it knows the bit is clear).
        (Width::W64, AluOp::Or | AluOp::Xor) if (v.n.t.value | v.n.t.mask) & c == 0 => {
            shift(v, s, i64::try_from(c).ok()?)
        }
        (Width::W32, AluOp::Or | AluOp::Xor)
            if fits32(&v.n) && (v.n.t.value | v.n.t.mask) & c & u32::MAX as u64 == 0 =>
        {
            shift(v, s, (c & u32::MAX as u64) as i64)
        }
        (Width::W64, AluOp::And) => {
            let may = v.n.t.value | v.n.t.mask;
            (may & !c == 0).then_some(s)
        }
        (Width::W32, AluOp::And) if fits32(&v.n) => {
            let may = v.n.t.value | v.n.t.mask;
            (may & !(c & u32::MAX as u64) == 0).then_some(s)
        }
        _ => None,
    }
}

/// The symbol of `v + c` when `v = s.0 + s.1` and the addition cannot wrap.
fn shift(v: &Value, s: (Sym, i64), c: i64) -> Option<(Sym, i64)> {
    let fits = if c >= 0 {
        v.n.umax.checked_add(c as u64).is_some()
    } else {
        v.n.umin >= c.unsigned_abs()
    };
    if !fits {
        return None;
    }
    Some((s.0, s.1.checked_add(c)?))
}

/// A context pointer with a name plus a named number (`p += p[1] + 2`): the result is named
/// by this instruction as a pointer ([`state::ptr_insn_sym`]), and the sum is remembered, so
/// a bound on the new pointer bounds the parts and the other way round.
fn ptr_sum(st: &mut State, i: usize, p: &Value, x: &Value, op: AluOp) -> Option<(Sym, i64)> {
    if p.kind != Kind::Ctx || op != AluOp::Add || !st.relational() {
        return None;
    }
    let ((sp, op_), (sx, ox)) = (p.sym?, x.sym?);
    // Exact as integers: the offsets stay in a range where nothing wraps.
    let lo = p.n.smin as i128 + x.n.umin as i128;
    let hi = p.n.smax as i128 + x.n.umax as i128;
    if lo < i64::MIN as i128 || hi > i64::MAX as i128 || x.n.umax > i64::MAX as u64 {
        return None;
    }
    let me = state::ptr_insn_sym(i)?;
    st.syms_below = st.syms_below.max(i as Sym + 1);
    st.add_sum((me, sp, sx, op_.checked_add(ox)?));
    Some((me, 0))
}

/// The symbol of pointer `p OP x`, when it stays exact.
fn ptr_sym(p: &Value, x: &Value, op: AluOp) -> Option<(Sym, i64)> {
    // A constant moves the offset by a signed amount (adding `-20000` is subtracting 20000):
    // exact as long as no offset the pointer may have overflows 64-bit signed arithmetic.
    if let (Some((s, o)), Some(c)) = (p.sym, x.n.as_const()) {
        let d = if op == AluOp::Add {
            c as i64
        } else {
            (c as i64).checked_neg()?
        };
        p.n.smin.checked_add(d)?;
        p.n.smax.checked_add(d)?;
        return Some((s, o.checked_add(d)?));
    }
    let no_wrap = |lo: i64, hi: i64| {
        let (l, h) = if op == AluOp::Add {
            (lo as i128 + x.n.umin as i128, hi as i128 + x.n.umax as i128)
        } else {
            (lo as i128 - x.n.umax as i128, hi as i128 - x.n.umin as i128)
        };
        l >= i64::MIN as i128 && h <= i64::MAX as i128 && x.n.umax <= i64::MAX as u64
    };
    if !no_wrap(p.n.smin, p.n.smax) {
        return None;
    }
    match (p.sym, p.n.as_const(), x.sym, x.n.as_const()) {
        (Some((s, o)), _, _, Some(c)) => {
            let c = c as i64;
            Some((
                s,
                if op == AluOp::Add {
                    o.checked_add(c)?
                } else {
                    o.checked_sub(c)?
                },
            ))
        }
        (None, Some(k), Some((s, o)), _) if op == AluOp::Add => Some((s, o.checked_add(k as i64)?)),
        _ => None,
    }
}

/// The narrowed operands when `a COND b` (or its negation) can hold.
fn refine(
    conf: &Config,
    width: Width,
    cond: JmpCond,
    a: &Value,
    b: &Value,
    holds: bool,
) -> Option<(Scalar, Scalar)> {
    let r = |x: &Scalar, y: &Scalar| {
        if holds {
            Scalar::refine(cond, x, y)
        } else {
            Scalar::refine_not(cond, x, y)
        }
    };
    if width == Width::W64 {
        return r(&a.n, &b.n);
    }
    let signed = matches!(
        cond,
        JmpCond::Sgt | JmpCond::Sge | JmpCond::Slt | JmpCond::Sle
    );
    let view = |x: &Scalar| {
        let l = x.low32();
        if signed { l.sign_extend(32) } else { l }
    };
    let (va, vb) = (view(&a.n), view(&b.n));
    let (ra, rb) = r(&va, &vb)?;
    // Where the 32-bit view is the whole value, the narrowing carries over.
    let wide = conf.planted(Plant::Jmp32NarrowsWide);
    let keep = |x: &Scalar, v: &Scalar, n: Scalar| if x == v || wide { n } else { *x };
    Some((keep(&a.n, &va, ra), keep(&b.n, &vb, rb)))
}

/// Records what `a COND b` says about the context length.
fn relate(conf: &Config, st: &mut State, width: Width, cond: JmpCond, a: &Value, b: &Value) {
    use JmpCond::*;
    // A 32-bit comparison says the same as the 64-bit one only where both values are their
    // own 32-bit views: below 2^32 for unsigned conditions, in [0, 2^31) for signed ones.
    let signed = matches!(cond, Sgt | Sge | Slt | Sle);
    let limit = if signed {
        i32::MAX as u64
    } else {
        u32::MAX as u64
    };
    if width == Width::W32
        && !(a.n.umax <= limit && b.n.umax <= limit)
        && !conf.planted(Plant::Relate32Unchecked)
    {
        return;
    }
    let nonneg = a.n.smin >= 0 && b.n.smin >= 0;
    match cond {
        Gt => le(st, b, a, 1),
        Ge => le(st, b, a, 0),
        Lt => le(st, a, b, 1),
        Le => le(st, a, b, i64::from(conf.planted(Plant::LeAsLt))),
        Sgt if nonneg => le(st, b, a, 1),
        Sge if nonneg => le(st, b, a, 0),
        Slt if nonneg => le(st, a, b, 1),
        Sle if nonneg => le(st, a, b, 0),
        Eq => {
            le(st, a, b, 0);
            le(st, b, a, 0);
        }
        _ => {}
    }
}

/// Records `x + d <= y`.
fn le(st: &mut State, x: &Value, y: &Value, d: i64) {
    // Through a bound on `y`: `x + d <= y` and `y + ky <= len` give `x + d + ky <= len`
    // (`opt < end` where `end <= len` was proven).
    if let (Some((sx, ox)), Some((sy, oy))) = (x.sym, y.sym)
        && sx != LEN
        && sy != LEN
        && sx != sy
        && let Some(ky) = st.fact(sy)
        && let Some(k) = ox
            .checked_add(d)
            .and_then(|v| v.checked_add(ky))
            .and_then(|v| v.checked_sub(oy))
    {
        st.add_fact(sx, k);
    }
    if let Some((LEN, oy)) = y.sym {
        if let Some((s, ox)) = x.sym
            && s != LEN
            && let Some(k) = ox.checked_add(d).and_then(|v| v.checked_sub(oy))
        {
            st.add_fact(s, k);
        }
        let m = x.n.umin as i128 + d as i128 - oy as i128;
        if m > st.len_min as i128 {
            st.len_min = m.min(u64::MAX as i128) as u64;
        }
    }
    if let Some((LEN, ox)) = x.sym {
        let m = y.n.umax as i128 - d as i128 - ox as i128;
        if m >= 0 && m < st.len_max as i128 {
            st.len_max = m as u64;
        }
    }
}
