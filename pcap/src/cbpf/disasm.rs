//! The `tcpdump -d` listing: libpcap's `bpf_image()` (`bpf_image.c`), character for character,
//! including its quirks: constants printed with `%d` show as signed, absolute loads at Linux's
//! special offsets (`SKF_AD_OFF + n`) print by name (`[ifidx]`), an instruction without operand
//! has no trailing blanks, and an unknown opcode prints as `unimp 0x..`.

use std::fmt::Write;

use super::{SockFilter, op};

/// Linux's special load offsets start here (`SKF_AD_OFF`, -0x1000).
const SKF_AD_OFF: u32 = 0xffff_f000;

/// The names of the special offsets `bpf_image` knows (`SKF_AD_*`, indexed by offset / 4).
const SKF_AD_NAMES: [&str; 16] = [
    "proto",
    "type",
    "ifidx",
    "nla",
    "nlan",
    "mark",
    "queue",
    "hatype",
    "rxhash",
    "cpu",
    "xor_x",
    "vlan_tci",
    "vlanp",
    "poff",
    "random",
    "vlan_tpid",
];

fn abs_operand(k: u32) -> String {
    let rel = k.wrapping_sub(SKF_AD_OFF);
    if k >= SKF_AD_OFF && rel < 64 && rel.is_multiple_of(4) {
        format!("[{}]", SKF_AD_NAMES[(rel / 4) as usize])
    } else {
        format!("[{}]", k as i32)
    }
}

/// One line of the listing, without the newline, for instruction `f` at index `n`.
pub fn image(f: &SockFilter, n: usize) -> String {
    let k = f.k;
    let signed = k as i32;
    let (opname, operand): (&str, String) = match f.code {
        0x06 => ("ret", format!("#{signed}")),
        0x16 => ("ret", String::new()),
        0x20 => ("ld", abs_operand(k)),
        0x28 => ("ldh", abs_operand(k)),
        0x30 => ("ldb", abs_operand(k)),
        0x80 => ("ld", "#pktlen".into()),
        0x81 => ("ldx", "#pktlen".into()),
        0x40 => ("ld", format!("[x + {signed}]")),
        0x48 => ("ldh", format!("[x + {signed}]")),
        0x50 => ("ldb", format!("[x + {signed}]")),
        0x00 => ("ld", format!("#0x{k:x}")),
        0x01 => ("ldx", format!("#0x{k:x}")),
        0xb1 => ("ldxb", format!("4*([{signed}]&0xf)")),
        0x60 => ("ld", format!("M[{signed}]")),
        0x61 => ("ldx", format!("M[{signed}]")),
        0x02 => ("st", format!("M[{signed}]")),
        0x03 => ("stx", format!("M[{signed}]")),
        0x05 => ("ja", format!("{}", (n as u32).wrapping_add(1).wrapping_add(k) as i32)),
        0x25 => ("jgt", format!("#0x{k:x}")),
        0x35 => ("jge", format!("#0x{k:x}")),
        0x15 => ("jeq", format!("#0x{k:x}")),
        0x45 => ("jset", format!("#0x{k:x}")),
        0x2d => ("jgt", "x".into()),
        0x3d => ("jge", "x".into()),
        0x1d => ("jeq", "x".into()),
        0x4d => ("jset", "x".into()),
        0x84 => ("neg", String::new()),
        0x07 => ("tax", String::new()),
        0x87 => ("txa", String::new()),
        c if c & 0x07 == op::ALU && c & !0xf8 == op::ALU => {
            let name = match c & 0xf0 {
                op::ADD => Some("add"),
                op::SUB => Some("sub"),
                op::MUL => Some("mul"),
                op::DIV => Some("div"),
                op::MOD => Some("mod"),
                op::AND => Some("and"),
                op::OR => Some("or"),
                op::XOR => Some("xor"),
                op::LSH => Some("lsh"),
                op::RSH => Some("rsh"),
                _ => None,
            };
            match name {
                None => ("unimp", format!("0x{c:x}")),
                Some(name) if c & op::X != 0 => (name, "x".into()),
                Some(name) if matches!(c & 0xf0, op::AND | op::OR | op::XOR) => {
                    (name, format!("#0x{k:x}"))
                }
                Some(name) => (name, format!("#{signed}")),
            }
        }
        c => ("unimp", format!("0x{c:x}")),
    };
    let is_jump = f.code & 0x07 == op::JMP && f.code & 0xf0 != op::JA;
    if is_jump {
        format!(
            "({n:03}) {opname:<8} {operand:<16} jt {}\tjf {}",
            n + 1 + f.jt as usize,
            n + 1 + f.jf as usize
        )
    } else if operand.is_empty() {
        format!("({n:03}) {opname}")
    } else {
        format!("({n:03}) {opname:<8} {operand}")
    }
}

/// The `tcpdump -d` listing of `prog`: one line per instruction, each ending in a newline.
pub fn disasm(prog: &[SockFilter]) -> String {
    let mut out = String::new();
    for (n, f) in prog.iter().enumerate() {
        let _ = writeln!(out, "{}", image(f, n));
    }
    out
}
