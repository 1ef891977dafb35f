//! `filter`: pcap-filter expressions over a generated capture, libpcap against udfkit.
//!
//! The capture: 10,000 seeded packets (1,000 with `--quick`) written to a temporary pcap file:
//! IPv4 and IPv6 carrying TCP, UDP and ICMP, about 5% VLAN-tagged, some SYNs, many to or from
//! ports 80 and 443, some to or from 10.1.2.3, whole packets (snap length 262144).
//!
//! For each expression:
//!
//! - libpcap: `pcap_offline_filter` over every packet in memory (`tools/pcap_oracle bench`,
//!   libpcap's optimised code, its interpreter `bpf_filter`);
//! - udfkit: the expression compiled by [`udf_pcap::compile`] (classic BPF, eBPF,
//!   verified), run over the same packets, preloaded, on the interpreter ([`Vm::run`]) and on
//!   the trusted JIT (one [`Executable::runner`] per pass, the cheapest call path there is:
//!   environment and stack set up once), r3 = wire length; on hardened JIT code (a bounds
//!   check on every packet access) the same way, in a table of its own beside trusted code;
//!   and on trusted code with the direct-call ABI ([`Jit::compile_filter`]: one
//!   [`NativeFilter::run`] per packet, the packet and its lengths in registers), in its
//!   branchy lowering and its branch-free one (`IfConvert::Never` and `IfConvert::Always`);
//! - hand-written C for the same four tests (`bench/c/filters.c`, built by `bench/build.rs`
//!   with `gcc -O2`), run as a process over the same capture like the libpcap oracle, one call
//!   through a function pointer per packet; the "single-filter speed" table puts libpcap, the
//!   C, the region ABI and the direct call (branchy, branchy with frame, branch-free) side by
//!   side;
//! - compile time: libpcap's `pcap_compile` + `pcap_freecode` (`tools/pcap_oracle
//!   compile-bench`), ours (`pcap::compile`, verification included), and ours with the JIT
//!   compile and mapping added.
//!
//! Every engine, libpcap and the C must accept the same number of packets. Figures are ns per packet, each the
//! best of several timed repetitions of whole passes (our engines: passes for at least 0.3 s,
//! 0.03 s with `--quick`; libpcap: the best of several oracle runs). A last row runs an empty
//! filter (`r0 = 0`) to show the per-call cost of each engine's entry.
//!
//! The oracle is `$UDF_PCAP_ORACLE`, else `target/pcap_oracle` (`cc -O2 -o target/pcap_oracle
//! tools/pcap_oracle.c -lpcap`); without it the libpcap columns are left empty.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use udf_bytecode::rng::Rng;
use udf_bytecode::{Program, ProgramType};
use udf_jit::{Executable, IfConvert, Jit, Mode, Target};
use udf_pcap::{CompileOptions, LinkType};
use udf_runtime::native::NativeFilter;
use udf_runtime::{Compiled, Context, NoHelpers, RunOptions, Vm, prepare};
use udf_verifier::Verified;

use crate::best_per_call;

/// The expressions measured.
pub(crate) const EXPRESSIONS: [&str; 4] = [
    "tcp port 80",
    "host 10.1.2.3",
    "vlan and tcp port 443",
    "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn",
];

/// One packet: captured bytes (the whole packet) and length on the wire.
pub(crate) struct Packet {
    data: Vec<u8>,
    wire: u32,
}

/// A source or destination address: 10.1.2.3 in one packet in ten, else a random host of
/// 10.0.0.0/8 or of the public internet.
fn ip4(rng: &mut Rng, special: bool) -> [u8; 4] {
    if special {
        [10, 1, 2, 3]
    } else if rng.chance(50, 100) {
        [10, rng.below(256) as u8, rng.below(256) as u8, 1 + rng.below(254) as u8]
    } else {
        (rng.next_u64() as u32 | 0x0100_0000).to_be_bytes()
    }
}

fn ip6(rng: &mut Rng) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
    a
}

