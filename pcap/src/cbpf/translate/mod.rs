//! Classic BPF to eBPF of program type `filter`, with direct packet loads the verifier proves in
//! bounds (no `LD_ABS`/`LD_IND`), and few length tests.
//!
//! Registers: the entry registers stay where the ABI puts them: `r1` the packet, `r2` the
//! captured length, `r3` the length on the wire. A is `r0` (so `ret A` is a bare `exit`), X is
//! `r6`; `r4` is a scratch register within one classic instruction and `r5` holds `r1 + X` while
//! X does not change (so an indirect load is one load). The three scratch words used most live in
//! `r7`-`r9`, the others in 4-byte stack words below `r10`. Only the cells that some path reads
//! before writing are zeroed on entry (the verifier refuses reads of unwritten cells). All
//! arithmetic is 32-bit, so every cell stays zero-extended and 64-bit compares are exact.
//!
//! Every path that makes the filter return 0 without reading more (a load past the captured
//! bytes, a division by a zero X, `ret #0`) goes to one shared `r0 = 0; exit`.
//!
//! Length tests are merged, from two passes over the (forward-only) control flow:
//! - backwards, per instruction, the furthest byte that *every* path from there reads at a fixed
//!   offset before it returns something other than 0 (paths that end in `ret #0` or always fail
//!   ask for nothing: they return 0 whatever the length), and the same for `[x + k]` loads while
//!   X keeps its value;
//! - forwards, while emitting, the length already tested on every path into an instruction.
//!
//! A load not covered by what is already tested tests the anticipated maximum instead of its own
//! end. That is exact: when the test fails, every path from here would have read out of bounds
//! (or returned 0) anyway, and the result is 0 either way. An indirect test is `X + n > caplen`
//! over 64 bits, libpcap's unwrapped `X + k + size <= caplen`. Instructions from which every
//! path returns 0 are not emitted at all (a jump to them goes to the shared exit); neither is
//! dead code.
//!
//! What the verifier sees: a constant test `caplen < n` raises its minimum length; an indirect
//! test ties the fact `X + n <= len` to the symbol of the value in `r6`, which is one symbol on
//! every path where the emitter believes X unchanged (one joined state per instruction). Where
//! paths carrying different X values meet, X is re-defined (`w6 = w6`) before its next test, so
//! the fact has a symbol to hold on to.

use udf_bytecode::{
    AluOp, BuildError, Endian, FarJumps, Insn, JmpCond, Label, Program, ProgramBuilder,
    ProgramType, Reg, Size, Source, SwapBits, Width,
};
use udf_verifier::{Config, Verified};

use super::validate::validate;
use super::{CbpfError, SockFilter, op};

mod emitter;

use emitter::Emitter;

const A: Reg = Reg::R0;
const PKT: Reg = Reg::R1;
const CAPLEN: Reg = Reg::R2;
const WIRE: Reg = Reg::R3;
const TMP: Reg = Reg::R4;
const XP: Reg = Reg::R5;
const X: Reg = Reg::R6;
const MEM_REGS: [Reg; 3] = [Reg::R7, Reg::R8, Reg::R9];

/// "Every path from here returns 0": no length can make a difference.
const INF: u64 = u64::MAX;
/// The longest packet the engines run a filter on.
const MAX_LEN: u64 = u32::MAX as u64;

/// One classic instruction, decoded.
#[derive(Clone, Copy, Debug)]
enum Op {
    RetK(u32),
    RetA,
    /// `ld`/`ldx #k`; `x` for ldx.
    Imm {
        x: bool,
        k: u32,
    },
    /// `ld`/`ldx #len` (wire length).
    Len {
        x: bool,
    },
    /// `ld`/`ldx M[k]`.
    LdMem {
        x: bool,
        k: u32,
    },
    /// `st`/`stx M[k]`.
    St {
        x: bool,
        k: u32,
    },
    /// `ld[h|b] [k]`.
    Abs {
        size: Size,
        k: u32,
    },
    /// `ld[h|b] [x + k]`.
    Ind {
        size: Size,
        k: u32,
    },
    /// `ldxb 4*([k]&0xf)`.
    Msh {
        k: u32,
    },
    Tax,
    Txa,
    Alu {
        op: u16,
        x: bool,
        k: u32,
    },
    Neg,
    Ja(usize),
    Jcc {
        op: u16,
        x: bool,
        k: u32,
        t: usize,
        f: usize,
    },
}

