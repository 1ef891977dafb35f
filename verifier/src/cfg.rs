//! Structure before meaning: functions, the call graph, loops. Everything here is decided from
//! the instructions alone, before any abstract state exists.
//!
//! - A function starts at index 0 or at a local call's target and runs to the next start.
//!   Jumps stay inside their function; no instruction falls through into the next one.
//! - The call graph is acyclic (no recursion) and at most [`MAX_FRAMES`] frames deep.
//! - Loops are natural and laid out in order: a backward jump from `t` to `h` makes `[h, t']` a
//!   loop, `t'` the last backward jump to `h`; loops nest or are disjoint, and code outside a
//!   loop enters it only at its head. Compilers emit nothing else; this is what lets the
//!   analysis run each loop iteration by iteration over a plain index range.

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

/// A loop: instruction indices `[head, tail]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Loop {
    /// The loop head, target of its backward jumps.
    pub head: usize,
    /// The last backward jump to the head.
    pub tail: usize,
}

/// The structure of a program.
#[derive(Clone, Debug)]
pub struct Cfg {
    /// Functions in index order; `funcs[0]` is the entry.
    pub funcs: Vec<Func>,
    /// Loops, outer before inner.
    pub loops: Vec<Loop>,
    /// The loop whose head is each instruction ([`NONE`]: none). Compact per-instruction
    /// tables: a million instructions are 4 MB each.
    loop_at: Vec<u32>,
    /// Innermost loop containing each instruction, or [`NONE`].
    inner: Vec<u32>,
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

    /// The function starting at `start`.
    pub fn func_at(&self, start: usize) -> Option<&Func> {
        self.funcs.iter().find(|f| f.start == start)
    }
}

/// Builds the structure, or says at which instruction it is not what the analysis accepts.
pub fn build(prog: &Program) -> Result<Cfg, (usize, Rule)> {
    let insns = prog.insns();
    let n = insns.len();
    // Indices fit the compact tables (4 billion instructions would be 64 GiB of them).
    if n >= NONE as usize {
        return Err((
            0,
            Rule::BudgetExceeded {
                budget: NONE as u64,
                in_loop: None,
            },
        ));
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
        .map(|(k, &s)| Func {
            start: s,
            end: starts.get(k + 1).copied().unwrap_or(n),
        })
        .collect();
    let func_of = |i: usize| funcs.partition_point(|f| f.start <= i) - 1;
    for (i, insn) in insns.iter().enumerate() {
        let f = funcs[func_of(i)];
        let jump = matches!(
            insn,
            Insn::Ja { .. } | Insn::Ja32 { .. } | Insn::Jump { .. }
        );
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
    // Depth-first from the entry, with the chain of call sites.
    let mut chain: Vec<(usize, usize)> = Vec::new();
    fn walk(
        f: usize,
        callees: &[Vec<(usize, usize)>],
        funcs: &[Func],
        chain: &mut Vec<(usize, usize)>,
        depth: usize,
    ) -> Result<(), (usize, Rule)> {
        for &(site, g) in &callees[f] {
            if g == f || chain.iter().any(|&(_, h)| h == g) || g == 0 {
                return Err((
                    site,
                    Rule::Recursion {
                        callee: funcs[g].start,
                    },
                ));
            }
            if depth + 1 >= MAX_FRAMES {
                return Err((
                    site,
                    Rule::CallDepth {
                        depth: depth + 2,
                        max: MAX_FRAMES,
                    },
                ));
            }
            chain.push((site, g));
            walk(g, callees, funcs, chain, depth + 1)?;
            chain.pop();
        }
        Ok(())
    }
    walk(0, &callees, &funcs, &mut chain, 0)?;

    // Loops: one per head, reaching to its last back edge.
    let mut tail_of: Vec<Option<usize>> = vec![None; n];
    for (i, insn) in insns.iter().enumerate() {
        let jump = matches!(
            insn,
            Insn::Ja { .. } | Insn::Ja32 { .. } | Insn::Jump { .. }
        );
        if jump
            && let Some(t) = target(i)
            && t <= i
        {
            tail_of[t] = Some(tail_of[t].map_or(i, |x: usize| x.max(i)));
        }
    }
    let mut loops: Vec<Loop> = (0..n)
        .filter_map(|h| tail_of[h].map(|t| Loop { head: h, tail: t }))
        .collect();
    // Proper nesting: sorted by head, each loop ends before or with every open one.
    let mut open: Vec<Loop> = Vec::new();
    for l in &loops {
        while open.last().is_some_and(|o| o.tail < l.head) {
            open.pop();
        }
        if let Some(o) = open.last()
            && l.tail > o.tail
        {
            return Err((
                l.tail,
                Rule::LoopsOverlap {
                    outer: (o.head, o.tail),
                    inner: (l.head, l.tail),
                },
            ));
        }
        open.push(*l);
    }
    // Outer before inner: by head, wider first on equal heads (heads are unique, so by head).
    loops.sort_by_key(|l| (l.head, core::cmp::Reverse(l.tail)));
    let mut loop_at = vec![NONE; n];
    let mut inner = vec![NONE; n];
    for (k, l) in loops.iter().enumerate() {
        loop_at[l.head] = k as u32;
        for slot in &mut inner[l.head..=l.tail] {
            *slot = k as u32;
        }
    }
    // Entries only at the head: every jump into (head, tail] comes from inside [head, tail].
    // (Falling through can only enter a loop at its head.)
    for (i, insn) in insns.iter().enumerate() {
        let Some(s) = target(i) else { continue };
        if matches!(insn, Insn::CallLocal { .. }) {
            continue;
        }
        let mut k = opt(inner[s]);
        while let Some(kk) = k {
            let l = loops[kk as usize];
            if s != l.head && (i < l.head || i > l.tail) {
                return Err((
                    i,
                    Rule::JumpIntoLoop {
                        target: s,
                        head: l.head,
                        tail: l.tail,
                    },
                ));
            }
            k = enclosing(&loops, kk);
        }
    }

    Ok(Cfg {
        funcs,
        loops,
        loop_at,
        inner,
        target: target_raw,
    })
}

/// The loop directly enclosing loop `k`.
pub fn enclosing(loops: &[Loop], k: u32) -> Option<u32> {
    let l = loops[k as usize];
    loops[..k as usize]
        .iter()
        .rposition(|o| o.head <= l.head && l.tail <= o.tail)
        .map(|p| p as u32)
}