/// A transport header and payload: TCP (60%), UDP (30%), ICMP or ICMPv6 (10%).
fn transport(rng: &mut Rng, v6: bool) -> (u8, Vec<u8>) {
    let mut t = Vec::new();
    let service = match rng.below(100) {
        0..30 => 80,
        30..55 => 443,
        55..60 => 22,
        _ => 1024 + rng.below(60_000) as u16,
    };
    let ephemeral = 32_768 + rng.below(28_000) as u16;
    let (sport, dport) =
        if rng.chance(50, 100) { (ephemeral, service) } else { (service, ephemeral) };
    let proto = match rng.below(100) {
        0..60 => {
            t.extend(sport.to_be_bytes());
            t.extend(dport.to_be_bytes());
            t.extend(rng.next_u64().to_be_bytes()); // seq, ack
            t.push(5 << 4);
            let flags = match rng.below(100) {
                0..10 => 0x02,  // SYN
                10..15 => 0x12, // SYN-ACK
                15..18 => 0x11, // FIN-ACK
                18..60 => 0x18, // PSH-ACK
                _ => 0x10,      // ACK
            };
            t.push(flags);
            t.extend([0xff, 0xff, 0, 0, 0, 0]);
            let payload = if flags == 0x18 { rng.below(1400) as usize } else { 0 };
            t.resize(t.len() + payload, 0x61);
            6
        }
        60..90 => {
            let payload = 20 + rng.below(500) as usize;
            t.extend(sport.to_be_bytes());
            t.extend(if service == 80 || service == 443 { 53u16 } else { dport }.to_be_bytes());
            t.extend(((8 + payload) as u16).to_be_bytes());
            t.extend([0, 0]);
            t.resize(t.len() + payload, 0x62);
            17
        }
        _ => {
            t.extend([if v6 { 128 } else { 8 }, 0, 0, 0]);
            t.extend(rng.next_u64().to_be_bytes());
            t.resize(t.len() + 56, 0x63);
            if v6 { 58 } else { 1 }
        }
    };
    (proto, t)
}

/// The capture's packets.
pub(crate) fn packets(n: usize) -> Vec<Packet> {
    let mut rng = Rng::new(0x6669_6c74_6572_2d31);
    (0..n)
        .map(|_| {
            let mut f =
                vec![0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
            if rng.chance(5, 100) {
                let vid: u16 = if rng.chance(50, 100) { 100 } else { 200 };
                f.extend([0x81, 0x00]);
                f.extend(vid.to_be_bytes());
            }
            if rng.chance(80, 100) {
                let (proto, body) = transport(&mut rng, false);
                let special = rng.chance(10, 100);
                let (src, dst) = if rng.chance(50, 100) {
                    (ip4(&mut rng, special), ip4(&mut rng, false))
                } else {
                    (ip4(&mut rng, false), ip4(&mut rng, special))
                };
                f.extend([0x08, 0x00, 0x45, 0]);
                f.extend(((20 + body.len()) as u16).to_be_bytes());
                f.extend([0, 0, 0x40, 0, 64, proto, 0, 0]);
                f.extend(src);
                f.extend(dst);
                f.extend(body);
            } else {
                let (proto, body) = transport(&mut rng, true);
                f.extend([0x86, 0xdd, 0x60, 0, 0, 0]);
                f.extend((body.len() as u16).to_be_bytes());
                f.extend([proto, 64]);
                f.extend(ip6(&mut rng));
                f.extend(ip6(&mut rng));
                f.extend(body);
            }
            let wire = f.len().max(60) as u32;
            Packet { data: f, wire }
        })
        .collect()
}

/// Writes a pcap file (little-endian, microseconds, Ethernet, snap length 262144).
pub(crate) fn write_pcap(path: &Path, packets: &[Packet]) {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0u8; 8]); // time zone, accuracy
    out.extend(262_144u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    for (i, p) in packets.iter().enumerate() {
        out.extend(1_700_000_000u32.to_le_bytes());
        out.extend((i as u32).to_le_bytes());
        out.extend((p.data.len() as u32).to_le_bytes());
        out.extend(p.wire.to_le_bytes());
        out.extend(&p.data);
    }
    std::fs::write(path, out).expect("write the capture");
}

/// The libpcap oracle, when there is one.
fn oracle() -> Option<PathBuf> {
    let p = match std::env::var_os("UDF_PCAP_ORACLE") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/pcap_oracle"),
    };
    p.is_file().then_some(p)
}

/// The hand-written C's program (`bench/c/filters.c`, built by `bench/build.rs`), when it
/// was built.
fn c_filters() -> Option<PathBuf> {
    let p = PathBuf::from(env!("UDF_BENCH_FILTERS_C"));
    p.is_file().then_some(p)
}