fn decode(i: usize, f: &SockFilter) -> Op {
    let size = match f.code & 0x18 {
        op::H => Size::H,
        op::B => Size::B,
        _ => Size::W,
    };
    let k = f.k;
    match f.code {
        0x06 => Op::RetK(k),
        0x16 => Op::RetA,
        0x00 | 0x01 => Op::Imm { x: f.code == 0x01, k },
        0x80 | 0x81 => Op::Len { x: f.code == 0x81 },
        0x60 | 0x61 => Op::LdMem { x: f.code == 0x61, k },
        0x02 | 0x03 => Op::St { x: f.code == 0x03, k },
        0x20 | 0x28 | 0x30 => Op::Abs { size, k },
        0x40 | 0x48 | 0x50 => Op::Ind { size, k },
        0xb1 => Op::Msh { k },
        0x07 => Op::Tax,
        0x87 => Op::Txa,
        0x84 => Op::Neg,
        0x05 => Op::Ja(i + 1 + k as usize),
        c if c & 0x07 == op::JMP => Op::Jcc {
            op: c & 0xf0,
            x: c & op::X != 0,
            k,
            t: i + 1 + f.jt as usize,
            f: i + 1 + f.jf as usize,
        },
        c => Op::Alu { op: c & 0xf0, x: c & op::X != 0, k },
    }
}

/// Cells whose first read needs a written value: bit 0 = A, bit 1 = X, bit 2 + k = M[k].
const CELL_A: u32 = 1;
const CELL_X: u32 = 2;
const fn cell_m(k: u32) -> u32 {
    4 << k
}

/// (reads, writes) of an instruction, as cell masks.
fn cells(o: &Op) -> (u32, u32) {
    match *o {
        Op::RetK(_) | Op::Ja(_) => (0, 0),
        Op::RetA => (CELL_A, 0),
        Op::Imm { x, .. } | Op::Len { x } => (0, if x { CELL_X } else { CELL_A }),
        Op::LdMem { x, k } => (cell_m(k), if x { CELL_X } else { CELL_A }),
        Op::St { x, k } => (if x { CELL_X } else { CELL_A }, cell_m(k)),
        Op::Abs { .. } => (0, CELL_A),
        Op::Ind { .. } => (CELL_X, CELL_A),
        Op::Msh { .. } => (0, CELL_X),
        Op::Tax => (CELL_A, CELL_X),
        Op::Txa => (CELL_X, CELL_A),
        Op::Alu { x, .. } => (CELL_A | if x { CELL_X } else { 0 }, CELL_A),
        Op::Jcc { x, .. } => (CELL_A | if x { CELL_X } else { 0 }, 0),
        Op::Neg => (CELL_A, CELL_A),
    }
}

/// The end of a packet load (`k + size`), or `None` when it can never be in bounds.
fn load_end(k: u32, size: Size) -> Option<u64> {
    let end = k as u64 + size.bytes() as u64;
    (end <= MAX_LEN).then_some(end)
}

/// Where a scratch word lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Home {
    Reg(Reg),
    Stack(i16),
}

/// Stack offset of M[k]: pairs of words share an 8-byte slot, so one store zeroes both.
fn stack_off(k: u32) -> i16 {
    -8 * (k as i16 / 2 + 1) + 4 * (k as i16 % 2)
}

/// What the passes over the classic program found.
struct Plan {
    ops: Vec<Op>,
    /// Every path from the instruction returns 0.
    zero: Vec<bool>,
    /// Reachable and not `zero`: emitted.
    live: Vec<bool>,
    /// Furthest fixed-offset byte every non-zero path from here reads.
    ant_fixed: Vec<u64>,
    /// Furthest `X + n` every non-zero path from here reads before X changes.
    ant_ind: Vec<u64>,
    /// Cells to zero on entry.
    init: u32,
    homes: [Home; 16],
}

