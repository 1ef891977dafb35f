//! The direct-call filter ABI (`Jit::compile_filter`, `NativeFilter`) against the interpreter,
//! the semantics: on every filter it accepts, the direct call must return the interpreter's
//! `r0` for every packet, truncated ones included, and refuse every packet length the proof
//! does not cover.
//!
//! The filters: the filter benchmark's four expressions (and its empty filter), pcap-filter
//! expressions generated here (primitives of every protocol layer combined with `and`, `or`
//! and `not`) compiled by the pcap front end, and the structured generator's `filter`
//! programs the verifier accepts (stack spills, scratch memory, 32-bit arithmetic, loops).
//! The packets: Ethernet frames, optionally VLAN-tagged, carrying IPv4 (with options and
//! fragments), IPv6, ARP or garbage, TCP, UDP or ICMP, cut at random lengths (a third of
//! them, down to 0 bytes) with the wire length kept.
//!
//! Every filter runs in both lowerings of the direct call, the branchy one and the branch-free
//! one (`IfConvert::Never` and `IfConvert::Always`; the default, `Auto`, picks one of them),
//! and every packet runs twice: where it lies, and copied to the end of a page whose next
//! page faults on any access ([`PageEnd`]), so that a load the code makes past the packet (on
//! a path not taken, in the branch-free code) kills the test instead of reading a neighbour.
//! `branch_free_edges_agree_with_the_interpreter` aims at the branch-free lowering's edges.
//!
//! `planted_length_bug_is_caught` plants an off-by-one in the length register
//! (`Options::fault_injection_direct_len`) and requires the same oracle to fail.
//!
//! `UDF_DIRECT_EXPRS=N` sets the number of generated expressions (default 150 in debug
//! builds, 1,000 in release).

use udf_bytecode::generate::{Hazard, Shape, structured};
use udf_bytecode::rng::Rng;
use udf_bytecode::{Program, ProgramType, assemble, disassemble};
use udf_jit::{FilterCode, IfConvert, Jit, NoDirect, Target, TrustedFilter};
use udf_pcap::{CompileOptions, LinkType};
use udf_runtime::{Context, FaultKind, NoHelpers, RunOptions, Vm, pre_run_checks, prepare};
use udf_verifier::{Config, Verified, verify};

/// The filter benchmark's expressions (`bench/src/filter.rs`).
const BENCH: [&str; 4] = [
    "tcp port 80",
    "host 10.1.2.3",
    "vlan and tcp port 443",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
];