/// Runs the oracle and reads `key=value` pairs from its output.
fn oracle_run(oracle: &Path, args: &[&str]) -> Result<Vec<(String, f64)>, String> {
    let o = Command::new(oracle).args(args).output().map_err(|e| e.to_string())?;
    if !o.status.success() {
        return Err(String::from_utf8_lossy(&o.stderr).trim().to_string());
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect())
}

/// Runs the oracle and returns its output.
fn oracle_run_text(oracle: &Path, args: &[&str]) -> Result<String, String> {
    let o = Command::new(oracle).args(args).output().map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
    }
}

fn value(kv: &[(String, f64)], key: &str) -> f64 {
    kv.iter().find(|(k, _)| k == key).map_or(f64::NAN, |(_, v)| *v)
}

/// Our two engines' code for one verified filter.
struct Ours {
    compiled: Compiled,
    exe: Executable,
    /// Hardened trusted code: a bounds check on every context access.
    hardened: Executable,
    /// Trusted code with the direct-call ABI ([`Jit::compile_filter`], the lowering its rule
    /// chooses), or why not.
    direct: Result<NativeFilter, String>,
    /// Whether `direct` is the branch-free lowering (`IfConvert::Auto` chose it).
    chose_predicated: bool,
    /// The direct call's branchy code (`IfConvert::Never`).
    branchy: Option<NativeFilter>,
    /// The direct call's branch-free code (`IfConvert::Always`), when the filter has one.
    predicated: Option<NativeFilter>,
    /// The branchy code with Cranelift's frame kept (`Options::keep_frame`), as before frames
    /// were cut off.
    framed: Option<NativeFilter>,
    budget: u64,
}

impl Ours {
    fn new(jit: &mut Jit, prog: &Program, facts: &Verified) -> Ours {
        let ty = ProgramType::Filter;
        let compiled =
            prepare(prog, &udf_runtime::pre_run_checks(ty, true)).expect("a verified filter");
        let native = |jit: &mut Jit, mode| {
            let code = jit.compile(prog, ty, mode).expect("the JIT compiles a verified filter");
            Executable::new(code).expect("host code maps")
        };
        let code = jit.compile_filter(prog, facts).map_err(|e| e.to_string());
        let chose_predicated = code.as_ref().is_ok_and(|c| c.is_predicated());
        let direct = code.and_then(|code| code.load().map_err(|e| e.to_string()));
        let mut with = |if_convert, keep_frame| {
            jit.options.if_convert = if_convert;
            jit.options.keep_frame = keep_frame;
            let code = jit.compile_filter(prog, facts).ok();
            jit.options.if_convert = IfConvert::Auto;
            jit.options.keep_frame = false;
            code.filter(|c| c.is_predicated() == (if_convert == IfConvert::Always))
                .and_then(|c| c.load().ok())
        };
        let branchy = with(IfConvert::Never, false);
        let predicated = with(IfConvert::Always, false);
        let framed = with(IfConvert::Never, true);
        Ours {
            compiled,
            exe: native(jit, Mode::Trusted(facts)),
            hardened: native(jit, Mode::Hardened(facts)),
            direct,
            chose_predicated,
            branchy,
            predicated,
            framed,
            budget: facts.max_insns,
        }
    }

    /// One pass over every packet through the direct call: the packets accepted (`None`
    /// when the filter does not have the direct ABI).
    fn direct_pass(&self, packets: &[Packet]) -> Option<u64> {
        Self::filter_pass(self.direct.as_ref().ok()?, packets)
    }

    /// [`Ours::direct_pass`] with Cranelift's frame kept (branchy code).
    fn framed_pass(&self, packets: &[Packet]) -> Option<u64> {
        Self::filter_pass(self.framed.as_ref()?, packets)
    }

    /// [`Ours::direct_pass`] on the branchy code.
    fn branchy_pass(&self, packets: &[Packet]) -> Option<u64> {
        Self::filter_pass(self.branchy.as_ref()?, packets)
    }

    /// [`Ours::direct_pass`] on the branch-free code.
    fn predicated_pass(&self, packets: &[Packet]) -> Option<u64> {
        Self::filter_pass(self.predicated.as_ref()?, packets)
    }

    fn filter_pass(f: &NativeFilter, packets: &[Packet]) -> Option<u64> {
        let mut accepted = 0;
        for p in packets {
            let r0 = f.run(&p.data, u64::from(p.wire)).unwrap_or(0);
            accepted += u64::from(r0 != 0);
        }
        Some(accepted)
    }

