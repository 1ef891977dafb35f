//! The classic BPF module: importers, validity rules, the `tcpdump -d` listing, and the
//! translation to eBPF, which must give exactly the reference interpreter's result on the eBPF
//! interpreter, the checking interpreter and the JIT, for random valid programs and packets.

use std::cell::RefCell;

use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, TestRunner};
use udf_bytecode::{CheckConfig, Insn, JmpCond, Program, ProgramType};
use udf_pcap::cbpf::{
    self, CbpfError, SockFilter, compile, disasm, interpret, parse_any, parse_dd, parse_raw,
    to_raw, translate, validate,
};
use udf_runtime::{Context, NoHelpers, RunOptions, Vm};

mod golden;
use golden::Golden;

const fn s(code: u16, k: u32) -> SockFilter {
    SockFilter::stmt(code, k)
}
const fn j(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter::jump(code, k, jt, jf)
}

/// `tcpdump -dd -y EN10MB 'tcp port 80'` (libpcap 1.10).
const TCP_PORT_80_DD: &str = "{ 0x28, 0, 0, 0x0000000c },
{ 0x15, 0, 6, 0x000086dd },
{ 0x30, 0, 0, 0x00000014 },
{ 0x15, 0, 15, 0x00000006 },
{ 0x28, 0, 0, 0x00000036 },
{ 0x15, 12, 0, 0x00000050 },
{ 0x28, 0, 0, 0x00000038 },
{ 0x15, 10, 11, 0x00000050 },
{ 0x15, 0, 10, 0x00000800 },
{ 0x30, 0, 0, 0x00000017 },
{ 0x15, 0, 8, 0x00000006 },
{ 0x28, 0, 0, 0x00000014 },
{ 0x45, 6, 0, 0x00001fff },
{ 0xb1, 0, 0, 0x0000000e },
{ 0x48, 0, 0, 0x0000000e },
{ 0x15, 2, 0, 0x00000050 },
{ 0x48, 0, 0, 0x00000010 },
{ 0x15, 0, 1, 0x00000050 },
{ 0x6, 0, 0, 0x00040000 },
{ 0x6, 0, 0, 0x00000000 },
";

/// [`TCP_PORT_80_DD`]'s 20 instructions.
fn tcp_port_80() -> Vec<SockFilter> {
    let prog: Vec<SockFilter> = TCP_PORT_80_DD.lines().map(dd_line).collect();
    assert_eq!(prog.len(), 20);
    prog
}

/// The programs of libpcap's test data (`accept.json`) in `tests/golden/libpcap/`, with the
/// listing libpcap's `bpf_image` prints for each: the golden file and its program.
fn libpcap_listings() -> Vec<(Golden, Vec<SockFilter>)> {
    let cases: Vec<(Golden, Vec<SockFilter>)> = golden::load("libpcap")
        .into_iter()
        .map(|g| {
            let prog = g.body().map(dd_line).collect();
            (g, prog)
        })
        .collect();
    assert_eq!(cases.len(), 10, "libpcap's listings");
    cases
}

/// One `{ code, jt, jf, k },` line of `tcpdump -dd`.
fn dd_line(line: &str) -> SockFilter {
    let fields: Vec<u32> = line
        .trim()
        .trim_start_matches('{')
        .trim_end_matches("},")
        .split(',')
        .map(|f| {
            let f = f.trim();
            match f.strip_prefix("0x") {
                Some(h) => u32::from_str_radix(h, 16),
                None => f.parse(),
            }
            .unwrap_or_else(|e| panic!("{line:?}: {e}"))
        })
        .collect();
    let [code, jt, jf, k] = fields[..] else { panic!("{line:?}: not `{{ code, jt, jf, k }},`") };
    j(code as u16, k, jt as u8, jf as u8)
}

/// Runs a compiled filter on the interpreter, the checking interpreter and the JIT, checks they
/// agree, and returns the result.
struct Engines {
    prog: Program,
    compiled: udf_runtime::Compiled,
    checked_facts: udf_verifier::Verified,
    exe: udf_jit::Executable,
}