fn successors(o: &Op, i: usize) -> ([usize; 2], usize) {
    match *o {
        Op::RetK(_) | Op::RetA => ([0, 0], 0),
        Op::Abs { k, size } | Op::Ind { k, size } if load_end(k, size).is_none() => ([0, 0], 0),
        Op::Msh { k } if load_end(k, Size::B).is_none() => ([0, 0], 0),
        Op::Ja(t) => ([t, t], 1),
        Op::Jcc { t, f, .. } => ([t, f], 2),
        _ => ([i + 1, i + 1], 1),
    }
}

impl Plan {
    fn new(prog: &[SockFilter]) -> Plan {
        let n = prog.len();
        let ops: Vec<Op> = prog.iter().enumerate().map(|(i, f)| decode(i, f)).collect();
        // Backward pass; index `n` stands for running off the end (a 0 result).
        let mut zero = vec![true; n + 1];
        let mut ant_fixed = vec![INF; n + 1];
        let mut ant_ind = vec![INF; n + 1];
        for i in (0..n).rev() {
            let nx = (i + 1).min(n);
            let (z, af, ai) = match ops[i] {
                Op::RetK(0) => (true, INF, INF),
                Op::RetK(_) | Op::RetA => (false, 0, 0),
                Op::Abs { k, size } => match load_end(k, size) {
                    None => (true, INF, INF),
                    Some(e) => (zero[nx], e.max(ant_fixed[nx]), ant_ind[nx]),
                },
                Op::Msh { k } => match load_end(k, Size::B) {
                    None => (true, INF, INF),
                    Some(e) => (zero[nx], e.max(ant_fixed[nx]), 0),
                },
                Op::Ind { k, size } => match load_end(k, size) {
                    None => (true, INF, INF),
                    Some(e) => (zero[nx], ant_fixed[nx], e.max(ant_ind[nx])),
                },
                Op::Imm { x: true, .. }
                | Op::Len { x: true }
                | Op::LdMem { x: true, .. }
                | Op::Tax => (zero[nx], ant_fixed[nx], 0),
                Op::Ja(t) => {
                    let t = t.min(n);
                    (zero[t], ant_fixed[t], ant_ind[t])
                }
                Op::Jcc { t, f, .. } => {
                    let (t, f) = (t.min(n), f.min(n));
                    (zero[t] && zero[f], ant_fixed[t].min(ant_fixed[f]), ant_ind[t].min(ant_ind[f]))
                }
                _ => (zero[nx], ant_fixed[nx], ant_ind[nx]),
            };
            zero[i] = z;
            ant_fixed[i] = if z { INF } else { af };
            ant_ind[i] = if z { INF } else { ai };
        }
        // Forward: reachability through emitted instructions, and cells written on every path.
        let mut live = vec![false; n];
        let mut defined: Vec<Option<u32>> = vec![None; n];
        let mut init = 0u32;
        if n > 0 && !zero[0] {
            defined[0] = Some(0);
        }
        for i in 0..n {
            let Some(d) = defined[i] else { continue };
            live[i] = true;
            let (reads, writes) = cells(&ops[i]);
            init |= reads & !d;
            let out = d | reads | writes;
            let (succ, count) = successors(&ops[i], i);
            for &s in &succ[..count] {
                if s < n && !zero[s] {
                    defined[s] = Some(defined[s].map_or(out, |e| e & out));
                }
            }
        }
        // Scratch homes: the three words used most (ties: lower index) in registers.
        let mut uses = [0usize; 16];
        for (i, o) in ops.iter().enumerate() {
            if let (true, Op::LdMem { k, .. } | Op::St { k, .. }) = (live[i], o) {
                uses[*k as usize] += 1;
            }
        }
        let mut order: Vec<usize> = (0..16).filter(|&k| uses[k] > 0).collect();
        order.sort_by_key(|&k| (std::cmp::Reverse(uses[k]), k));
        let mut homes = [Home::Stack(0); 16];
        for (k, h) in homes.iter_mut().enumerate() {
            *h = Home::Stack(stack_off(k as u32));
        }
        for (&k, &r) in order.iter().zip(MEM_REGS.iter()) {
            homes[k] = Home::Reg(r);
        }
        Plan { ops, zero, live, ant_fixed, ant_ind, init, homes }
    }
}