    /// One pass over every packet on the interpreter: the packets accepted.
    fn interp_pass(&self, vm: &mut Vm, packets: &[Packet]) -> u64 {
        let mut accepted = 0;
        for p in packets {
            let opts = RunOptions { budget: self.budget, r3: u64::from(p.wire) };
            let r0 = vm
                .run(&self.compiled, Context::ReadOnly(&p.data), &mut NoHelpers, &opts)
                .map_or(0, |o| o.r0);
            accepted += u64::from(r0 != 0);
        }
        accepted
    }

    /// One pass over every packet on the JIT (trusted, or `hardened`): the packets accepted.
    fn jit_pass(&self, packets: &[Packet], hardened: bool) -> u64 {
        let exe = if hardened { &self.hardened } else { &self.exe };
        let mut runner = exe.runner();
        let mut accepted = 0;
        for p in packets {
            let opts = RunOptions { budget: self.budget, r3: u64::from(p.wire) };
            let r0 =
                runner.run(Context::ReadOnly(&p.data), &mut NoHelpers, &opts).map_or(0, |o| o.r0);
            accepted += u64::from(r0 != 0);
        }
        accepted
    }
}

/// Best time per call of `f` over `reps` repetitions of at least `min`, as a duration.
fn best_of(min: Duration, reps: usize, f: impl FnMut()) -> Duration {
    let mut f = f;
    best_per_call(min, reps, || {
        f();
        0
    })
    .0
}

fn us(t: Duration) -> f64 {
    t.as_secs_f64() * 1e6
}

/// How long things take: timing parameters.
struct Timing {
    min: Duration,
    reps: usize,
    /// The C and libpcap harnesses' method, for the single-filter table: runs of `passes`
    /// passes timed as one, the best of `runs`.
    runs: usize,
    passes: usize,
}

/// ns per packet of `pass` (one pass over `n` packets) timed as the C and libpcap harnesses
/// time theirs: `t.passes` passes in a row, the best of `t.runs` such runs.
fn ns_like_c(t: &Timing, n: usize, mut pass: impl FnMut() -> u64) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..t.runs {
        let start = Instant::now();
        for _ in 0..t.passes {
            std::hint::black_box(pass());
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / (t.passes * n) as f64);
    }
    best
}

/// One udfkit program for an expression, measured.
struct Measured {
    /// Classic BPF instructions it came from.
    cbpf: usize,
    /// eBPF instructions.
    ebpf: usize,
    accepted: u64,
    interp_ns: f64,
    jit_ns: f64,
    /// Hardened trusted JIT code.
    hardened_ns: f64,
    /// Trusted JIT code through the direct call, or why the filter does not have it.
    direct_ns: Result<f64, String>,
    /// The region ABI and the direct call timed as the C harness times itself
    /// ([`ns_like_c`]), for the single-filter table.
    jit_ns_like_c: f64,
    direct_ns_like_c: Option<f64>,
    /// The direct call with Cranelift's frame kept, timed the same way.
    framed_ns_like_c: Option<f64>,
    /// Compile (to verified eBPF) time, µs.
    compile_us: f64,
    /// Compile and JIT compile (and map) time, µs.
    compile_jit_us: f64,
}