thread_local! {
    static JIT: RefCell<udf_jit::Jit> = RefCell::new(
        udf_jit::Jit::new(udf_jit::Target::host().expect("a JIT target")).expect("a JIT"),
    );
}

impl Engines {
    fn new(cbpf: &[SockFilter]) -> Engines {
        let (prog, facts) = match compile(cbpf) {
            Ok(r) => r,
            Err(e) => panic!("compile: {e}\n{}", disasm(cbpf)),
        };
        let compiled = udf_runtime::prepare(&prog, &CheckConfig::for_type(ProgramType::Filter))
            .expect("pre-run checks");
        let mut conf = udf_verifier::Config::new(ProgramType::Filter);
        conf.record_states = true;
        let checked_facts = udf_verifier::verify(&prog, &conf).expect("verifies again");
        let code = JIT
            .with(|j| {
                j.borrow_mut().compile(&prog, ProgramType::Filter, udf_jit::Mode::Trusted(&facts))
            })
            .expect("JIT compiles");
        let exe = udf_jit::Executable::new(code).expect("JIT code maps");
        Engines { prog, compiled, checked_facts, exe }
    }

    fn run(&self, vm: &mut Vm, pkt: &[u8], wire: u32) -> [u64; 3] {
        let opts = RunOptions { budget: 1 << 20, r3: wire as u64 };
        let interp = vm
            .run(&self.compiled, Context::ReadOnly(pkt), &mut NoHelpers, &opts)
            .expect("the interpreter does not fault")
            .r0;
        let checked = udf_runtime::checking::run_checked(
            &self.prog,
            &self.checked_facts,
            ProgramType::Filter,
            pkt,
            wire as u64,
        )
        .unwrap_or_else(|v| panic!("checking interpreter: {v:?}"))
        .outcome
        .r0;
        let jit = self
            .exe
            .run(vm, Context::ReadOnly(pkt), &mut NoHelpers, &opts)
            .expect("the JIT code does not fault")
            .r0;
        [interp, checked, jit]
    }
}

/// Asserts every engine gives `interpret`'s result.
fn agree(e: &Engines, cbpf: &[SockFilter], vm: &mut Vm, pkt: &[u8], wire: u32) {
    let want = interpret(cbpf, pkt, wire) as u64;
    let got = e.run(vm, pkt, wire);
    assert_eq!(
        got,
        [want; 3],
        "[interp, checked, jit] on packet {pkt:02x?} (wire {wire})\n{}\neBPF:\n{}",
        disasm(cbpf),
        udf_bytecode::disassemble(&e.prog)
    );
}

// ---- random valid programs ----------------------------------------------------------------

/// One raw choice per instruction: (selector, constant, jt, jf).
type Raw = (u8, u32, u8, u8);

