//! What compiled programs compute, judged on the reference interpreter: arithmetic at each width,
//! signedness, casts, control flow, helpers, loops, packet views and the length rule.

mod common;
use common::{compile, run};

/// A `size` entry over an 16-byte object holding `a: T @ 0` and `b: T @ 8`, returning `expr`.
fn eval(ty: &str, expr: &str, a: u64, b: u64) -> u64 {
    let src = format!(
        "layout L le size 16 {{ a: {ty} @ 0, b: {ty} @ 8 }}\n\
         size f(x: L) -> u64 {{ let a = x.a; let b = x.b; ({expr}) as u64 }}"
    );
    let m = compile(&src);
    let mut input = [0u8; 16];
    input[..8].copy_from_slice(&a.to_le_bytes());
    input[8..].copy_from_slice(&b.to_le_bytes());
    run(&m, "f", &input).0
}

#[test]
fn arithmetic_wraps_at_the_type_width() {
    assert_eq!(eval("u8", "a + b", 200, 100), 44);
    assert_eq!(eval("u16", "a * b", 300, 300), (300u32 * 300 % 65536) as u64);
    assert_eq!(eval("u32", "a - b", 1, 2), 0xffff_ffff);
    assert_eq!(eval("u64", "a - b", 1, 2), u64::MAX);
    assert_eq!(eval("i8", "a + b", 100, 100), (-56i64) as u64);
    assert_eq!(eval("i32", "a * b", 0x10000, 0x10000), 0);
    assert_eq!(eval("u8", "a << b", 0x81, 1), 2);
    assert_eq!(eval("u8", "a << b", 1, 9), 2, "shift amounts are taken modulo the width");
    assert_eq!(eval("i16", "a >> b", 0x8000, 4), (-2048i64) as u64);
    assert_eq!(eval("u16", "a >> b", 0x8000, 4), 0x800);
    assert_eq!(eval("u8", "!a", 0x0f, 0), 0xf0);
    assert_eq!(eval("i8", "-a", 0x80, 0), (-128i64) as u64);
}

#[test]
fn division_by_zero_is_total() {
    assert_eq!(eval("u32", "a / b", 7, 0), 0);
    assert_eq!(eval("u32", "a % b", 7, 0), 7);
    assert_eq!(eval("i64", "a / b", i64::MIN as u64, u64::MAX), i64::MIN as u64);
    assert_eq!(eval("i32", "a / b", (-7i32) as u32 as u64, 2), (-3i64) as u64);
    assert_eq!(eval("i32", "a % b", (-7i32) as u32 as u64, 2), (-1i64) as u64);
    assert_eq!(eval("i8", "a / b", 0x80, 0xff), (-128i64) as u64);
}

#[test]
fn comparisons_are_signed_only_for_signed_types() {
    assert_eq!(eval("u32", "if a < b { 1 } else { 0 }", 0xffff_ffff, 1), 0);
    assert_eq!(eval("i32", "if a < b { 1 } else { 0 }", 0xffff_ffff, 1), 1);
    assert_eq!(eval("i8", "if a >= b { 1 } else { 0 }", 0x80, 0x7f), 0);
    assert_eq!(eval("u64", "if a == b && a != 0 { 1 } else { 2 }", 5, 5), 1);
    assert_eq!(eval("u64", "if a == 0 || b == 0 { 1 } else { 2 }", 5, 5), 2);
}

#[test]
fn casts_truncate_and_extend() {
    assert_eq!(eval("u32", "a as u8", 0x1234, 0), 0x34);
    assert_eq!(eval("u32", "a as i8", 0x80, 0), (-128i64) as u64);
    assert_eq!(eval("i8", "a as i64", 0xff, 0), u64::MAX);
    assert_eq!(eval("i8", "a as u16", 0xff, 0), 0xffff);
    assert_eq!(eval("u16", "a as i32", 0xffff, 0), 0xffff);
    assert_eq!(eval("u8", "(a == 3) as u64 + b", 3, 4), 5);
}

#[test]
fn big_endian_fields_and_nested_layouts() {
    let m = compile(
        "layout In be { hi: u16 @ 0, lo: u16 le @ 2 }
         layout Out size 12 { pad: u32 @ 0, inner: [In; 2] @ 4, s: i16 be @ 4 }
         size f(x: Out) -> u64 { (x.inner[1].hi as u64) << 32 | (x.inner[1].lo as u64) << 16 | x.inner[0].hi as u64 }
         size g(x: Out) -> u64 { x.s as i64 as u64 }",
    );
    let input = [0, 0, 0, 0, 0xff, 0xfe, 0, 0, 0x12, 0x34, 0x78, 0x56];
    assert_eq!(run(&m, "f", &input).0, 0x1234_5678_fffe);
    assert_eq!(run(&m, "g", &input).0, (-2i64) as u64);
}