/// Times a verified filter on both engines over `packets`, and `compile` (which makes it) with
/// and without the JIT compile.
fn measure(
    jit: &mut Jit,
    vm: &mut Vm,
    packets: &[Packet],
    t: &Timing,
    cbpf: usize,
    compile: impl Fn() -> (Program, Verified),
) -> Measured {
    let (prog, facts) = compile();
    let ours = Ours::new(jit, &prog, &facts);
    let accepted = ours.interp_pass(vm, packets);
    assert_eq!(accepted, ours.jit_pass(packets, false), "the interpreter and the JIT disagree");
    assert_eq!(
        accepted,
        ours.jit_pass(packets, true),
        "the interpreter and the hardened JIT disagree"
    );
    let per_packet = |d: Duration| d.as_secs_f64() * 1e9 / packets.len() as f64;
    let interp_ns = per_packet(best_of(t.min, t.reps, || {
        std::hint::black_box(ours.interp_pass(vm, packets));
    }));
    let jit_ns = per_packet(best_of(t.min, t.reps, || {
        std::hint::black_box(ours.jit_pass(packets, false));
    }));
    let hardened_ns = per_packet(best_of(t.min, t.reps, || {
        std::hint::black_box(ours.jit_pass(packets, true));
    }));
    let direct_ns = match &ours.direct {
        Ok(_) => {
            assert_eq!(
                Some(accepted),
                ours.direct_pass(packets),
                "the interpreter and the direct call disagree"
            );
            Ok(per_packet(best_of(t.min, t.reps, || {
                std::hint::black_box(ours.direct_pass(packets));
            })))
        }
        Err(why) => Err(why.clone()),
    };
    let n = packets.len();
    let jit_ns_like_c = ns_like_c(t, n, || ours.jit_pass(packets, false));
    let direct_ns_like_c =
        ours.direct.is_ok().then(|| ns_like_c(t, n, || ours.direct_pass(packets).unwrap_or(0)));
    if ours.framed.is_some() {
        assert_eq!(Some(accepted), ours.framed_pass(packets), "the framed direct call disagrees");
    }
    if ours.branchy.is_some() {
        assert_eq!(Some(accepted), ours.branchy_pass(packets), "the branchy direct call disagrees");
    }
    if ours.predicated.is_some() {
        assert_eq!(
            Some(accepted),
            ours.predicated_pass(packets),
            "the branch-free direct call disagrees"
        );
    }
    let framed_ns_like_c =
        ours.framed.is_some().then(|| ns_like_c(t, n, || ours.framed_pass(packets).unwrap_or(0)));
    let compile_us = us(best_of(t.min, t.reps, || {
        std::hint::black_box(compile());
    }));
    let compile_jit_us = us(best_of(t.min, t.reps, || {
        let (prog, facts) = compile();
        let code = jit
            .compile(&prog, ProgramType::Filter, Mode::Trusted(&facts))
            .expect("the JIT compiles a verified filter");
        std::hint::black_box(Executable::new(code).expect("maps"));
    }));
    Measured {
        cbpf,
        ebpf: prog.len(),
        accepted,
        interp_ns,
        jit_ns,
        hardened_ns,
        direct_ns,
        jit_ns_like_c,
        direct_ns_like_c,
        framed_ns_like_c,
        compile_us,
        compile_jit_us,
    }
}

/// Everything measured for one expression.
struct Row {
    expr: &'static str,
    /// libpcap: packets accepted, ns per packet, compile µs.
    libpcap: Option<(u64, f64, f64)>,
    /// udfkit's pcap-filter front end.
    ours: Option<Measured>,
    /// libpcap's own classic BPF (`tcpdump -dd`), imported.
    imported: Option<Measured>,
    /// Hand-written C (`bench/c/filters.c`, gcc -O2): packets accepted, ns per packet.
    c: Option<(u64, f64)>,
}

fn cell(x: Option<f64>, digits: usize) -> String {
    x.map_or("-".into(), |x| format!("{x:.digits$}"))
}