/// Turns raw choices into a valid program of `raw.len() + 1` instructions (the last a `ret`).
fn make_valid(raw: &[Raw]) -> Vec<SockFilter> {
    let n = raw.len() + 1;
    let mut out = Vec::with_capacity(n);
    for (i, &(sel, r, a, b)) in raw.iter().enumerate() {
        // Jump offsets keep the target inside: i + 1 + off <= n - 1.
        let room = (n - 2 - i).min(255);
        let off = |x: u8| (x as usize % (room + 1)) as u8;
        // Packet offsets: mostly inside an 80-byte packet, now and then far or at the top.
        let pk = match r >> 24 {
            0..=3 => [40_000, 0x7fff_fffe, 0xffff_fffc, 0xffff_ffff][(r >> 24) as usize],
            _ => r % 72,
        };
        // Constants: small ones match small packet bytes; sometimes any 32-bit value.
        let c = if r & 0x100 != 0 { r } else { r % 8 };
        let m = r % 16;
        let size = [0x00, 0x08, 0x10][(r % 3) as usize];
        let f = match sel % 32 {
            0..=3 => s(0x20 | size, pk),
            4..=6 => s(0x40 | size, if r >> 24 < 4 { pk } else { r % 24 }),
            7 => s(0xb1, pk),
            8 => s([0x00, 0x01][(r % 2) as usize], c),
            9 => s([0x80, 0x81][(r % 2) as usize], 0),
            10 => s([0x60, 0x61][(r % 2) as usize], m),
            11 => s([0x02, 0x03][(r % 2) as usize], m),
            12 => s(0x07, 0),
            13 => s(0x87, 0),
            14..=17 => {
                let ops = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0];
                let o = ops[(a as usize) % ops.len()];
                let k = match o {
                    0x30 | 0x90 => c.max(1),
                    0x60 | 0x70 => [0, 1, 7, 31, 32, 33, 63, r][((r >> 8) % 8) as usize],
                    _ => c,
                };
                s(0x04 | o, k)
            }
            18..=19 => {
                let ops = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xa0];
                s(0x04 | 0x08 | ops[(a as usize) % ops.len()], 0)
            }
            20 => s(0x84, 0),
            21 => s(0x05, off(a) as u32),
            22..=27 => {
                let o = [0x10, 0x20, 0x30, 0x40][(r % 4) as usize];
                j(0x05 | o, c, off(a), off(b))
            }
            28..=29 => {
                let o = [0x10, 0x20, 0x30, 0x40][(r % 4) as usize];
                j(0x05 | 0x08 | o, 0, off(a), off(b))
            }
            30 => s(0x06, [0, 1, 0xffff_ffff, r][(a % 4) as usize]),
            _ => s(0x16, 0),
        };
        out.push(f);
    }
    out.push(if raw.last().is_some_and(|r| r.2 % 2 == 0) { s(0x16, 0) } else { s(0x06, 0x40000) });
    out
}

fn arb_program() -> impl Strategy<Value = Vec<SockFilter>> {
    prop::collection::vec(any::<Raw>(), 0..40).prop_map(|raw| make_valid(&raw))
}

/// Packets of 0 to 80 bytes, mostly small bytes (so comparisons with small constants hit),
/// with a wire length at least the captured length.
fn arb_packets() -> impl Strategy<Value = Vec<(Vec<u8>, u32)>> {
    let byte = prop_oneof![0u8..4, any::<u8>()];
    let pkt = prop::collection::vec(byte, 0..80);
    let extra = prop_oneof![0u32..64, any::<u32>()];
    prop::collection::vec((pkt, extra), 1..8).prop_map(|v| {
        v.into_iter()
            .map(|(p, e)| {
                let wire = (p.len() as u32).saturating_add(e);
                (p, wire)
            })
            .collect()
    })
}

#[test]
fn random_programs_agree_on_every_engine() {
    let mut runner =
        TestRunner::new(PtConfig { cases: 1200, failure_persistence: None, ..PtConfig::default() });
    let mut vm = Vm::new();
    let vm = RefCell::new(&mut vm);
    runner
        .run(&(arb_program(), arb_packets()), |(prog, pkts)| {
            validate(&prog).expect("the generator makes valid programs");
            let e = Engines::new(&prog);
            for (pkt, wire) in &pkts {
                agree(&e, &prog, &mut vm.borrow_mut(), pkt, *wire);
            }
            Ok(())
        })
        .unwrap();
}

// ---- tcp port 80 -------------------------------------------------------------------------------

/// Jumps to the shared `r0 = 0` exit other than those of `ret #0`.
fn ret0_jumps(p: &Program) -> usize {
    let insns = p.insns();
    let exit = insns.len() - 2;
    assert!(matches!(insns[exit + 1], Insn::Exit));
    insns
        .iter()
        .enumerate()
        .filter(|(i, insn)| match insn {
            Insn::Jump { cond, off, .. } => {
                *i as i64 + 1 + *off as i64 == exit as i64
                    && matches!(cond, JmpCond::Lt | JmpCond::Gt)
            }
            _ => false,
        })
        .count()
}

