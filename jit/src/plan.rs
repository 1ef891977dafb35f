//! What the lowering needs to know about a whole program before it emits any region: which
//! slots start blocks, where the checked mode charges its budget, and how the program is cut
//! into regions.
//!
//! Regions are contiguous slot ranges of about [`crate::Options::region_len`] instructions,
//! compiled as separate functions so that compile time grows linearly with program size
//! (register allocation is superlinear in function size). A cut never falls inside a loop
//! whose body fits in four regions, so hot loops stay in one function. Every slot that control
//! can reach from outside its region (its first slot, jump and call targets from elsewhere,
//! return sites) is an entry of that region.

use udf_bytecode::insn::Reg;
use udf_bytecode::{Insn, Program};
use udf_verifier::Access;

use crate::lower::Input;

/// A region: slots `start..end`, entered at `entries` (sorted, `start` first).
#[derive(Clone, Debug)]
pub(crate) struct Region {
    pub start: usize,
    pub end: usize,
    pub entries: Vec<usize>,
}

/// Per-program facts for the lowering.
pub(crate) struct Plan {
    /// Per slot: the instruction index starting there.
    pub index: Vec<Option<usize>>,
    /// Per slot: a block starts here (a jump target, a return site, or after a control
    /// transfer).
    pub leader: Vec<bool>,
    /// Per slot: instructions from here to the end of the stretch the checked mode charges at
    /// once (0: not a stretch start). Only the last instruction of a stretch can end the run
    /// or transfer control, so a stretch that does not fit the budget faults at `start + left`.
    pub stretch: Vec<u32>,
    /// Per slot: slot after a local call (a return site).
    pub return_site: Vec<bool>,
    /// Whether the program makes local calls.
    pub has_calls: bool,
    pub regions: Vec<Region>,
}

/// Ends a checked-mode stretch: transfers control, touches memory, calls, or always faults.
fn ends_stretch(insn: &Insn) -> bool {
    !matches!(insn, Insn::Alu { .. } | Insn::Neg { .. } | Insn::End { .. } | Insn::LoadImm64 { .. })
}

impl Plan {
    pub(crate) fn new(prog: &Program, region_len: usize) -> Plan {
        let slots = prog.slot_count();
        let mut index = vec![None; slots + 1];
        let mut leader = vec![false; slots + 1];
        let mut return_site = vec![false; slots + 1];
        let mut has_calls = false;
        leader[0] = true;
        // Per back edge: (target, source) — the loop body spans target..=source.
        let mut back = Vec::new();
        for (i, (pc, insn)) in prog.iter().enumerate() {
            index[pc] = Some(i);
            let next = pc + insn.slots();
            if let Some(t) = prog.branch_target(pc)
                && t <= slots
            {
                leader[t] = true;
                if t <= pc {
                    back.push((t, pc));
                }
            }
            if insn.transfers_control() {
                leader[next] = true;
            }
            if matches!(insn, Insn::CallLocal { .. }) {
                has_calls = true;
                return_site[next] = true;
            }
        }
        let mut stretch = vec![0u32; slots + 1];
        let mut starts = leader.clone();
        for (pc, insn) in prog.iter() {
            if ends_stretch(insn) {
                starts[pc + insn.slots()] = true;
            }
        }
        let insns: Vec<(usize, &Insn)> = prog.iter().collect();
        let mut run = 0u32;
        for &(pc, insn) in insns.iter().rev() {
            let next = pc + insn.slots();
            run = if ends_stretch(insn) || starts[next] { 1 } else { run + 1 };
            if starts[pc] {
                stretch[pc] = run;
            }
        }
        let regions = cut(prog, &index, &back, &return_site, region_len);
        Plan { index, leader, stretch, return_site, has_calls, regions }
    }
}

/// Cuts `prog` into regions and lists their entries.
fn cut(
    prog: &Program,
    index: &[Option<usize>],
    back: &[(usize, usize)],
    return_site: &[bool],
    region_len: usize,
) -> Vec<Region> {
    let slots = prog.slot_count();
    let region_len = region_len.max(16);
    // inside[c]: a cut before slot `c` would split a loop small enough to keep whole.
    let mut inside = vec![0i32; slots + 2];
    for &(t, s) in back {
        if s - t < 4 * region_len {
            inside[t + 1] += 1;
            inside[s + 1] -= 1;
        }
    }
    let mut depth = 0;
    let mut ok = vec![false; slots + 1];
    for c in 0..=slots {
        depth += inside[c];
        ok[c] = depth == 0 && index[c].is_some();
    }
    let mut bounds = vec![0usize];
    let mut start = 0;
    while slots - start > region_len + region_len / 2 {
        let want = start + region_len;
        let hard = start + 4 * region_len;
        let c = (want..slots.min(hard))
            .find(|&c| ok[c])
            .or_else(|| (want..slots).find(|&c| index[c].is_some()))
            .unwrap_or(slots);
        if c >= slots {
            break;
        }
        bounds.push(c);
        start = c;
    }
    bounds.push(slots);
    let mut regions: Vec<Region> =
        bounds.windows(2).map(|w| Region { start: w[0], end: w[1], entries: vec![w[0]] }).collect();
    let region_of = |pc: usize| bounds.partition_point(|&b| b <= pc).saturating_sub(1);
    for (pc, _) in prog.iter() {
        if let Some(t) = prog.branch_target(pc)
            && t < slots
            && region_of(t) != region_of(pc)
        {
            regions[region_of(t)].entries.push(t);
        }
    }
    for (pc, &r) in return_site.iter().enumerate().take(slots) {
        if r {
            regions[region_of(pc)].entries.push(pc);
        }
    }
    for r in &mut regions {
        r.entries.sort_unstable();
        r.entries.dedup();
    }
    regions
}

/// Whether an instruction of the region may touch the stack: an access the verifier proved
/// (partly) in the stack, or one through `r10` (the direct ABI then gives the function a
/// stack slot).
pub(crate) fn touches_stack(inp: &Input<'_>) -> bool {
    (inp.region.start..inp.region.end).filter_map(|pc| inp.plan.index[pc]).any(|i| {
        let base = match inp.prog.insns()[i] {
            Insn::Load { base, .. } | Insn::Store { base, .. } | Insn::Atomic { base, .. } => base,
            _ => return false,
        };
        base == Reg::R10
            || inp.access.is_none_or(|acc| matches!(acc[i], Access::Stack | Access::Either))
    })
}
