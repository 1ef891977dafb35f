//! Structure before meaning: functions, the call graph, loops. Everything here is decided from
//! the instructions alone, before any abstract state exists.
//!
//! - A function starts at index 0 or at a local call's target and runs to the next start.
//!   Jumps stay inside their function; no instruction falls through into the next one.
//! - The call graph is acyclic (no recursion) and at most [`MAX_FRAMES`] frames deep.
//! - Loops, whatever their layout: each function's instructions are put in a weak topological
//!   order (Bourdoncle): nested components, each with a head, such that every cycle runs
//!   through the head of a component holding all of it and every edge goes forward in the
//!   order except edges to the head of a component around them. Rotated loops (the test
//!   below the body), loops entered by a jump to their test and irreducible flow (a cycle
//!   entered at several points) all get one; the analysis runs each component iteration by
//!   iteration from its head. Loops nest at most [`MAX_LOOP_DEPTH`] deep.

use alloc::vec;
use alloc::vec::Vec;

use udf_bytecode::{Insn, Program};

use crate::error::Rule;

/// Most frames live at once, the entry function's included (the interpreter's limit).
pub const MAX_FRAMES: usize = 8;

/// A function: instruction indices `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Func {
    /// First instruction.
    pub start: usize,
    /// One past the last.
    pub end: usize,
}

/// A loop: a component of the weak topological order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loop {
    /// The loop head, the target of its back edges.
    pub head: usize,
    /// Its highest instruction index (for reports).
    pub tail: usize,
}

/// The structure of a program.
#[derive(Clone, Debug)]
pub struct Cfg {
    /// Functions in index order; `funcs[0]` is the entry.
    pub funcs: Vec<Func>,
    /// Each function's positions `[lo, hi)` in [`Cfg::order`].
    pub func_pos: Vec<(u32, u32)>,
    /// Loops, outer before inner.
    pub loops: Vec<Loop>,
    /// Instruction indices in analysis order: each function's reachable instructions in weak
    /// topological order, one function after another.
    pub order: Vec<u32>,
    /// Each instruction's position in `order` ([`NONE`]: unreachable).
    pos: Vec<u32>,
    /// Per position: for a loop head, the position just past its component; else [`NONE`].
    comp_end: Vec<u32>,
    /// The loop whose head is each instruction ([`NONE`]: none). Compact per-instruction
    /// tables: a million instructions are 4 MB each.
    loop_at: Vec<u32>,
    /// Innermost loop containing each instruction, or [`NONE`].
    inner: Vec<u32>,
    /// The loop directly around each loop, or [`NONE`].
    parent: Vec<u32>,
    /// Jump or call target of each instruction, as an index, or [`NONE`].
    target: Vec<u32>,
}

/// "None" in the per-instruction tables.
const NONE: u32 = u32::MAX;

fn opt(x: u32) -> Option<u32> {
    (x != NONE).then_some(x)
}

impl Cfg {
    /// The loop whose head is instruction `i`.
    pub fn loop_at(&self, i: usize) -> Option<u32> {
        opt(self.loop_at[i])
    }

    /// The innermost loop containing instruction `i`.
    pub fn inner(&self, i: usize) -> Option<u32> {
        opt(self.inner[i])
    }

    /// The jump or call target of instruction `i`, as an index.
    pub fn target(&self, i: usize) -> Option<usize> {
        opt(self.target[i]).map(|t| t as usize)
    }

    /// The function starting at `start`, and its positions in [`Cfg::order`].
    pub fn func_at(&self, start: usize) -> Option<(Func, (u32, u32))> {
        let k = self.funcs.iter().position(|f| f.start == start)?;
        Some((self.funcs[k], self.func_pos[k]))
    }

    /// The position of instruction `i` in [`Cfg::order`] (`None`: unreachable).
    pub fn pos(&self, i: usize) -> Option<usize> {
        opt(*self.pos.get(i)?).map(|p| p as usize)
    }

    /// The loop directly around loop `k`.
    pub fn parent(&self, k: u32) -> Option<u32> {
        opt(*self.parent.get(k as usize)?)
    }

    /// For the loop head at position `p`, the position just past its loop.
    pub fn comp_end(&self, p: usize) -> Option<usize> {
        opt(*self.comp_end.get(p)?).map(|p| p as usize)
    }
}