#[test]
fn tcp_port_80_merges_length_tests() {
    let tcp_port_80 = tcp_port_80();
    assert_eq!(parse_dd(TCP_PORT_80_DD).unwrap(), tcp_port_80);
    let p = translate(&tcp_port_80).unwrap();
    let text = udf_bytecode::disassemble(&p);
    println!("{text}");
    // caplen < 24 once for the IPv4 path's fixed loads; 56, 58 on the IPv6 path; X + 16 and
    // X + 18 for the TCP ports after the IPv4 header.
    assert_eq!(ret0_jumps(&p), 5, "{text}");
    assert!(p.len() <= 45, "{} instructions:\n{text}", p.len());
    // Every engine agrees with the reference on packets cut at every length.
    let e = Engines::new(&tcp_port_80);
    let mut vm = Vm::new();
    let mut v4 = vec![0u8; 80];
    v4[12] = 0x08;
    v4[14] = 0x45;
    v4[23] = 6;
    v4[34 + 2] = 0;
    v4[34 + 3] = 80;
    let mut v6 = vec![0u8; 80];
    v6[12] = 0x86;
    v6[13] = 0xdd;
    v6[20] = 6;
    v6[57] = 80;
    for pkt in [&v4, &v6] {
        for len in 0..=pkt.len() {
            agree(&e, &tcp_port_80, &mut vm, &pkt[..len], 100);
        }
    }
    assert_eq!(interpret(&tcp_port_80, &v4, 80), 0x40000);
    assert_eq!(interpret(&tcp_port_80, &v6, 80), 0x40000);
    assert_eq!(interpret(&tcp_port_80, &v6[..57], 80), 0);
}

// ---- particular semantics, on every engine -------------------------------------------------

/// Runs `prog` on every engine for each packet and wire length and checks the expected
/// results too.
fn check_results(prog: &[SockFilter], cases: &[(&[u8], u32, u32)]) {
    let e = Engines::new(prog);
    let mut vm = Vm::new();
    for &(pkt, wire, want) in cases {
        assert_eq!(interpret(prog, pkt, wire), want, "{pkt:02x?}\n{}", disasm(prog));
        agree(&e, prog, &mut vm, pkt, wire);
    }
}

#[test]
fn ret_constant_is_unsigned_32_bit() {
    check_results(&[s(0x06, 0xffff_ffff)], &[(&[], 0, u32::MAX)]);
    // ret A after A = 0x80000000 + 0x7fffffff: no sign extension anywhere.
    check_results(&[s(0x00, 0x8000_0000), s(0x04, 0x7fff_ffff), s(0x16, 0)], &[(&[], 0, u32::MAX)]);
}

#[test]
fn lengths_and_wrapping_arithmetic() {
    // ld #len (the wire length); A * 3 - 5; ldx #len; A += X.
    let prog = [s(0x80, 0), s(0x24, 3), s(0x14, 5), s(0x81, 0), s(0x0c, 0), s(0x16, 0)];
    check_results(
        &prog,
        &[
            (&[1, 2, 3], 100, 395),
            (&[], 0, 0u32.wrapping_sub(5)),
            (&[], u32::MAX, u32::MAX.wrapping_mul(4).wrapping_sub(5)),
        ],
    );
}

#[test]
fn shifts_by_32_or_more_give_zero() {
    for by in [0u32, 1, 31, 32, 33, 64, u32::MAX] {
        let want_l = if by < 32 { 0x8000_0001u32 << by } else { 0 };
        let want_r = if by < 32 { 0x8000_0001u32 >> by } else { 0 };
        // By a constant and by X.
        check_results(&[s(0x00, 0x8000_0001), s(0x64, by), s(0x16, 0)], &[(&[], 0, want_l)]);
        check_results(&[s(0x00, 0x8000_0001), s(0x74, by), s(0x16, 0)], &[(&[], 0, want_r)]);
        check_results(
            &[s(0x01, by), s(0x00, 0x8000_0001), s(0x6c, 0), s(0x16, 0)],
            &[(&[], 0, want_l)],
        );
        check_results(
            &[s(0x01, by), s(0x00, 0x8000_0001), s(0x7c, 0), s(0x16, 0)],
            &[(&[], 0, want_r)],
        );
    }
}