/// The eBPF and, per eBPF instruction, the classic instruction it came from. Jumps have 16-bit
/// offsets; when one does not fit, every jump to a label takes its `gotol` form
/// ([`FarJumps::AlwaysGotol`]), which `far` asks for from the start.
fn translate_mapped(
    prog: &[SockFilter],
    far: bool,
) -> Result<(Program, Vec<Option<usize>>), CbpfError> {
    validate(prog)?;
    let plan = Plan::new(prog);
    let mut code = Emitter::new(&plan).run();
    if far {
        code.set_far_jumps(FarJumps::AlwaysGotol);
    }
    let built = match code.finish() {
        Err(BuildError::TooFar { .. }) if !far => {
            code.set_far_jumps(FarJumps::AlwaysGotol);
            code.finish()
        }
        built => built,
    };
    built.map_err(|e| CbpfError::whole(format!("translator bug: {e}")))
}

/// Validates `prog` ([`validate`]) and translates it to eBPF of program type `filter`.
pub fn translate(prog: &[SockFilter]) -> Result<Program, CbpfError> {
    translate_mapped(prog, false).map(|(p, _)| p)
}

/// [`translate`], then verifies the result as a `filter`. A rejection is a translator bug; it is
/// reported as an error naming the classic instruction whose code the verifier refused.
pub fn compile(prog: &[SockFilter]) -> Result<(Program, Verified), CbpfError> {
    let (p, origin) = translate_mapped(prog, false)?;
    let conf = Config::new(ProgramType::Filter);
    match udf_verifier::verify(&p, &conf) {
        Ok(facts) => Ok((p, facts)),
        Err(rej) => Err(CbpfError {
            index: origin.get(rej.index).copied().flatten(),
            line: None,
            message: format!(
                "translator bug: the verifier rejects eBPF instruction {} made for it: {rej}",
                rej.index
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use udf_bytecode::CheckConfig;
    use udf_runtime::{Context, NoHelpers, RunOptions, Vm};

    /// 32-bit jumps (for programs too long for 16-bit offsets, which the classic instruction
    /// limit makes hard to reach) verify and compute the same as 16-bit ones.
    #[test]
    fn far_jumps_verify_and_agree() {
        let s = SockFilter::stmt;
        let j = SockFilter::jump;
        let progs: [&[SockFilter]; 2] = [
            // ldh [12]; jset #0x100 (true falls through); jeq x; ldb [x + 1]; div x; ret a
            &[
                s(0x28, 12),
                j(0x45, 0x100, 0, 5),
                s(0xb1, 14),
                j(0x1d, 0, 3, 0),
                s(0x50, 1),
                s(0x3c, 0),
                s(0x16, 0),
                s(0x06, 7),
            ],
            // ld [2]; jgt #0x80000000; jge #3; ja; ret
            &[
                s(0x20, 2),
                j(0x25, 0x8000_0000, 1, 0),
                j(0x35, 3, 1, 2),
                s(0x05, 1),
                s(0x06, 9),
                s(0x16, 0),
            ],
        ];
        let mut vm = Vm::new();
        for prog in progs {
            let (near, _) = translate_mapped(prog, false).unwrap();
            let (far, _) = translate_mapped(prog, true).unwrap();
            assert!(far.insns().iter().any(|i| matches!(i, Insn::Ja32 { .. })));
            udf_verifier::verify(&far, &Config::new(ProgramType::Filter)).unwrap();
            let cfg = CheckConfig::for_type(ProgramType::Filter);
            let (cn, cf) = (
                udf_runtime::prepare(&near, &cfg).unwrap(),
                udf_runtime::prepare(&far, &cfg).unwrap(),
            );
            for len in 0..24u8 {
                for fill in [0u8, 1, 2, 0x81, 0xff] {
                    let pkt: Vec<u8> = (0..len).map(|b| b.wrapping_mul(fill)).collect();
                    let opts = RunOptions { budget: 1000, r3: 30 };
                    let mut run =
                        |c| vm.run(c, Context::ReadOnly(&pkt), &mut NoHelpers, &opts).unwrap().r0;
                    let want = super::super::interpret(prog, &pkt, 30) as u64;
                    assert_eq!((run(&cn), run(&cf)), (want, want));
                }
            }
        }
    }
}