#[test]
fn helpers_loops_break_continue_and_mutation() {
    let m = compile(
        "layout B size 16 { v: [u8; 16] @ 0 }
         fn clamp(x: u64, hi: u64) -> u64 { if x > hi { return hi; } x }
         size sum(b: B) -> u64 {
             let mut s = 0;
             for k in 0..16 {
                 if b.v[k] == 0xff { break; }
                 if b.v[k] % 2 == 1 { continue; }
                 s += clamp(b.v[k] as u64, 10);
             }
             s
         }
         size count(b: B) -> u64 {
             let mut n: u64 = 0;
             for k in 0..b.v[0] as u64 max 15 { n = n + b.v[k + 1]; }
             n
         }",
    );
    let mut input = [0u8; 16];
    input[..6].copy_from_slice(&[2, 3, 40, 4, 0xff, 6]);
    assert_eq!(run(&m, "sum", &input).0, 2 + 10 + 4);
    let mut c = [1u8; 16];
    c[0] = 3;
    assert_eq!(run(&m, "count", &c).0, 3);
    c[0] = 200;
    assert_eq!(run(&m, "count", &c).0, 15, "at most `max` iterations");
}

#[test]
fn owns_emits_in_order_and_returns_malformed() {
    let m = compile(
        "layout X size 8 { n: u32 @ 0, start: u32 @ 4 }
         owns o(x: X) {
             if x.n > 4 { return 7; }
             for k in 0..x.n as u64 max 4 { emit(x.start + k, 1, 2); }
         }",
    );
    let (r0, ext) = run(&m, "o", &[3, 0, 0, 0, 100, 0, 0, 0]);
    assert_eq!(r0, 0);
    let got: Vec<_> = ext.iter().map(|e| (e.start, e.count, e.kind)).collect();
    assert_eq!(got, vec![(100, 1, 2), (101, 1, 2), (102, 1, 2)]);
    assert_eq!(run(&m, "o", &[9, 0, 0, 0, 100, 0, 0, 0]), (7, vec![]));
}

#[test]
fn acl_reads_the_request() {
    let m = compile(
        "layout Obj size 8 { owner: u64 @ 0 }
         acl mine(x: Obj, req: request) -> bool { req.principal == x.owner && req.op < 2 }",
    );
    let mut input = [0u8; 24];
    input[0] = 42;
    input[16] = 42;
    assert_eq!(run(&m, "mine", &input).0, 1);
    input[8] = 2;
    assert_eq!(run(&m, "mine", &input).0, 0);
}

fn tcp_packet(dport: u16, ihl: u8, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len.max(64)];
    p[12] = 0x08;
    p[14] = 0x40 | ihl;
    p[23] = 6;
    let t = 14 + 4 * ihl as usize;
    p[t + 2..t + 4].copy_from_slice(&dport.to_be_bytes());
    p.truncate(len);
    p
}

#[test]
fn filters_follow_ihl_and_reject_short_packets() {
    let m = compile(
        "filter web(p: packet) { p.ether.type == 0x0800 && p.ipv4.proto == 6 && p.tcp.dst == 80 }
         filter raw(p: packet) { p.u16be[12] == 0x0800 && p.u8[p.len - 1] == 0 }
         filter wire(p: packet) { p.wirelen > 60 }",
    );
    assert_eq!(run(&m, "web", &tcp_packet(80, 5, 64)).0, 262_144);
    assert_eq!(run(&m, "web", &tcp_packet(80, 6, 64)).0, 262_144, "IHL moves the TCP header");
    assert_eq!(run(&m, "web", &tcp_packet(81, 5, 64)).0, 0);
    // Cut inside the port: rejected, as libpcap does.
    assert_eq!(run(&m, "web", &tcp_packet(80, 5, 37)).0, 0);
    assert_eq!(run(&m, "web", &tcp_packet(80, 5, 38)).0, 262_144);
    assert_eq!(run(&m, "raw", &tcp_packet(80, 5, 64)).0, 262_144);
    assert_eq!(run(&m, "wire", &tcp_packet(80, 5, 64)).0, 262_144);
    assert_eq!(run(&m, "wire", &tcp_packet(80, 5, 60)).0, 0);
}

#[test]
fn filter_length_tests_are_merged() {
    let m = compile(
        "filter web(p: packet) { p.ether.type == 0x0800 && p.ipv4.proto == 6 && p.tcp.dst == 80 }",
    );
    let prog = &m.entry("web").unwrap().prog;
    let tests = prog
        .insns()
        .iter()
        .filter(|i| matches!(i, udf_bytecode::Insn::Jump { dst, src, .. }
            if *dst == udf_bytecode::Reg::R8 || *src == udf_bytecode::Source::Reg(udf_bytecode::Reg::R8)))
        .count();
    assert_eq!(tests, 2, "one test of the fixed bytes, one past the IPv4 header");
}