#[test]
fn division_by_zero_x_returns_zero() {
    // ldx 4*([0]&0xf); ld #100; div x (or mod x); ret A
    for (code, by4, by12) in [(0x3c, 25, 8), (0x9c, 0, 4)] {
        let prog = [s(0xb1, 0), s(0x00, 100), s(code, 0), s(0x16, 0)];
        check_results(&prog, &[(&[0], 1, 0), (&[1], 1, by4), (&[3], 1, by12), (&[], 1, 0)]);
    }
    // Division by a large constant is unsigned.
    check_results(&[s(0x00, 0xffff_fffe), s(0x34, 0x8000_0000), s(0x16, 0)], &[(&[], 0, 1)]);
}

#[test]
fn scratch_memory_starts_at_zero() {
    // M[3] (used most: in a register) and M[9] (used least: on the stack) are read before
    // they are written; M[0]-M[2] are written first.
    let prog = [
        s(0x60, 3),
        s(0x04, 1),
        s(0x02, 3),
        s(0x01, 2),
        s(0x03, 0),
        s(0x03, 1),
        s(0x03, 2),
        s(0x60, 0),
        s(0x60, 1),
        s(0x60, 2),
        s(0x61, 9),
        s(0x0c, 0),
        s(0x07, 0),
        s(0x60, 3),
        s(0x0c, 0),
        s(0x16, 0),
    ];
    check_results(&prog, &[(&[], 0, 3)]);
    let p = translate(&prog).unwrap();
    let zeroed = |i: &Insn| match *i {
        Insn::Alu { src, .. } => src == udf_bytecode::Source::Imm(0),
        Insn::Store { base, src, .. } => {
            base == udf_bytecode::Reg::R10 && src == udf_bytecode::Source::Imm(0)
        }
        _ => false,
    };
    let text = udf_bytecode::disassemble(&p);
    assert!(p.insns()[..2].iter().all(zeroed), "{text}");
    assert!(!zeroed(&p.insns()[2]), "{text}");
    assert!(matches!(p.insns()[1], Insn::Store { .. }), "{text}");
    // Only cells read before they are written are zeroed: this program writes M[0] first.
    let p = translate(&[s(0x00, 5), s(0x02, 0), s(0x60, 0), s(0x16, 0)]).unwrap();
    assert_eq!(p.len(), 4, "{}", udf_bytecode::disassemble(&p));
}

#[test]
fn loads_far_into_the_packet() {
    // ld [40000]; ldx #30000; ld [x + 10004] / ldh / ldb; ld [x + 0x7ffffff0]; ld [0xfffffffc]
    let mut pkt = vec![0u8; 40_008];
    pkt[40_000..40_004].copy_from_slice(&[1, 2, 3, 4]);
    pkt[40_004..40_008].copy_from_slice(&[5, 6, 7, 8]);
    let prog = [s(0x20, 40_000), s(0x01, 30_000), s(0x40, 10_004), s(0x16, 0)];
    check_results(
        &prog,
        &[(&pkt, 50_000, 0x0506_0708), (&pkt[..40_007], 50_000, 0), (&pkt[..40_004], 50_000, 0)],
    );
    check_results(
        &[s(0x30, 40_003), s(0x07, 0), s(0x48, 40_000), s(0x16, 0)],
        &[(&pkt, 0, 0x0506), (&pkt[..40_005], 0, 0)],
    );
    for prog in [
        [s(0x01, 1), s(0x40, 0x7fff_fff0), s(0x16, 0)],
        [s(0x01, 1), s(0x20, 0xffff_fffc), s(0x16, 0)],
        [s(0x01, 1), s(0x50, 0xffff_ffff), s(0x16, 0)],
    ] {
        check_results(&prog, &[(&pkt, 0, 0), (&[], 0, 0)]);
    }
}

