//! libpcap's validity rules (`bpf_validate` in `pcap/bpf_filter.c`), made strict where libpcap is
//! loose: 1 to [`MAXINSNS`] instructions; only the opcodes `bpf_filter` runs; scratch indexes
//! below 16; no division or modulo by the constant 0; every jump forward and inside the program
//! (libpcap lets `ja` go backwards for "ip6 protochain"; so do not we); and no path may run past
//! the last instruction (so the last reachable instruction of each path is a `ret`).
//!
//! Shifts by 32 or more are allowed, as libpcap allows them: they give 0 ([`super::interpret`]).

use super::{CbpfError, SockFilter, op};

/// Most instructions of a program (`BPF_MAXINSNS`).
pub const MAXINSNS: usize = 4096;

/// Whether `code` is an instruction libpcap's `bpf_filter` runs.
pub fn known_opcode(code: u16) -> bool {
    use op::*;
    match code & 0x07 {
        LD => matches!(code, 0x00 | 0x20 | 0x28 | 0x30 | 0x40 | 0x48 | 0x50 | 0x60 | 0x80),
        LDX => matches!(code, 0x01 | 0x61 | 0x81 | 0xb1),
        ST => code == ST,
        STX => code == STX,
        ALU => {
            let o = code & 0xf0;
            if o == NEG {
                return code == ALU | NEG;
            }
            code & !0xf8 == ALU
                && matches!(o, ADD | SUB | MUL | DIV | OR | AND | LSH | RSH | MOD | XOR)
        }
        JMP => {
            let o = code & 0xf0;
            if o == JA {
                return code == JMP | JA;
            }
            code & !0xf8 == JMP && matches!(o, JEQ | JGT | JGE | JSET)
        }
        RET => matches!(code, 0x06 | 0x16),
        _ => matches!(code, 0x07 | 0x87),
    }
}

/// Where control goes after instruction `i` (`None` for `ret`). Offsets are taken as given; the
/// caller checks them against the length.
pub(crate) fn successors(i: usize, f: &SockFilter) -> Option<[u64; 2]> {
    let next = i as u64 + 1;
    match f.code & 0x07 {
        op::RET => None,
        op::JMP if f.code == op::JMP | op::JA => {
            let t = next + f.k as u64;
            Some([t, t])
        }
        op::JMP => Some([next + f.jt as u64, next + f.jf as u64]),
        _ => Some([next, next]),
    }
}

/// Checks `prog` against libpcap's rules (see the module doc); the error names the first
/// instruction at fault.
pub fn validate(prog: &[SockFilter]) -> Result<(), CbpfError> {
    let n = prog.len();
    if n == 0 {
        return Err(CbpfError::whole("the program is empty"));
    }
    if n > MAXINSNS {
        return Err(CbpfError::whole(format!(
            "{n} instructions: a program has at most {MAXINSNS}"
        )));
    }
    for (i, f) in prog.iter().enumerate() {
        if !known_opcode(f.code) {
            return Err(CbpfError::at_insn(i, format!("unknown opcode {:#x}", f.code)));
        }
        let class = f.code & 0x07;
        let mode = f.code & 0xe0;
        let scratch = match class {
            op::LD | op::LDX => mode == op::MEM,
            op::ST | op::STX => true,
            _ => false,
        };
        if scratch && f.k >= op::MEMWORDS {
            return Err(CbpfError::at_insn(
                i,
                format!("scratch word M[{}] does not exist (there are {})", f.k, op::MEMWORDS),
            ));
        }
        if class == op::ALU
            && matches!(f.code & 0xf0, op::DIV | op::MOD)
            && f.code & op::X == 0
            && f.k == 0
        {
            return Err(CbpfError::at_insn(
                i,
                if f.code & 0xf0 == op::DIV {
                    "division by the constant 0"
                } else {
                    "modulo by the constant 0"
                },
            ));
        }
        if f.code == op::JMP | op::JA && f.k >= 1 << 31 {
            // libpcap runs this as a jump back (its `ja` offset is signed); we do not.
            let to = (i as u32).wrapping_add(1).wrapping_add(f.k) as i32;
            return Err(CbpfError::at_insn(
                i,
                format!("jump back to instruction {to}: only forward jumps are allowed"),
            ));
        }
        if class == op::JMP
            && let Some(ts) = successors(i, f)
        {
            for t in ts {
                if t >= n as u64 {
                    return Err(CbpfError::at_insn(
                        i,
                        format!(
                            "jump to instruction {t}, past the end of the program ({n} \
                             instructions)"
                        ),
                    ));
                }
            }
        }
    }
    // Every reachable instruction that is not a `ret` continues inside the program.
    let mut reach = vec![false; n];
    reach[0] = true;
    for i in 0..n {
        if !reach[i] {
            continue;
        }
        if let Some(ts) = successors(i, &prog[i]) {
            for t in ts {
                match reach.get_mut(t as usize) {
                    Some(r) => *r = true,
                    None => {
                        return Err(CbpfError::at_insn(
                            i,
                            "control runs past the last instruction (a program ends with ret)",
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