/// Builds the structure, or says at which instruction it is not what the analysis accepts.
pub fn build(prog: &Program) -> Result<Cfg, (usize, Rule)> {
    let insns = prog.insns();
    let n = insns.len();
    // Indices fit the compact tables (4 billion instructions would be 64 GiB of them).
    if n >= NONE as usize {
        return Err((0, Rule::BudgetExceeded { budget: NONE as u64, in_loop: None }));
    }
    let target_raw: Vec<u32> = prog
        .iter()
        .map(|(pc, insn)| {
            insn.branch_offset()
                .and_then(|off| prog.index_at((pc as i64 + 1 + off) as usize))
                .map_or(NONE, |t| t as u32)
        })
        .collect();
    let target = |i: usize| opt(target_raw[i]).map(|t| t as usize);

    // Functions.
    let mut starts = vec![0usize];
    for (i, insn) in insns.iter().enumerate() {
        if let (Insn::CallLocal { .. }, Some(t)) = (insn, target(i)) {
            starts.push(t);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let funcs: Vec<Func> = starts
        .iter()
        .enumerate()
        .map(|(k, &s)| Func { start: s, end: starts.get(k + 1).copied().unwrap_or(n) })
        .collect();
    let func_of = |i: usize| funcs.partition_point(|f| f.start <= i) - 1;
    for (i, insn) in insns.iter().enumerate() {
        let f = funcs[func_of(i)];
        let jump = matches!(insn, Insn::Ja { .. } | Insn::Ja32 { .. } | Insn::Jump { .. });
        if jump
            && let Some(t) = target(i)
            && (t < f.start || t >= f.end)
        {
            return Err((i, Rule::JumpOutOfFunction { target: t }));
        }
        if !insn.is_terminator() && i + 1 == f.end && f.end < n {
            return Err((i, Rule::FallsIntoFunction { next: f.end }));
        }
    }

    // Call graph: no recursion, bounded depth.
    let callees: Vec<Vec<(usize, usize)>> = funcs
        .iter()
        .map(|f| {
            (f.start..f.end)
                .filter(|&i| matches!(insns[i], Insn::CallLocal { .. }))
                .filter_map(|i| target(i).map(|t| (i, func_of(t))))
                .collect()
        })
        .collect();
    // Depth-first from the entry without recursion, each function once: a call to a
    // function still on the walk's path is recursion; each function's height (frames it and
    // its deepest callee chain need) is computed once, so many call sites cost no more than
    // one (a walk of every call path would be exponential in them).
    const NEW: u8 = 0;
    const OPEN: u8 = 1;
    const DONE: u8 = 2;
    let mut color = vec![NEW; funcs.len()];
    let mut height = vec![1usize; funcs.len()];
    // Functions reachable from the entry, callees before callers.
    let mut post: Vec<usize> = Vec::new();
    let mut stack: Vec<(usize, usize)> = vec![(0, 0)];
    color[0] = OPEN;
    while let Some(&mut (f, ref mut next)) = stack.last_mut() {
        if let Some(&(site, g)) = callees[f].get(*next) {
            *next += 1;
            match color[g] {
                OPEN => {
                    return Err((site, Rule::Recursion { callee: funcs[g].start }));
                }
                NEW => {
                    color[g] = OPEN;
                    stack.push((g, 0));
                }
                _ => {}
            }
            continue;
        }
        stack.pop();
        color[f] = DONE;
        height[f] = 1 + callees[f].iter().map(|&(_, g)| height[g]).max().unwrap_or(0);
        post.push(f);
    }
    if height[0] > MAX_FRAMES {
        // Name the call that needs one frame too many, down the deepest chain.
        let (mut f, mut depth) = (0usize, 0usize);
        loop {
            let Some(&(site, g)) = callees[f].iter().max_by_key(|&&(_, g)| height[g]) else {
                return Err((0, Rule::CallDepth { depth: height[0], max: MAX_FRAMES }));
            };
            if depth + 1 >= MAX_FRAMES {
                return Err((site, Rule::CallDepth { depth: depth + 2, max: MAX_FRAMES }));
            }
            f = g;
            depth += 1;
        }
    }

    // Loops: a weak topological order of each function.
    let succ = |i: usize| -> [Option<usize>; 2] {
        let insn = &insns[i];
        let next = (!insn.is_terminator() && i + 1 < n).then_some(i + 1);
        match insn {
            Insn::Ja { .. } | Insn::Ja32 { .. } | Insn::Jump { .. } => [target(i), next],
            _ => [None, next],
        }
    };
    let mut w = Wto::new(n);
    let mut func_pos = Vec::with_capacity(funcs.len());
    let mut nesting = Vec::with_capacity(funcs.len());
    for f in &funcs {
        let lo = w.order.len();
        w.max_depth = 0;
        // Without a backward jump a function has no cycle, and index order is a topological
        // order: the weak topological order of a DAG (unreachable instructions in it never
        // receive a state). The common case costs a pass, not a depth-first walk.
        let backward = (f.start..f.end).any(|i| {
            matches!(insns[i], Insn::Ja { .. } | Insn::Ja32 { .. } | Insn::Jump { .. })
                && target(i).is_some_and(|t| t <= i)
        });
        if backward {
            w.build(f.start, &succ)?;
        } else {
            for i in f.start..f.end {
                w.pos[i] = w.order.len() as u32;
                w.order.push(i as u32);
                w.comp_end.push(NONE);
            }
        }
        func_pos.push((lo as u32, w.order.len() as u32));
        nesting.push(w.max_depth as usize);
    }
    // The analysis recurses once per loop level and once per call: loops nested down a call
    // chain count together.
    let mut chain_nesting = vec![0usize; funcs.len()];
    for &f in &post {
        let below = callees[f].iter().map(|&(_, g)| chain_nesting[g]).max().unwrap_or(0);
        chain_nesting[f] = nesting[f] + below;
        if chain_nesting[f] > MAX_LOOP_DEPTH {
            return Err((
                funcs[f].start,
                Rule::LoopNesting { depth: chain_nesting[f], max: MAX_LOOP_DEPTH },
            ));
        }
    }
    Ok(Cfg {
        funcs,
        func_pos,
        loops: w.loops,
        order: w.order,
        pos: w.pos,
        comp_end: w.comp_end,
        loop_at: w.loop_at,
        inner: w.inner,
        parent: w.parent,
        target: target_raw,
    })
}

/// Most loops nested in one another, counted down call chains (a loop around a call adds to
/// the callee's). It bounds the cost of building the order (each instruction is visited once
/// per loop around it) and the analysis's recursion.
pub const MAX_LOOP_DEPTH: usize = 64;

/// An element of a partition under construction.
#[derive(Clone, Copy)]
enum Elem {
    Node(u32),
    /// A component: its head and its partition (an index into `parts`).
    Comp(u32, u32),
}

/// Bourdoncle's weak topological order, built without recursion (a hostile program may nest
/// loops as deep as it likes; we refuse past [`MAX_LOOP_DEPTH`]).
///
/// Every cycle of the graph contains the head of a component that contains the whole cycle,
/// and every edge `u -> v` goes forward in the order unless `v` is the head of a component
/// containing `u`. So a walk in this order, running each component again while its back
/// edges carry states, sees every predecessor of a node before the node, whatever the layout
/// and whether or not the loops are reducible.
struct Wto {
    order: Vec<u32>,
    pos: Vec<u32>,
    comp_end: Vec<u32>,
    loops: Vec<Loop>,
    loop_at: Vec<u32>,
    inner: Vec<u32>,
    parent: Vec<u32>,
    dfn: Vec<u32>,
    num: u32,
    /// Deepest nesting seen by the last [`Wto::build`].
    max_depth: u32,
}

/// A frame of the depth-first walk.
enum Step {
    /// Visiting `v`: the next successor, the lowest number reached, whether `v` is in a cycle,
    /// the partition `v` goes to.
    Visit { v: u32, next: u8, head: u32, is_loop: bool, part: u32 },
    /// Building the component headed by `v` into partition `inner`, then adding it to `part`
    /// and returning `head` to the caller.
    Comp { v: u32, next: u8, inner: u32, part: u32, head: u32 },
}

impl Wto {
    fn new(n: usize) -> Wto {
        Wto {
            order: Vec::new(),
            pos: vec![NONE; n],
            comp_end: Vec::new(),
            loops: Vec::new(),
            loop_at: vec![NONE; n],
            inner: vec![NONE; n],
            parent: Vec::new(),
            dfn: vec![0; n],
            num: 0,
            max_depth: 0,
        }
    }

    /// The next depth-first number (they never reach the "done" mark).
    fn next_num(&self, at: usize) -> Result<u32, (usize, Rule)> {
        self.num
            .checked_add(1)
            .filter(|&x| x < u32::MAX - 1)
            .ok_or((at, Rule::LoopNesting { depth: MAX_LOOP_DEPTH, max: MAX_LOOP_DEPTH }))
    }

    /// Numbers `w` and puts it on the walk's stack: the frame that visits it, into `part`.
    fn enter(&mut self, w: usize, part: u32, stack: &mut Vec<u32>) -> Result<Step, (usize, Rule)> {
        self.num = self.next_num(w)?;
        self.dfn[w] = self.num;
        stack.push(w as u32);
        Ok(Step::Visit { v: w as u32, next: 0, head: self.num, is_loop: false, part })
    }

    /// Orders what `start` reaches.
    fn build(
        &mut self,
        start: usize,
        succ: &dyn Fn(usize) -> [Option<usize>; 2],
    ) -> Result<(), (usize, Rule)> {
        const DONE: u32 = u32::MAX;
        let mut parts: Vec<Vec<Elem>> = vec![Vec::new()];
        let mut stack: Vec<u32> = Vec::new();
        let mut frames: Vec<Step> = Vec::new();
        // The value the last finished frame returned to its caller.
        let mut ret: Option<u32> = None;
        let mut depth_of: Vec<u32> = vec![0];
        frames.push(self.enter(start, 0, &mut stack)?);
        while let Some(top) = frames.last_mut() {
            match top {
                Step::Visit { v, next, head, is_loop, part } => {
                    if let Some(m) = ret.take()
                        && m <= *head
                    {
                        *head = m;
                        *is_loop = true;
                    }
                    let succs = succ(*v as usize);
                    if let Some(w) = succs.get(*next as usize) {
                        *next += 1;
                        let Some(w) = *w else { continue };
                        let d = self.dfn[w];
                        if d == 0 {
                            let part = *part;
                            frames.push(self.enter(w, part, &mut stack)?);
                        } else {
                            ret = Some(d);
                        }
                        continue;
                    }
                    let (v, head, is_loop, part) = (*v, *head, *is_loop, *part);
                    frames.pop();
                    if head != self.dfn[v as usize] {
                        ret = Some(head);
                        continue;
                    }
                    self.dfn[v as usize] = DONE;
                    let mut e = stack.pop();
                    if !is_loop {
                        parts[part as usize].push(Elem::Node(v));
                        ret = Some(head);
                        continue;
                    }
                    while let Some(x) = e
                        && x != v
                    {
                        self.dfn[x as usize] = 0;
                        e = stack.pop();
                    }
                    let depth = depth_of[part as usize] + 1;
                    if depth as usize > MAX_LOOP_DEPTH {
                        return Err((
                            v as usize,
                            Rule::LoopNesting { depth: depth as usize, max: MAX_LOOP_DEPTH },
                        ));
                    }
                    parts.push(Vec::new());
                    depth_of.push(depth);
                    self.max_depth = self.max_depth.max(depth);
                    frames.push(Step::Comp {
                        v,
                        next: 0,
                        inner: parts.len() as u32 - 1,
                        part,
                        head,
                    });
                }
                Step::Comp { v, next, inner, part, head } => {
                    ret = None;
                    let succs = succ(*v as usize);
                    if let Some(w) = succs.get(*next as usize) {
                        *next += 1;
                        if let Some(w) = *w
                            && self.dfn[w] == 0
                        {
                            let inner = *inner;
                            frames.push(self.enter(w, inner, &mut stack)?);
                        }
                        continue;
                    }
                    let (v, inner, part, head) = (*v, *inner, *part, *head);
                    frames.pop();
                    parts[part as usize].push(Elem::Comp(v, inner));
                    ret = Some(head);
                }
            }
        }
        // Flatten: each partition was built back to front. A work item is a partition and
        // how many of its elements are left; `open` holds the components being laid out.
        let mut work: Vec<(u32, usize)> = vec![(0, parts[0].len())];
        let mut open: Vec<(u32, u32)> = Vec::new();
        while let Some((p, left)) = work.pop() {
            if left == 0 {
                if p != 0
                    && let Some((_, at)) = open.pop()
                {
                    self.comp_end[at as usize] = self.order.len() as u32;
                }
                continue;
            }
            work.push((p, left - 1));
            let (node, sub) = match parts[p as usize][left - 1] {
                Elem::Node(x) => (x, None),
                Elem::Comp(h, q) => (h, Some(q)),
            };
            let at = self.order.len() as u32;
            self.pos[node as usize] = at;
            self.order.push(node);
            self.comp_end.push(NONE);
            for &(k, _) in &open {
                let l = &mut self.loops[k as usize];
                l.tail = l.tail.max(node as usize);
            }
            if let Some(&(k, _)) = open.last() {
                self.inner[node as usize] = k;
            }
            if let Some(q) = sub {
                let k = self.loops.len() as u32;
                self.loops.push(Loop { head: node as usize, tail: node as usize });
                self.loop_at[node as usize] = k;
                self.inner[node as usize] = k;
                self.parent.push(open.last().map_or(NONE, |&(o, _)| o));
                open.push((k, at));
                work.push((q, parts[q as usize].len()));
            }
        }
        Ok(())
    }
}