#[test]
fn indirect_loads_do_not_wrap() {
    // X = 0xffffffff, ld [x + 1]: libpcap does not wrap X + k to 0.
    let prog = [s(0x01, 0xffff_ffff), s(0x50, 1), s(0x06, 1)];
    check_results(&prog, &[(&[9, 9, 9], 3, 0)]);
    let prog = [s(0x01, 2), s(0x50, 0xffff_fffe), s(0x06, 1)];
    check_results(&prog, &[(&[9, 9, 9], 3, 0)]);
}

#[test]
fn indirect_loads_where_different_x_meet() {
    // X is 1 or 2 depending on the first byte; then A = p[X + 1] + X + p[X], whose two loads
    // share one length test.
    let prog = [
        s(0x30, 0),
        j(0x15, 1, 0, 2),
        s(0x01, 1),
        s(0x05, 1),
        s(0x01, 2),
        s(0x50, 0),
        s(0x02, 0),
        s(0x50, 1),
        s(0x0c, 0),
        s(0x61, 0),
        s(0x0c, 0),
        s(0x16, 0),
    ];
    let p = translate(&prog).unwrap();
    let text = udf_bytecode::disassemble(&p);
    assert!(text.contains("mov32 %r6, %r6"), "{text}");
    assert_eq!(ret0_jumps(&p), 2, "{text}");
    check_results(
        &prog,
        &[
            (&[1, 7, 8], 3, 8 + 1 + 7),
            (&[1, 7], 3, 0),
            (&[0, 7, 8, 9], 4, 9 + 2 + 8),
            (&[0, 7, 8], 4, 0),
            (&[], 0, 0),
        ],
    );
}

#[test]
fn translation_is_deterministic_and_skips_dead_code() {
    let a = translate(&tcp_port_80()).unwrap().encode();
    let b = translate(&tcp_port_80()).unwrap().encode();
    assert_eq!(a, b);
    // ret #1, then dead code that would need a length test and a division check.
    let dead = [s(0x06, 1), s(0x20, 1000), s(0x3c, 0), s(0x16, 0)];
    let p = translate(&dead).unwrap();
    assert_eq!(p.len(), 2, "{}", udf_bytecode::disassemble(&p));
    // Paths that can only return 0 are not translated: every path of this program does.
    let zero = [s(0x28, 12), j(0x15, 0x800, 0, 1), s(0x06, 0), s(0x06, 0)];
    let p = translate(&zero).unwrap();
    assert_eq!(p.len(), 2, "{}", udf_bytecode::disassemble(&p));
}

// ---- importers --------------------------------------------------------------------------------

/// `tcpdump -dd`'s format.
fn dd_text(prog: &[SockFilter]) -> String {
    prog.iter()
        .map(|f| format!("{{ 0x{:x}, {}, {}, 0x{:08x} }},\n", f.code, f.jt, f.jf, f.k))
        .collect()
}

/// `tcpdump -ddd`'s format.
fn ddd_text(prog: &[SockFilter]) -> String {
    let mut out = format!("{}\n", prog.len());
    for f in prog {
        out.push_str(&format!("{} {} {} {}\n", f.code, f.jt, f.jf, f.k));
    }
    out
}

proptest! {
    #![proptest_config(PtConfig { cases: 200, failure_persistence: None, ..PtConfig::default() })]

    #[test]
    fn importers_round_trip(raw in prop::collection::vec(any::<(u16, u8, u8, u32)>(), 0..30)) {
        let prog: Vec<SockFilter> =
            raw.iter().map(|&(code, jt, jf, k)| SockFilter { code, jt, jf, k }).collect();
        let bytes = to_raw(&prog);
        prop_assert_eq!(bytes.len(), prog.len() * 8);
        prop_assert_eq!(&parse_raw(&bytes).unwrap(), &prog);
        prop_assert_eq!(&parse_dd(&dd_text(&prog)).unwrap(), &prog);
        prop_assert_eq!(&parse_dd(&ddd_text(&prog)).unwrap(), &prog);
        prop_assert_eq!(&parse_any(dd_text(&prog).as_bytes()).unwrap(), &prog);
        prop_assert_eq!(&parse_any(ddd_text(&prog).as_bytes()).unwrap(), &prog);
        // Raw bytes are raw even when they start with an ASCII digit or brace.
        if prog.iter().all(|f| f.code < 0x100) {
            prop_assert_eq!(&parse_any(&bytes).unwrap(), &prog);
        }
    }
}