pub fn run(quick: bool) {
    let (n, t, oracle_reps, pass_iters, compile_iters) = if quick {
        let t = Timing { min: Duration::from_millis(30), reps: 2, runs: 2, passes: 20 };
        (1_000, t, 2, 20, 20)
    } else {
        let t = Timing { min: Duration::from_millis(300), reps: 9, runs: 5, passes: 300 };
        (10_000, t, 5, 300, 300)
    };
    let packets = packets(n);
    let path = std::env::temp_dir().join(format!("udf-bench-filter-{}.pcap", std::process::id()));
    write_pcap(&path, &packets);
    let cap = path.to_str().expect("a UTF-8 temp path");
    let oracle = oracle();
    let host = Target::host().expect("the filter benchmark runs the JIT: x86-64 hosts only");
    let mut jit = Jit::new(host).expect("host ISA");
    let mut vm = Vm::new();
    let opts = CompileOptions { link: LinkType::En10mb, snaplen: 262_144, netmask: None };
    let mut notes = Vec::new();
    let mut rows = Vec::new();
    let c_prog = c_filters();
    for (k, expr) in EXPRESSIONS.into_iter().enumerate() {
        let mut row = Row { expr, libpcap: None, ours: None, imported: None, c: None };
        if let Some(c) = &c_prog {
            let (mut ns, mut acc) = (f64::INFINITY, None);
            let iters = pass_iters.to_string();
            for _ in 0..oracle_reps {
                match oracle_run(c, &["bench", &k.to_string(), cap, &iters]) {
                    Ok(kv) => {
                        ns = ns.min(value(&kv, "ns_per_packet"));
                        acc = Some(value(&kv, "accepted") as u64);
                    }
                    Err(e) => notes.push(format!("hand-written C for `{expr}`: {e}")),
                }
            }
            row.c = acc.map(|a| (a, ns));
        }
        if let Some(o) = &oracle {
            let (mut ns, mut acc, mut compile) = (f64::INFINITY, None, f64::INFINITY);
            let iters = pass_iters.to_string();
            for _ in 0..oracle_reps {
                match oracle_run(o, &["bench", expr, cap, &iters]) {
                    Ok(kv) => {
                        ns = ns.min(value(&kv, "ns_per_packet"));
                        acc = Some(value(&kv, "accepted") as u64);
                    }
                    Err(e) => notes.push(format!("libpcap on `{expr}`: {e}")),
                }
            }
            let iters = compile_iters.to_string();
            for _ in 0..oracle_reps {
                if let Ok(kv) = oracle_run(o, &["compile-bench", expr, "EN10MB", &iters]) {
                    compile = compile.min(value(&kv, "ns_per_compile") / 1e3);
                }
            }
            row.libpcap = acc.map(|a| (a, ns, compile));
            match oracle_run_text(o, &["dd", expr, "EN10MB"]) {
                Ok(dd) => {
                    let insns = udf_pcap::cbpf::parse_any(dd.as_bytes())
                        .expect("libpcap's -dd output parses");
                    row.imported =
                        Some(measure(&mut jit, &mut vm, &packets, &t, insns.len(), || {
                            udf_pcap::cbpf::compile(&insns)
                                .expect("libpcap's classic BPF translates")
                        }));
                }
                Err(e) => notes.push(format!("libpcap's -dd of `{expr}`: {e}")),
            }
        }
        match udf_pcap::compile(expr, &opts) {
            Ok(c) => {
                row.ours = Some(measure(&mut jit, &mut vm, &packets, &t, c.cbpf.len(), || {
                    let c = udf_pcap::compile(expr, &opts).expect("compiles");
                    (c.prog, c.facts)
                }));
            }
            Err(d) => notes.push(format!("udfkit does not compile `{expr}`: {}", d.message)),
        }
        let accepted = [
            row.libpcap.as_ref().map(|l| l.0),
            row.ours.as_ref().map(|m| m.accepted),
            row.imported.as_ref().map(|m| m.accepted),
            row.c.map(|c| c.0),
        ];
        let known: Vec<u64> = accepted.iter().flatten().copied().collect();
        assert!(
            known.windows(2).all(|w| w[0] == w[1]),
            "`{expr}`: libpcap, udfkit, udfkit on libpcap's code and the C accept {accepted:?} packets"
        );
        rows.push(row);
    }

    // The per-call cost: an empty filter (`r0 = 0`).
    let empty = udf_bytecode::assemble("mov %r0, 0\nexit\n").expect("assembles");
    let facts = udf_verifier::verify(&empty, &udf_verifier::Config::new(ProgramType::Filter))
        .expect("verifies");
    let base = measure(&mut jit, &mut vm, &packets, &t, 0, || (empty.clone(), facts.clone()));

    // Single-filter speed: libpcap, the C, the region ABI and the direct call timed alike
    // (runs of `t.passes` passes, best of several) and interleaved, round after round over
    // the four expressions, so that the load of a shared machine drifting over the run does
    // not favour whichever was measured in a quiet moment.
    let singles: Vec<Option<Ours>> = EXPRESSIONS
        .iter()
        .map(|e| udf_pcap::compile(e, &opts).ok().map(|c| Ours::new(&mut jit, &c.prog, &c.facts)))
        .collect();
    // Per expression: libpcap, C, region ABI, direct call (branchy), direct call with
    // Cranelift's frame (branchy), direct call (branch-free) (ns per packet, best so far).
    let mut single = vec![[f64::INFINITY; 6]; EXPRESSIONS.len()];
    let iters = pass_iters.to_string();
    let one = Timing { runs: 1, ..t };
    for _ in 0..t.runs {
        for (k, expr) in EXPRESSIONS.into_iter().enumerate() {
            let best = &mut single[k];
            if let Some(Ok(kv)) =
                oracle.as_ref().map(|o| oracle_run(o, &["bench", expr, cap, &iters]))
            {
                best[0] = best[0].min(value(&kv, "ns_per_packet"));
            }
            if let Some(Ok(kv)) =
                c_prog.as_ref().map(|c| oracle_run(c, &["bench", &k.to_string(), cap, &iters]))
            {
                best[1] = best[1].min(value(&kv, "ns_per_packet"));
            }
            if let Some(ours) = &singles[k] {
                best[2] = best[2].min(ns_like_c(&one, n, || ours.jit_pass(&packets, false)));
                if ours.branchy.is_some() {
                    let d = ns_like_c(&one, n, || ours.branchy_pass(&packets).unwrap_or(0));
                    best[3] = best[3].min(d);
                }
                if ours.framed.is_some() {
                    let d = ns_like_c(&one, n, || ours.framed_pass(&packets).unwrap_or(0));
                    best[4] = best[4].min(d);
                }
                if ours.predicated.is_some() {
                    let d = ns_like_c(&one, n, || ours.predicated_pass(&packets).unwrap_or(0));
                    best[5] = best[5].min(d);
                }
            }
        }
    }
    let finite = |x: f64| x.is_finite().then_some(x);

    let bytes: usize = packets.iter().map(|p| p.data.len()).sum();
    println!(
        "{n} packets ({} KiB) in memory, Ethernet; ns per packet, best of {} (libpcap: best of \
         {oracle_reps} runs of {pass_iters} passes). \"ours\": udfkit's pcap-filter front end; \
         \"libpcap's code\": libpcap's optimised classic BPF (`-dd`) imported by udfkit.\n",
        bytes / 1024,
        t.reps
    );
    println!(
        "| expression | accepted | libpcap (bpf_filter) | ours: interp | ours: JIT | libpcap / \
         ours JIT | libpcap's code: interp | libpcap's code: JIT | libpcap / JIT on its code \
         | insns: cBPF ours / libpcap | insns: eBPF ours / from libpcap's |"
    );
    println!("|{}", " --- |".repeat(11));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}x", a / b),
        _ => "-".into(),
    };
    let count = |x: Option<usize>| x.map_or("-".into(), |x| x.to_string());
    for r in &rows {
        let lib = r.libpcap.map(|l| l.1);
        let ours = r.ours.as_ref();
        let imp = r.imported.as_ref();
        let accepted =
            r.libpcap.map(|l| l.0).or(ours.map(|m| m.accepted)).or(imp.map(|m| m.accepted));
        println!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} |",
            r.expr.replace('|', "\\|"),
            accepted.map_or("-".into(), |a| a.to_string()),
            cell(lib, 1),
            cell(ours.map(|m| m.interp_ns), 1),
            cell(ours.map(|m| m.jit_ns), 1),
            ratio(lib, ours.map(|m| m.jit_ns)),
            cell(imp.map(|m| m.interp_ns), 1),
            cell(imp.map(|m| m.jit_ns), 1),
            ratio(lib, imp.map(|m| m.jit_ns)),
            count(ours.map(|m| m.cbpf)),
            count(imp.map(|m| m.cbpf)),
            count(ours.map(|m| m.ebpf)),
            count(imp.map(|m| m.ebpf)),
        );
    }
    println!(
        "| (empty filter, `r0 = 0`: the per-call cost) | 0 | - | {:.1} | {:.1} | - | - | - | - \
         | - | {} |",
        base.interp_ns, base.jit_ns, base.ebpf
    );
    println!(
        "\nsingle-filter speed, ns per packet, all four timed alike and interleaved (best of {} \
         rounds, each one run of {} passes of each): libpcap's bpf_filter, hand-written C (gcc \
         -O2, one call through a function pointer per packet), our trusted JIT code through the \
         region ABI (NativeRunner) and through the direct call (NativeFilter::run): its branchy \
         code (IfConvert::Never), also with Cranelift's frame kept (Options::keep_frame, the \
         code before frames were cut off), and its branch-free code (IfConvert::Always); \
         \"chosen\" is the one Jit::compile_filter picks by default (IfConvert::Auto):\n",
        t.runs, t.passes
    );
    println!(
        "| expression | libpcap (bpf_filter) | C (gcc -O2) | JIT: region ABI | JIT: direct \
         call, branchy, with frame | JIT: direct call, branchy | JIT: direct call, branch-free \
         | chosen | libpcap / chosen | chosen / C | branchy / branch-free | region / branchy \
         | with frame / branchy |"
    );
    println!("|{}", " --- |".repeat(13));
    let direct = |m: Option<&Measured>| m.and_then(|m| m.direct_ns_like_c);
    let framed = |m: Option<&Measured>| m.and_then(|m| m.framed_ns_like_c);
    for ((r, best), ours) in rows.iter().zip(&single).zip(&singles) {
        let [lib, c, region, branchy, framed, free] = best.map(finite);
        let chose_free = ours.as_ref().is_some_and(|o| o.chose_predicated);
        let chosen = if chose_free { free } else { branchy };
        println!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.expr.replace('|', "\\|"),
            cell(lib, 1),
            cell(c, 1),
            cell(region, 1),
            cell(framed, 1),
            cell(branchy, 1),
            cell(free, 1),
            if chose_free { "branch-free" } else { "branchy" },
            ratio(lib, chosen),
            ratio(chosen, c),
            ratio(branchy, free),
            ratio(region, branchy),
            ratio(framed, branchy),
        );
        let ours = r.ours.as_ref();
        if let Some(Err(why)) = ours.map(|m| &m.direct_ns) {
            notes.push(format!("`{}` has no direct call: {why}", r.expr));
        }
    }
    println!(
        "| (empty filter, no branch: one code) | - | - | {:.1} | {} | {} | - | - | - | - | - | {} \
         | {} |",
        base.jit_ns_like_c,
        cell(framed(Some(&base)), 1),
        cell(direct(Some(&base)), 1),
        ratio(Some(base.jit_ns_like_c), direct(Some(&base))),
        ratio(framed(Some(&base)), direct(Some(&base))),
    );
    println!(
        "\ntrusted vs hardened JIT code (a bounds check on every packet access), ns per packet:\n"
    );
    println!(
        "| expression | ours: trusted | ours: hardened | hardened / trusted | libpcap's code: \
         trusted | libpcap's code: hardened | hardened / trusted |"
    );
    println!("|{}", " --- |".repeat(7));
    let slower = |m: Option<&Measured>| ratio(m.map(|m| m.hardened_ns), m.map(|m| m.jit_ns));
    for r in &rows {
        let (ours, imp) = (r.ours.as_ref(), r.imported.as_ref());
        println!(
            "| `{}` | {} | {} | {} | {} | {} | {} |",
            r.expr.replace('|', "\\|"),
            cell(ours.map(|m| m.jit_ns), 2),
            cell(ours.map(|m| m.hardened_ns), 2),
            slower(ours),
            cell(imp.map(|m| m.jit_ns), 2),
            cell(imp.map(|m| m.hardened_ns), 2),
            slower(imp),
        );
    }
    println!(
        "| (empty filter) | {:.2} | {:.2} | {} | - | - | - |",
        base.jit_ns,
        base.hardened_ns,
        slower(Some(&base))
    );
    println!(
        "\ncompile time per expression, µs (best of {}; libpcap: pcap_compile + pcap_freecode, \
         best of {oracle_reps} runs of {compile_iters}):\n",
        t.reps
    );
    println!(
        "| expression | libpcap | ours (to verified eBPF) | ours + JIT | libpcap's code \
         imported (translate + verify) | imported + JIT |"
    );
    println!("|{}", " --- |".repeat(6));
    for r in &rows {
        let (ours, imp) = (r.ours.as_ref(), r.imported.as_ref());
        println!(
            "| `{}` | {} | {} | {} | {} | {} |",
            r.expr.replace('|', "\\|"),
            cell(r.libpcap.map(|l| l.2), 1),
            cell(ours.map(|m| m.compile_us), 1),
            cell(ours.map(|m| m.compile_jit_us), 1),
            cell(imp.map(|m| m.compile_us), 1),
            cell(imp.map(|m| m.compile_jit_us), 1),
        );
    }
    if c_prog.is_none() {
        notes.push(
            "the hand-written C was not built (bench/build.rs: gcc -O2 c/filters.c failed): \
             the C column is empty"
                .into(),
        );
    }
    if oracle.is_none() {
        notes.push(
            "no libpcap oracle (set UDF_PCAP_ORACLE or build target/pcap_oracle: cc -O2 -o \
             target/pcap_oracle tools/pcap_oracle.c -lpcap): libpcap's columns are empty"
                .into(),
        );
    }
    for note in notes {
        println!("\nnote: {note}");
    }
    let _ = std::fs::remove_file(&path);
}
