//! The abstract interpreter: walks each function's instructions in index order, joining the
//! states that reach an instruction before running it, unrolls each loop iteration by
//! iteration, and analyses each local call in its caller's state.

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;

use udf_bytecode::insn::*;
use udf_bytecode::progtype::{HELPER_EMIT, HelperSpec};
use udf_bytecode::semantics::extend_imm;
use udf_bytecode::{Insn, Program};

use crate::cfg::{Cfg, MAX_FRAMES};
use crate::error::{PathStep, Region, Rule};
use crate::scalar::Scalar;
use crate::state::{self, FRAME, Frame, LEN, Place, State, Sym, Value, ValueKind};
use crate::{Access, Config, LoopFact, Plant, Recorded};

mod branch;
mod calls;
mod memory;
mod symbols;
mod transfer;

use symbols::*;

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
                PathStep { index: index as usize, taken }
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
            Some(j) => self.st.join_at(&o.st, j, conf.planted(Plant::JoinSymbolStronger)),
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
                if r.kind != ValueKind::Uninit && r.sym.is_none() {
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
        Queue { words: vec![0; w], summary: vec![0; w.div_ceil(64)] }
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
                .map(|l| LoopFact { head: l.head, tail: l.tail, max_iterations: 0 })
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
        self.put(0, Flow { st: entry, path: PathRing::default() })?;
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
            return internal(self.cfg.order[q] as usize, "a state the walk never consumed");
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
                    Rule::NoLoopBound { head: l.head, tail: l.tail, iterations: iter },
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
            && v.kind == ValueKind::Ctx
        {
            if let Some((s, _)) = v.sym
                && s != LEN
                && !flow.st.sums.is_empty()
                && let Some(k) = flow.st.derived_fact(s, self.conf.planted(Plant::SumUsesGreatest))
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
                Rule::BudgetExceeded { budget: self.conf.budget, in_loop },
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
        if v.kind == ValueKind::Uninit {
            return rej(st, i, Rule::UninitRead { reg: r }, &[r]);
        }
        Ok(v)
    }

    /// Symbol `i` was killed when instruction `i` began (`transfer`).
    fn set_scalar(st: &mut State, i: usize, dst: Reg, n: Scalar, sym: Option<(Sym, i64)>) {
        st.syms_below = st.syms_below.max(i as Sym + 1);
        st.regs[dst.index()] = Value {
            kind: ValueKind::Scalar,
            n,
            sym: match sym {
                Some((s, o)) if s != i as Sym => Some((s, o)),
                _ => Some((i as Sym, 0)),
            },
        };
    }
}