#[test]
fn parse_dd_accepts_tcpdump_variants() {
    let text = "/* tcp port 80 */\n\n{ 0x28, 0, 0, 12 },  // ethertype\n{40,0,0,0x0c}\n\
                { 0x6, 0, 0, 0x00040000, }\n";
    assert_eq!(parse_dd(text).unwrap(), [s(0x28, 12), s(0x28, 12), s(0x06, 0x40000)]);
    // Octal, as in C.
    assert_eq!(parse_dd("{ 010, 0, 0, 0 }").unwrap(), [s(8, 0)]);
    // -ddd, with a comment and blank lines.
    assert_eq!(
        parse_dd("2\n40 0 0 12\n\n6 0 0 262144 /* accept */\n").unwrap(),
        [s(0x28, 12), s(0x06, 0x40000)]
    );
    assert_eq!(parse_dd("").unwrap(), []);
    assert_eq!(parse_any(b"").unwrap(), []);
    assert_eq!(parse_any(TCP_PORT_80_DD.as_bytes()).unwrap(), tcp_port_80());
    assert_eq!(parse_any(&to_raw(&tcp_port_80())).unwrap(), tcp_port_80());
}

fn err_text<T: std::fmt::Debug>(r: Result<T, CbpfError>) -> String {
    r.unwrap_err().to_string()
}

#[test]
fn parse_errors_are_located() {
    let e = parse_dd("{ 0x28, 0, 0, 12 },\n{ 0x15, 0, zz, 0x800 },\n").unwrap_err();
    assert_eq!(e.line, Some((2, 12)));
    assert_eq!(e.to_string(), "line 2:12: `zz` is not a number");
    for (text, want) in [
        ("{ 0x28, 0, 0 12 }", "line 1:14: expected `,`"),
        (
            "{ 0x28, 0, 0, 12 }\n  { 0x6, 256, 0, 0 }",
            "line 2:10: jt 256 does not fit (at most 0xff)",
        ),
        (
            "{ 0x28, 0, 0, 0x100000000 }",
            "line 1:15: k 4294967296 does not fit (at most 0xffffffff)",
        ),
        ("{ 0x28, 0, 0, 12 },\n{ 0x6, 0, 0", "line 2:12: unexpected end of text: expected `,`"),
        ("{ 0x28; 0, 0, 12 }", "line 1:7: unexpected `;`: expected `{`, `}`, `,` or a number"),
        (
            "3\n40 0 0 12\n6 0 0\n",
            "line 3:5: expected 4 numbers (code jt jf k) on the line, found 3",
        ),
        ("3\n40 0 0 12\n6 0 0 1\n", "line 1:1: the count says 3 instructions but 2 follow"),
        ("2 40 0 0 12\n6 0 0 1\n", "line 1:3: the first line holds the instruction count only"),
    ] {
        assert_eq!(err_text(parse_dd(text)), want, "{text:?}");
    }
    let e = parse_raw(&[0x28, 0, 0, 0, 12, 0, 0, 0, 6, 0, 0]).unwrap_err();
    assert_eq!((e.index, e.line), (Some(1), None));
    assert_eq!(
        e.to_string(),
        "instruction 1: truncated record: 11 bytes in all, 3 left over after 1 whole 8-byte \
         records (the length must be a multiple of 8)"
    );
    // Not text (a NUL byte), so raw: and 5 bytes are not a record.
    assert!(err_text(parse_any(b"{\0abc")).contains("truncated record"));
}

// ---- validity rules ---------------------------------------------------------------------------

fn refusal(prog: &[SockFilter]) -> String {
    let e = validate(prog).unwrap_err();
    let text = e.to_string();
    // Translation refuses what validation refuses, with the same error.
    assert_eq!(translate(prog).unwrap_err(), e);
    text
}