fn exprs() -> usize {
    std::env::var("UDF_DIRECT_EXPRS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 150 } else { 1_000 })
}

fn host_jit() -> Jit {
    Jit::new(Target::host().expect("these tests run on x86-64")).unwrap()
}

fn pcap_opts() -> CompileOptions {
    CompileOptions { link: LinkType::En10mb, snaplen: 262_144, netmask: None }
}

const HOSTS: [[u8; 4]; 4] = [[10, 1, 2, 3], [192, 168, 0, 1], [10, 0, 0, 9], [8, 8, 8, 8]];
const PORTS: [u16; 6] = [80, 443, 22, 53, 8080, 0];

fn port(rng: &mut Rng) -> u16 {
    if rng.chance(3, 4) { rng.pick(&PORTS) } else { rng.below(65_536) as u16 }
}

fn transport(rng: &mut Rng, proto: u8) -> Vec<u8> {
    let mut t = Vec::new();
    match proto {
        6 => {
            t.extend(port(rng).to_be_bytes());
            t.extend(port(rng).to_be_bytes());
            t.extend(rng.bytes(8));
            let doff = if rng.chance(1, 4) { 5 + rng.below(11) as u8 } else { 5 };
            t.push(doff << 4);
            let any = rng.below(256) as u8;
            t.push(rng.pick(&[0x02, 0x12, 0x10, 0x18, 0x11, any]));
            t.extend(rng.bytes(6));
            t.extend(rng.bytes(4 * (usize::from(doff) - 5)));
        }
        17 => {
            t.extend(port(rng).to_be_bytes());
            t.extend(port(rng).to_be_bytes());
            t.extend(rng.bytes(4));
        }
        _ => {
            t.push(rng.pick(&[0, 8, 3, 11, 128, 129]));
            t.extend(rng.bytes(7));
        }
    }
    let n = rng.below(40) as usize;
    t.extend(rng.bytes(n));
    t
}

/// An Ethernet frame and its wire length; a third are cut short (the wire length kept).
fn packet(rng: &mut Rng) -> (Vec<u8>, u32) {
    let mut f = rng.bytes(12);
    if rng.chance(1, 8) {
        f[..6].fill(0xff);
    }
    for _ in 0..rng.pick(&[0, 0, 0, 1, 2]) {
        f.extend([0x81, 0x00]);
        f.extend((rng.pick(&[100u16, 200, 0, 4095])).to_be_bytes());
    }
    let any = rng.below(256) as u8;
    let proto = rng.pick(&[6u8, 6, 17, 1, 58, 0, 44, any]);
    match rng.below(10) {
        0..6 => {
            let ihl = if rng.chance(1, 5) { 6 + rng.below(10) as u8 } else { 5 };
            let body = transport(rng, proto);
            f.extend([0x08, 0x00, 0x40 | ihl, 0]);
            f.extend(((4 * usize::from(ihl) + body.len()) as u16).to_be_bytes());
            let frag: u16 = if rng.chance(1, 6) { rng.below(0x4000) as u16 } else { 0x4000 };
            f.extend([0, 0]);
            f.extend(frag.to_be_bytes());
            f.extend([64, proto, 0, 0]);
            let (a, b) = (rng.pick(&HOSTS), rng.pick(&HOSTS));
            f.extend(if rng.chance(1, 3) { rng.bytes(4).try_into().unwrap() } else { a });
            f.extend(b);
            f.extend(rng.bytes(4 * (usize::from(ihl) - 5)));
            f.extend(body);
        }
        6..8 => {
            let body = transport(rng, proto);
            f.extend([0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend((body.len() as u16).to_be_bytes());
            f.extend([proto, 64]);
            f.extend(rng.bytes(32));
            f.extend(body);
        }
        8 => {
            f.extend([0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, rng.pick(&[1, 2])]);
            f.extend(rng.bytes(6));
            f.extend(rng.pick(&HOSTS));
            f.extend(rng.bytes(6));
            f.extend(rng.pick(&HOSTS));
        }
        _ => {
            let n = rng.below(80) as usize;
            f.extend(rng.bytes(n));
        }
    }
    let wire = f.len() as u32 + if rng.chance(1, 8) { rng.below(100) as u32 } else { 0 };
    if rng.chance(1, 3) {
        let keep = rng.below(f.len() as u64 + 1) as usize;
        f.truncate(keep);
    }
    (f, wire)
}

fn host(rng: &mut Rng) -> String {
    let h = rng.pick(&HOSTS);
    format!("{}.{}.{}.{}", h[0], h[1], h[2], h[3])
}

/// One pcap-filter primitive.
fn primitive(rng: &mut Rng) -> String {
    let p = port(rng);
    let n = rng.below(256);
    match rng.below(30) {
        0 => "tcp".into(),
        1 => "udp".into(),
        2 => "icmp".into(),
        3 => "ip".into(),
        4 => "ip6".into(),
        5 => "arp".into(),
        6 => "vlan".into(),
        7 => format!("vlan {}", rng.pick(&[100, 200, 0])),
        8 => format!("tcp port {p}"),
        9 => format!("udp port {p}"),
        10 => format!("port {p}"),
        11 => format!("{} port {p}", rng.pick(&["src", "dst"])),
        12 => format!("portrange {}-{}", p.min(1000), p.max(1000)),
        13 => format!("host {}", host(rng)),
        14 => format!("{} host {}", rng.pick(&["src", "dst"]), host(rng)),
        15 => format!("net {}/{}", host(rng), rng.pick(&[8, 16, 24, 32])),
        16 => format!("ip proto {}", rng.pick(&[1, 6, 17, 58, n])),
        17 => format!("{} {}", rng.pick(&["greater", "less"]), rng.below(200)),
        18 => format!("len {} {}", rng.pick(&[">", "<", "==", ">=", "!="]), rng.below(200)),
        19 => "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn".into(),
        20 => format!("tcp[13] & {n} != 0"),
        21 => format!("ip[0] & 0xf {} 5", rng.pick(&["==", "!=", ">"])),
        22 => format!("ether[12:2] = 0x{:x}", rng.pick(&[0x800, 0x86dd, 0x806, 0x8100])),
        23 => format!("ip[2:2] > {}", rng.below(300)),
        24 => format!("udp[{}:2] = {p}", rng.pick(&[0, 2, 4])),
        25 => "icmp[icmptype] == icmp-echo".into(),
        26 => "ether broadcast".into(),
        27 => format!("ip6 and tcp port {p}"),
        28 => format!("tcp[{}:4] = {}", rng.below(20), rng.next_u64() as u32),
        _ => format!("ip[{}] = {n}", rng.below(24)),
    }
}

/// A pcap-filter expression of primitives under `and`, `or`, `not`.
fn expression(rng: &mut Rng, depth: u32) -> String {
    if depth == 0 || rng.chance(1, 3) {
        return primitive(rng);
    }
    match rng.below(4) {
        0 => format!("not ({})", expression(rng, depth - 1)),
        1 => format!("({}) or ({})", expression(rng, depth - 1), expression(rng, depth - 1)),
        _ => format!("{} and {}", expression(rng, depth - 1), expression(rng, depth - 1)),
    }
}

/// The page size of the x86-64 hosts these tests run on.
const PAGE: usize = 4096;

/// One page of packet bytes followed by a page that faults (`SIGBUS`) on any access: a file of
/// one page mapped two pages long. A packet copied to the end of the first page
/// ([`PageEnd::place`]) has no readable byte after it.
struct PageEnd {
    map: memmap2::MmapMut,
    /// Place packets at the start of the page instead (readable bytes after them), for a
    /// planted bug that reads past the packet to show as a wrong result, not a dead process.
    unguarded: bool,
}

impl PageEnd {
    fn new() -> PageEnd {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let k = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("udf-jit-page-{}-{k}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .unwrap();
        file.set_len(PAGE as u64).unwrap();
        // SAFETY: a shared mapping of a file this test just created and unlinks right after
        // (no other process maps or truncates it). The mapping is two pages long over a
        // one-page file: only the first page is ever accessed by this code (`place` writes
        // and borrows within it; the mapping itself is never dereferenced as a slice), the
        // second faults on access, which is its purpose.
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::MmapOptions::new().len(2 * PAGE).map_mut(&file) }.unwrap();
        std::fs::remove_file(&path).unwrap();
        PageEnd { map, unguarded: false }
    }

    /// `data` copied to the end of the readable page.
    fn place(&mut self, data: &[u8]) -> &[u8] {
        assert!(data.len() <= PAGE, "a packet longer than a page");
        let at = if self.unguarded { 0 } else { PAGE - data.len() };
        // SAFETY: `[at, PAGE)` lies in the mapping's first page, backed by the file; `data` is
        // another allocation; the slice returned borrows `self` mutably, so nothing writes
        // the bytes while it lives.
        #[allow(unsafe_code)]
        unsafe {
            let p = self.map.as_mut_ptr().add(at);
            std::ptr::copy_nonoverlapping(data.as_ptr(), p, data.len());
            std::slice::from_raw_parts(p, data.len())
        }
    }
}

/// `prog` compiled for the direct call with `if_convert` (the options restored after).
fn compile_with(
    jit: &mut Jit,
    prog: &Program,
    facts: &Verified,
    if_convert: IfConvert,
) -> Result<FilterCode, NoDirect> {
    let old = jit.options.if_convert;
    jit.options.if_convert = if_convert;
    let code = jit.compile_filter(prog, facts);
    jit.options.if_convert = old;
    code
}

/// Runs direct `code` against the interpreter on `packets`, each where it lies and at the end
/// of a page ([`PageEnd`]): the first difference.
fn compare_code(
    what: &str,
    prog: &Program,
    facts: &Verified,
    code: &FilterCode,
    packets: &[(Vec<u8>, u32)],
    page: &mut PageEnd,
) -> Result<(), String> {
    let f = code.load().map_err(|e| format!("{what}: {e}"))?;
    let kind = if code.is_predicated() { "branch-free" } else { "branchy" };
    for (data, wire) in packets {
        let want =
            if facts.admits(data.len()) { Some(interp(prog, facts, data, *wire)?) } else { None };
        for (at, bytes) in [("", &data[..]), (" at a page end", page.place(data))] {
            let got = f.run(bytes, u64::from(*wire));
            let ok = match want {
                Some(w) => got == Ok(w),
                None => {
                    matches!(&got, Err(f) if matches!(f.kind, FaultKind::ContextRefused { .. }))
                }
            };
            if !ok {
                return Err(format!(
                    "{what} ({kind}{at}): on a {}-byte packet (wire {wire}) {data:02x?}
                     interpreter: {want:?}
direct call: {got:?}
{}",
                    data.len(),
                    disassemble(prog)
                ));
            }
        }
    }
    Ok(())
}

/// Both lowerings of the direct call against the interpreter ([`compare_code`]): whether the
/// branch-free one applied, or the first difference.
fn compare_both(
    jit: &mut Jit,
    what: &str,
    prog: &Program,
    facts: &Verified,
    packets: &[(Vec<u8>, u32)],
    page: &mut PageEnd,
) -> Result<bool, String> {
    let branchy =
        compile_with(jit, prog, facts, IfConvert::Never).map_err(|e| format!("{what}: {e}"))?;
    if branchy.is_predicated() {
        return Err(format!("{what}: IfConvert::Never gave branch-free code"));
    }
    compare_code(what, prog, facts, &branchy, packets, page)?;
    let free =
        compile_with(jit, prog, facts, IfConvert::Always).map_err(|e| format!("{what}: {e}"))?;
    if free.is_predicated() {
        compare_code(what, prog, facts, &free, packets, page)?;
    }
    Ok(free.is_predicated())
}

/// The interpreter's `r0` for `prog` on `packet`.
fn interp(prog: &Program, facts: &Verified, packet: &[u8], wire: u32) -> Result<u64, String> {
    let compiled = prepare(prog, &pre_run_checks(ProgramType::Filter, true)).expect("checked");
    let opts = RunOptions { budget: facts.max_insns.max(1), r3: u64::from(wire) };
    Vm::new()
        .run(&compiled, Context::ReadOnly(packet), &mut NoHelpers, &opts)
        .map(|o| o.r0)
        .map_err(|f| format!("the interpreter faulted on a verified filter: {f:?}"))
}

/// Runs `filter` (direct) against the interpreter on `packets`: the first difference.
fn compare(
    what: &str,
    prog: &Program,
    facts: &Verified,
    filter: &TrustedFilter,
    packets: &[(Vec<u8>, u32)],
) -> Result<(), String> {
    let mut runner = filter.runner();
    for (data, wire) in packets {
        let got = runner.run(data, *wire);
        if !facts.admits(data.len()) {
            if !matches!(&got, Err(f) if matches!(f.kind, FaultKind::ContextRefused { .. })) {
                return Err(format!(
                    "{what}: a {}-byte packet the proof does not cover ran: {got:?}",
                    data.len()
                ));
            }
            continue;
        }
        let want = interp(prog, facts, data, *wire)?;
        if got != Ok(want) {
            return Err(format!(
                "{what}: on a {}-byte packet (wire {wire}) {data:02x?}\ninterpreter: {want}\n\
                 direct call: {got:?}\n{}",
                data.len(),
                disassemble(prog)
            ));
        }
    }
    Ok(())
}

/// The pcap front end's filters (the benchmark's, then `n` generated) and the packets: the
/// filters compiled, how many took the direct call and how many had the branch-free lowering
/// (each run in both lowerings, [`compare_both`]), or the first difference.
fn pcap_campaign(
    jit: &mut Jit,
    seed: u64,
    n: usize,
    page: &mut PageEnd,
) -> Result<(usize, usize, usize), String> {
    let mut rng = Rng::new(seed);
    let packets: Vec<(Vec<u8>, u32)> = (0..96).map(|_| packet(&mut rng)).collect();
    let (mut compiled, mut direct, mut free) = (0, 0, 0);
    let mut list: Vec<String> = BENCH.iter().map(|s| s.to_string()).collect();
    list.extend((0..n).map(|_| expression(&mut rng, 3)));
    for expr in &list {
        let Ok(c) = udf_pcap::compile(expr, &pcap_opts()) else {
            continue;
        };
        compiled += 1;
        let filter =
            TrustedFilter::compile(jit, &c.prog, &c.facts).map_err(|e| format!("`{expr}`: {e}"))?;
        if let Some(why) = filter.fallback_reason() {
            return Err(format!("`{expr}` falls back to the region ABI: {why}"));
        }
        direct += 1;
        let what = format!("`{expr}`");
        compare(&what, &c.prog, &c.facts, &filter, &packets)?;
        free += usize::from(compare_both(jit, &what, &c.prog, &c.facts, &packets, page)?);
    }
    Ok((compiled, direct, free))
}

#[test]
fn pcap_filters_agree_with_the_interpreter() {
    let mut jit = host_jit();
    let n = exprs();
    let (compiled, direct, free) =
        pcap_campaign(&mut jit, 0x6469_7265_6374, n, &mut PageEnd::new()).unwrap();
    // The generator's expressions are mostly ones the front end compiles.
    assert!(compiled >= BENCH.len() + n / 2, "only {compiled} of {} expressions compiled", n + 4);
    assert_eq!(direct, compiled);
    // Most are small enough for the branch-free lowering.
    assert!(free >= compiled / 2, "only {free} of {compiled} filters had branch-free code");
    eprintln!(
        "{compiled} pcap filters, all through the direct call, agree with the interpreter in \
         both lowerings ({free} with branch-free code)"
    );
}

#[test]
fn benchmark_filters_take_the_direct_call() {
    let mut jit = host_jit();
    for expr in BENCH {
        let c = udf_pcap::compile(expr, &pcap_opts()).unwrap();
        let code = jit.compile_filter(&c.prog, &c.facts).unwrap_or_else(|e| panic!("{expr}: {e}"));
        assert_eq!(code.ctx_len(), c.facts.ctx_len);
        assert_frameless(expr, code.bytes());
        // `keep_frame` keeps Cranelift's frame, and the code still runs as the interpreter.
        jit.options.keep_frame = true;
        let framed = jit.compile_filter(&c.prog, &c.facts).unwrap();
        jit.options.keep_frame = false;
        assert!(framed.bytes().starts_with(&[0x55, 0x48, 0x89, 0xe5]), "{expr}: no frame kept");
        let mut rng = Rng::new(0xf4a3e);
        let f = framed.load().unwrap();
        let lean = code.load().unwrap();
        for _ in 0..200 {
            let (data, wire) = packet(&mut rng);
            let want = interp(&c.prog, &c.facts, &data, wire).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(f.run(&data, u64::from(wire)), Ok(want), "{expr}: framed");
            assert_eq!(lean.run(&data, u64::from(wire)), Ok(want), "{expr}: frameless");
        }
        // Each has branch-free code too.
        let free = compile_with(&mut jit, &c.prog, &c.facts, IfConvert::Always).unwrap();
        assert!(free.is_predicated(), "{expr}: no branch-free code");
        let branchy = compile_with(&mut jit, &c.prog, &c.facts, IfConvert::Never).unwrap();
        assert!(!branchy.is_predicated(), "{expr}: IfConvert::Never gave branch-free code");
        let packets: Vec<(Vec<u8>, u32)> = (0..200).map(|_| packet(&mut rng)).collect();
        compare_code(expr, &c.prog, &c.facts, &free, &packets, &mut PageEnd::new()).unwrap();
    }
    // The benchmark's empty filter too.
    let empty = assemble("mov %r0, 0\nexit\n").unwrap();
    let facts = verify(&empty, &Config::new(ProgramType::Filter)).unwrap();
    let code = jit.compile_filter(&empty, &facts).unwrap();
    assert_frameless("the empty filter", code.bytes());
    let f = code.load().unwrap();
    assert_eq!(f.run(&[1, 2, 3], 3), Ok(0));
}

/// A leaf filter with nothing on the stack has no frame in the direct ABI: no `push %rbp` at
/// the entry, no `pop %rbp; ret` (Cranelift always emits both; `compile_filter` cuts them).
fn assert_frameless(what: &str, code: &[u8]) {
    assert_ne!(code.first(), Some(&0x55), "{what}: the code starts with push %rbp");
    assert!(!code.windows(2).any(|w| w == [0x5d, 0xc3]), "{what}: pop %rbp; ret left");
    assert!(code.contains(&0xc3), "{what}: no ret");
}

/// Structured `filter` programs the verifier accepts: those the direct ABI takes agree with
/// the interpreter on inputs of assorted lengths; the others fall back with a reason.
#[test]
fn generated_filter_programs_agree_with_the_interpreter() {
    let mut jit = host_jit();
    let n = exprs() as u64 * 2;
    let mut page = PageEnd::new();
    let (mut verified, mut direct, mut free) = (0, 0, 0);
    let mut reasons = std::collections::BTreeMap::<String, u32>::new();
    for seed in 0..n {
        let mut rng = Rng::new(seed ^ 0x5eed_d1ec);
        let shape = if seed % 2 == 0 {
            Shape::new(ProgramType::Filter, 40)
        } else {
            let h = Hazard::ALL[(seed / 2) as usize % Hazard::ALL.len()];
            Shape::focused(ProgramType::Filter, 40, h)
        };
        let prog = structured(&mut rng, &shape);
        let mut conf = Config::new(ProgramType::Filter);
        conf.budget = 100_000;
        let Ok(facts) = verify(&prog, &conf) else {
            continue;
        };
        verified += 1;
        let filter = TrustedFilter::compile(&mut jit, &prog, &facts).unwrap();
        let packets: Vec<(Vec<u8>, u32)> = (0..12)
            .map(|k| {
                let len = [0, 1, 13, 14, 20, 34, 54, 60, 64, 96][k % 10] + rng.below(3) as usize;
                (rng.input(len), len as u32 + rng.below(4) as u32)
            })
            .collect();
        match filter.fallback_reason() {
            None => {
                direct += 1;
                let what = format!("seed {seed}");
                free += usize::from(
                    compare_both(&mut jit, &what, &prog, &facts, &packets, &mut page).unwrap(),
                );
            }
            Some(why) => {
                let key = format!("{why:?}");
                let key = key.split([' ', '{', '(']).next().unwrap_or(&key).to_string();
                *reasons.entry(key).or_default() += 1;
            }
        }
        compare(&format!("seed {seed}"), &prog, &facts, &filter, &packets).unwrap();
    }
    eprintln!(
        "{verified} verified, {direct} through the direct call ({free} with branch-free code); \
         fallbacks: {reasons:?}"
    );
    assert!(verified >= n as usize / 4, "only {verified} of {n} generated programs verified");
    assert!(direct >= verified / 2, "only {direct} of {verified} took the direct call");
    assert!(free >= direct / 10, "only {free} of {direct} had branch-free code");
}

/// The oracle catches a planted off-by-one in the length register: the code then takes the
/// packet as one byte longer, so bounds tests against the length pass one byte too early.
#[test]
fn planted_length_bug_is_caught() {
    let mut jit = host_jit();
    jit.options.fault_injection_direct_len = true;
    // The bug reads one byte past the packet: at a page end that kills the process.
    let mut page = PageEnd::new();
    page.unguarded = true;
    let err = pcap_campaign(&mut jit, 0x6469_7265_6374, exprs(), &mut page)
        .expect_err("the oracle must catch the planted length bug");
    eprintln!("caught: {}", err.lines().next().unwrap_or(""));
}

/// What the direct ABI refuses falls back to the region ABI, with the reason, and still runs
/// as the interpreter does.
#[test]
fn refused_programs_fall_back_with_a_reason() {
    let mut jit = host_jit();
    // A local call.
    let prog = assemble("call local f\nexit\nf:\nmov %r0, 7\nexit\n").unwrap();
    let facts = verify(&prog, &Config::new(ProgramType::Filter)).unwrap();
    let filter = TrustedFilter::compile(&mut jit, &prog, &facts).unwrap();
    let why = filter.fallback_reason().expect("a local call is refused");
    assert!(matches!(why, NoDirect::LocalCalls { slot: 0 }), "{why:?}");
    assert_eq!(why.to_string(), "a local call at slot 0");
    assert_eq!(filter.runner().run(&[0; 20], 20), Ok(7));
    // Another type.
    let prog = assemble("mov %r0, 1\nexit\n").unwrap();
    let mut conf = Config::new(ProgramType::Size);
    conf.ctx_size = Some(16);
    let facts = verify(&prog, &conf).unwrap();
    assert!(matches!(jit.compile_filter(&prog, &facts), Err(NoDirect::NotFilter(_))));
    // Too long for one region.
    let mut src = String::from("mov %r0, 0\n");
    for _ in 0..40 {
        src.push_str("add %r0, 1\n");
    }
    src.push_str("exit\n");
    let prog = assemble(&src).unwrap();
    let facts = verify(&prog, &Config::new(ProgramType::Filter)).unwrap();
    jit.options.region_len = 16;
    let filter = TrustedFilter::compile(&mut jit, &prog, &facts).unwrap();
    assert!(matches!(filter.fallback_reason(), Some(NoDirect::Regions(_))));
    assert_eq!(filter.runner().run(&[], 0), Ok(40));
    // Facts of another program.
    let other = assemble("mov %r0, 2\nexit\n").unwrap();
    assert!(matches!(jit.compile_filter(&other, &facts), Err(NoDirect::Jit(_))));
}

/// Compares of byte-swapped fields with constants are made on the unswapped field against the
/// swapped constant: every condition it rewrites (`==`, `!=`, `&`), 16- and 32-bit fields, 64-
/// and 32-bit compares, constants that fit the field, that do not, negative ones (sign-
/// extended), on bytes equal to the constant's and random ones, in the direct call and in
/// trusted region code alike.
#[test]
fn swapped_field_compares_agree_with_the_interpreter() {
    let mut jit = host_jit();
    let mut rng = Rng::new(0x5a4b);
    let consts: [i64; 9] =
        [0x0800, 0x86dd, 0x1bb, 0x0001_0800, 0x0a01_0203, -1, -0x7800, 0x1_0000_0800, 0xff];
    let mut checked = 0;
    for (size, swap, bytes) in [("h", 16, 2usize), ("w", 32, 4)] {
        for cond in ["jeq", "jne", "jset", "jeq32", "jne32", "jset32"] {
            for k in consts {
                // `lddw` gives constants beyond 32 bits a register operand: the fold applies
                // to immediates only, so those take the general path (still compared).
                let (load_k, operand) = if i32::try_from(k).is_ok() {
                    (String::new(), k.to_string())
                } else {
                    (format!("lddw %r3, {k}\n"), "%r3".into())
                };
                let src = format!(
                    "jlt %r2, 4, +7\n{load_k}ldx{size} %r0, [%r1+0]\nbe{swap} %r0\n\
                     {cond} %r0, {operand}, +2\nmov %r0, 0\nexit\nmov %r0, 1\nexit\nmov %r0, 2\nexit\n"
                );
                let src = if load_k.is_empty() {
                    src
                } else {
                    src.replace("jlt %r2, 4, +7", "jlt %r2, 4, +9")
                };
                let prog = assemble(&src).unwrap_or_else(|e| panic!("{e}\n{src}"));
                let facts = verify(&prog, &Config::new(ProgramType::Filter))
                    .unwrap_or_else(|e| panic!("{e:?}\n{src}"));
                let direct = TrustedFilter::compile(&mut jit, &prog, &facts).unwrap();
                assert!(direct.fallback_reason().is_none());
                let kb = (k as u64).to_be_bytes();
                let mut packets: Vec<(Vec<u8>, u32)> = (0..24)
                    .map(|_| {
                        let mut d = rng.bytes(4);
                        if rng.chance(1, 2) {
                            d[..bytes].copy_from_slice(&kb[8 - bytes..]);
                        }
                        (d, 4)
                    })
                    .collect();
                packets.push((vec![0; 3], 3));
                compare(&src, &prog, &facts, &direct, &packets).unwrap();
                let code = jit
                    .compile(&prog, ProgramType::Filter, udf_jit::Mode::Trusted(&facts))
                    .unwrap();
                let exe = udf_jit::Executable::new(code).unwrap();
                for (d, wire) in &packets {
                    let opts = RunOptions { budget: u64::MAX, r3: u64::from(*wire) };
                    let got = exe.runner().run(Context::ReadOnly(d), &mut NoHelpers, &opts);
                    assert_eq!(
                        got.ok().map(|o| o.r0),
                        interp(&prog, &facts, d, *wire).ok(),
                        "{src}"
                    );
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * 6 * 9);
}

/// The branch-free lowering at its edges, each program in both lowerings on every length from
/// 0 to 80 bytes (zeros, ones, random bytes), at a page end ([`compare_both`]): loads past the
/// packet on paths not taken (fixed offsets and offsets from the IPv4 header length), division
/// and remainder by zero and `INT_MIN / -1` on paths not taken, stores on paths not taken, a
/// program with many exits, tests of the length the branch-free code decides, and classic
/// packet loads (an exit when out of bounds).
#[test]
fn branch_free_edges_agree_with_the_interpreter() {
    let programs = [
        // Fixed offsets: the load at 59 is on the path of packets of 60 bytes or more only.
        "mov %r0, 1\njlt %r2, 60, +2\nldxb %r0, [%r1+59]\nadd %r0, 2\nexit\n",
        // The IPv4 header length: the port at 14 + 4 * IHL + 2 only where it fits.
        "mov %r0, 0\njlt %r2, 15, +9\nldxb %r6, [%r1+14]\nand32 %r6, 15\nlsh32 %r6, 2\n\
         mov %r4, %r6\nadd %r4, 18\njgt %r4, %r2, +3\nmov %r5, %r1\nadd %r5, %r6\n\
         ldxh %r0, [%r5+16]\nexit\n",
        // The same, two fields deep (a length read from the packet, then a load it bounds).
        "mov %r0, 7\njlt %r2, 2, +11\nldxb %r6, [%r1+0]\nldxb %r7, [%r1+1]\nmov %r4, %r6\n\
         add %r4, 4\njgt %r4, %r2, +6\nmov %r5, %r1\nadd %r5, %r6\nldxw %r0, [%r5+0]\n\
         jeq %r7, 0, +1\nldxb %r0, [%r5+3]\nexit\nexit\n",
        // Division and remainder by zero, and INT_MIN / -1, where the path is not taken.
        "mov %r0, 5\njlt %r2, 1, +18\nldxb %r4, [%r1+0]\njeq %r4, 0, +16\nmov %r0, 1000\n\
         div %r0, %r4\nmov %r3, 77\nmod %r3, %r4\nadd %r0, %r3\nmov %r6, %r4\nsub %r6, 2\n\
         jeq %r6, -1, +8\nlddw %r7, 0x8000000000000000\nsdiv %r7, %r6\nadd %r0, %r7\n\
         lddw %r7, 0x8000000000000000\nsmod %r7, %r6\nadd %r0, %r7\nexit\n",
        "mov %r0, 3\njlt %r2, 1, +6\nldxb %r4, [%r1+0]\njne %r4, 0, +4\nmov32 %r0, 50\n\
         div32 %r0, %r4\nmod32 %r0, %r4\nadd %r0, 9\nexit\n",
        // Stores on both sides of a branch on a packet byte, then a load where the paths join.
        "mov %r0, 0\njlt %r2, 2, +8\nldxb %r4, [%r1+1]\njeq %r4, 0, +3\nstxdw [%r10-8], %r4\n\
         stw [%r10-16], 9\nja +2\nmov %r5, 77\nstxdw [%r10-8], %r5\nldxdw %r0, [%r10-8]\nexit\n",
        // Many exits, each with its own result.
        "jlt %r2, 4, +11\nldxb %r4, [%r1+0]\njeq %r4, 1, +11\njeq %r4, 2, +12\nldxb %r5, [%r1+1]\n\
         jgt %r5, 0x80, +12\njset %r5, 1, +13\nldxh %r0, [%r1+2]\njlt %r0, 0x100, +1\nexit\n\
         mov %r0, 99\nexit\nmov %r0, 1\nexit\nmov %r0, 2\nexit\nmov %r0, 3\nexit\n\
         mov %r0, 0x80\nexit\nmov %r0, 0x81\nexit\n",
        // Tests of the length around the span of the fixed loads (20 bytes here), which the
        // branch-free code decides on packets at least that long.
        "mov %r0, 0\njlt %r2, 20, +9\nldxb %r0, [%r1+19]\njlt %r2, 21, +1\nadd %r0, 0x100\n\
         jle %r2, 20, +1\nadd %r0, 0x200\njgt %r2, 20, +1\nadd %r0, 0x400\njge %r2, 21, +1\n\
         add %r0, 0x800\nexit\n",
        // Classic packet loads: out of bounds ends the program with 0.
        "ldabsh 12\njne %r0, 0x800, +5\nldabsb 14\nand %r0, 15\nlsh %r0, 2\nmov %r7, %r0\n\
         ldindh %r7, 14\nexit\n",
    ];
    let mut jit = host_jit();
    let mut page = PageEnd::new();
    let mut rng = Rng::new(0xed9e);
    let mut packets = Vec::new();
    for len in 0..=80usize {
        packets.push((vec![0; len], len as u32));
        packets.push((vec![0xff; len], len as u32));
        for _ in 0..3 {
            let mut d = rng.bytes(len);
            if len > 14 && rng.chance(1, 2) {
                d[14] = 0x40 | rng.below(16) as u8;
                d[0] = rng.below(4) as u8;
            }
            packets.push((d, len as u32));
        }
    }
    for src in programs {
        let prog = assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        let facts = verify(&prog, &Config::new(ProgramType::Filter))
            .unwrap_or_else(|e| panic!("{e:?}\n{src}"));
        let free = compare_both(&mut jit, src, &prog, &facts, &packets, &mut page)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(free, "no branch-free code for\n{src}");
    }
}