#[test]
fn validate_refuses_what_libpcap_refuses_and_more() {
    let ret = s(0x06, 1);
    validate(&[ret]).unwrap();
    validate(&tcp_port_80()).unwrap();
    assert_eq!(refusal(&[]), "the program is empty");
    assert_eq!(
        refusal(&vec![ret; cbpf::MAXINSNS + 1]),
        "4097 instructions: a program has at most 4096"
    );
    validate(&vec![ret; cbpf::MAXINSNS]).unwrap();
    assert_eq!(refusal(&[s(0x00, 0), s(0x18, 0), ret]), "instruction 1: unknown opcode 0x18");
    for bad in [0x08u16, 0x68, 0x41, 0x21, 0x0e, 0x8c, 0x55, 0xb4, 0x0d, 0x106, 0xc4] {
        assert!(refusal(&[s(bad, 0), ret]).contains("unknown opcode"), "{bad:#x}");
    }
    for code in [0x60u16, 0x61, 0x02, 0x03] {
        assert_eq!(
            refusal(&[s(code, 16), ret]),
            "instruction 0: scratch word M[16] does not exist (there are 16)"
        );
        validate(&[s(code, 15), ret]).unwrap();
    }
    validate(&[s(0x3c, 0), s(0x64, 99), ret]).unwrap();
    for (prog, want) in [
        (vec![s(0x34, 0), ret], "instruction 0: division by the constant 0"),
        (vec![s(0x94, 0), ret], "instruction 0: modulo by the constant 0"),
        (
            vec![j(0x15, 0, 0, 1), ret],
            "instruction 0: jump to instruction 2, past the end of the program (2 instructions)",
        ),
        (
            vec![s(0x05, 1), ret],
            "instruction 0: jump to instruction 2, past the end of the program (2 instructions)",
        ),
        (
            vec![ret, s(0x05, 0xffff_fffe), ret],
            "instruction 1: jump back to instruction 0: only forward jumps are allowed",
        ),
        (
            vec![s(0x00, 1), s(0x04, 1)],
            "instruction 1: control runs past the last instruction (a program ends with ret)",
        ),
    ] {
        assert_eq!(refusal(&prog), want, "{prog:?}");
    }
    // Every path ending in ret is enough: the unreachable tail does not matter.
    validate(&[ret, s(0x00, 1)]).unwrap();
    // libpcap's own "ip protochain" programs jump backwards: refused.
    let cases = libpcap_listings();
    let (g, protochain) = cases.last().expect("a listing");
    assert_eq!(g.field("expr"), Some("ip protochain 17"));
    assert_eq!(
        refusal(protochain),
        "instruction 19: jump back to instruction 5: only forward jumps are allowed"
    );
}

// ---- the tcpdump -d listing -------------------------------------------------------------------

#[test]
fn disasm_reproduces_libpcap_listings() {
    let mut vm = Vm::new();
    for (g, prog) in &libpcap_listings() {
        let (dlt, snap, expr) = (g.field("dlt"), g.field("snaplen"), g.field("expr"));
        g.check(&disasm(prog), &format!("{dlt:?} {snap:?} {expr:?}"));
        let prog = &prog[..];
        if validate(prog).is_err() {
            continue;
        }
        // And they run the same everywhere, on small packets of every length.
        let e = Engines::new(prog);
        let mut pkt: Vec<u8> = (0..64u8).map(|b| b % 7).collect();
        pkt[12] = 8;
        for len in 0..=pkt.len() {
            agree(&e, prog, &mut vm, &pkt[..len], 64);
        }
    }
}

/// `tests/golden/disasm/`: programs with every kind of instruction and extreme operands, and
/// their listings.
#[test]
fn disasm_of_every_opcode() {
    let cases = golden::load("disasm");
    assert_eq!(cases.len(), 1, "disasm listings");
    for g in &cases {
        let prog: Vec<SockFilter> = g.body().map(dd_line).collect();
        g.check(&disasm(&prog), &g.path.display().to_string());
    }
}
