//! The merged demultiplexer against its definition: for every packet, the set of owners it
//! returns must be exactly the owners whose filter, run alone by the interpreter, accepts the
//! packet. Generated workloads of 1, 10, 100, 1,000 and 10,000 pcap-filter expressions
//! (connection 4-tuples, port, host and protocol filters, overlapping and duplicate filters, a
//! few that do not decompose) over generated Ethernet traffic, with inserts and removals
//! interleaved; plus the shapes the extraction must find (what merges, what stays whole).

use std::collections::HashMap;

use udf_bytecode::ProgramType;
use udf_bytecode::rng::Rng;
use udf_kernel_glue::demux::traffic::{Workload, connections, traffic, workload};
use udf_kernel_glue::demux::{Demux, FilterId, Merged, Owner, Scratch, Shape, WholeCode};
use udf_runtime::{Compiled, Context, NoHelpers, RunOptions, Vm};
use udf_verifier::Verified;

/// Most instructions of a merged program the tests make.
const LIMIT: usize = 600_000;

/// Compiles a pcap-filter expression for Ethernet (verified by the compiler).
fn compile(expr: &str) -> Verified {
    udf_pcap::compile(expr, &udf_pcap::CompileOptions::default())
        .unwrap_or_else(|e| panic!("`{expr}`: {e:?}"))
        .facts
}

/// A filter run alone: the oracle.
struct Alone {
    owner: Owner,
    code: Compiled,
    budget: u64,
}

impl Alone {
    fn new(owner: Owner, v: &Verified) -> Alone {
        let code = udf_runtime::prepare(
            v.program(),
            &udf_runtime::pre_run_checks(ProgramType::Filter, true),
        )
        .expect("prepared");
        Alone { owner, code, budget: v.facts().max_insns }
    }

    fn accepts(&self, vm: &mut Vm, pkt: &[u8], wire: u32) -> bool {
        let opts = RunOptions { budget: self.budget, r3: u64::from(wire) };
        vm.run(&self.code, Context::ReadOnly(pkt), &mut NoHelpers, &opts).expect("no fault").r0 != 0
    }
}

/// The demultiplexer and the filters it should hold, run alone.
struct Both {
    demux: Demux,
    alone: Vec<(FilterId, Alone)>,
    cache: HashMap<String, Verified>,
    merged: usize,
    whole: usize,
}

impl Both {
    fn new() -> Both {
        Both { demux: Demux::new(), alone: Vec::new(), cache: HashMap::new(), merged: 0, whole: 0 }
    }

    fn insert(&mut self, owner: Owner, expr: &str) {
        let v = self.cache.entry(expr.to_string()).or_insert_with(|| compile(expr));
        let (id, shape) = self.demux.insert(owner, v).expect("installed");
        match shape {
            Shape::Merged { .. } => self.merged += 1,
            Shape::Opaque(_) => self.whole += 1,
        }
        self.alone.push((id, Alone::new(owner, v)));
    }

    fn remove_at(&mut self, i: usize) {
        let (id, _) = self.alone.swap_remove(i);
        assert!(self.demux.remove(id), "installed");
        assert!(!self.demux.remove(id), "removed twice");
    }

    /// Compiles the demultiplexer into one program and checks it (see [`Both::check_merged`]);
    /// returns it with its instruction count.
    fn check_compiled(&self, packets: &[(Vec<u8>, u32)], what: &str) -> (Merged, usize) {
        let merged = self.demux.compile(LIMIT).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        let n = self.check_merged(&merged, packets, what);
        (merged, n)
    }

    /// Checks `merged` (current for the demultiplexer) on every packet, on the interpreter and
    /// on the JIT, against every filter alone; returns its instruction count.
    fn check_merged(&self, merged: &Merged, packets: &[(Vec<u8>, u32)], what: &str) -> usize {
        assert!(self.demux.is_current(merged), "{what}: stale program");
        let prog = merged.verified.program();
        let mut jit = udf_jit::Jit::new(udf_jit::Target::host().expect("x86-64")).expect("jit");
        let native = jit
            .compile(prog, ProgramType::Filter, udf_jit::Mode::Trusted(&merged.verified))
            .expect("the JIT compiles the merged program");
        let exe = udf_jit::Executable::new(native).expect("maps");
        let mut runner = exe.runner();
        let mut s = Scratch::new();
        let mut vm = Vm::new();
        let (mut a, mut j, mut d) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (pkt, wire)) in packets.iter().enumerate() {
            self.demux.run_merged(merged, &mut s, pkt, *wire, &mut a).expect("runs");
            let opts =
                RunOptions { budget: merged.verified.facts().max_insns, r3: u64::from(*wire) };
            j.clear();
            let r0 = runner
                .run(Context::ReadOnly(pkt), &mut self.demux.lookup(&mut j), &opts)
                .expect("runs")
                .r0;
            assert_eq!(r0, 0, "{what}: packet {i}: the merged program returns 0");
            self.demux.finish_merged(merged, &mut s, pkt, *wire, &mut j).expect("runs");
            assert_eq!(a, j, "{what}: packet {i}: interpreter and JIT differ");
            // The lookups again through the runtime's direct helper table.
            d.clear();
            runner
                .run_with(Context::ReadOnly(pkt), &mut self.demux.lookup(&mut d), &opts)
                .expect("runs");
            self.demux.finish_merged(merged, &mut s, pkt, *wire, &mut d).expect("runs");
            assert_eq!(j, d, "{what}: packet {i}: trampoline and direct helpers differ");
            let mut want: Vec<Owner> = self
                .alone
                .iter()
                .filter(|(_, f)| f.accepts(&mut vm, pkt, *wire))
                .map(|(_, f)| f.owner)
                .collect();
            want.sort_unstable();
            want.dedup();
            assert_eq!(a, want, "{what}: packet {i}: merged program {a:?}, alone {want:?}");
        }
        prog.len()
    }

    /// Checks every packet; returns (packets accepted by someone, by two owners or more).
    fn check(&self, packets: &[(Vec<u8>, u32)], what: &str) -> (usize, usize) {
        let mut s = Scratch::new();
        let mut vm = Vm::new();
        let mut got = Vec::new();
        let (mut some, mut several) = (0, 0);
        let mut failures = Vec::new();
        for (n, (pkt, wire)) in packets.iter().enumerate() {
            self.demux.run(&mut s, pkt, *wire, &mut got).expect("no fault");
            let mut want: Vec<Owner> = self
                .alone
                .iter()
                .filter(|(_, a)| a.accepts(&mut vm, pkt, *wire))
                .map(|(_, a)| a.owner)
                .collect();
            want.sort_unstable();
            want.dedup();
            if got != want {
                failures.push(format!(
                    "{what}: packet {n} ({} bytes): demux {got:?}, alone {want:?}",
                    pkt.len()
                ));
            }
            some += usize::from(!want.is_empty());
            several += usize::from(want.len() >= 2);
        }
        assert!(
            failures.is_empty(),
            "{} of {} packets differ:\n{}",
            failures.len(),
            packets.len(),
            failures[..failures.len().min(10)].join("\n")
        );
        (some, several)
    }
}

/// One workload: insert all, check; remove a share and insert more, interleaved, check; remove
/// everything, check that nothing is left.
fn differential(n: usize, packets: usize) {
    differential_of(workload, n, packets, n >= 10)
}

/// `overlapping`: the workload must have packets accepted by several owners.
fn differential_of(make: fn(u64, usize) -> Workload, n: usize, packets: usize, overlapping: bool) {
    let seed = 0xde_u64 << 32 | n as u64;
    let w: Workload = make(seed, n);
    let more = make(seed ^ 1, n.div_ceil(4));
    let mut rng = Rng::new(seed);
    let mut both = Both::new();
    for (owner, e) in &w.filters {
        both.insert(*owner, e);
    }
    let traffic = traffic(seed, &w, packets);
    let (some, several) = both.check(&traffic, &format!("{n} filters"));
    let (program, insns) = both.check_compiled(&traffic, &format!("{n} filters compiled"));
    let groups = both.demux.stats().groups;
    // Interleaved: remove one in three, each removal followed by an insertion now and then.
    let mut extra = more.filters.iter();
    for _ in 0..n / 3 + 1 {
        if both.alone.is_empty() {
            break;
        }
        let i = rng.index(both.alone.len());
        both.remove_at(i);
        if rng.chance(1, 2)
            && let Some((o, e)) = extra.next()
        {
            both.insert(*o + n as Owner, e);
        }
    }
    let (some2, _) = both.check(&traffic, &format!("{n} filters after removals"));
    assert_eq!(both.demux.len(), both.alone.len());
    // Where the changes kept every shape, the program made before them is still the program:
    // only its tables changed (the incremental case). Otherwise it is made again.
    let incremental = both.demux.is_current(&program);
    if incremental {
        both.check_merged(&program, &traffic, &format!("{n} filters, tables changed in place"));
    } else {
        // A stale program is never trusted: its runs walk the trie.
        let mut s = Scratch::new();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (p, wire) in &traffic {
            both.demux.run_merged(&program, &mut s, p, *wire, &mut a).expect("runs");
            both.demux.run(&mut s, p, *wire, &mut b).expect("runs");
            assert_eq!(a, b, "{n} filters: a stale program's result");
        }
        both.check_compiled(&traffic, &format!("{n} filters after removals, made again"));
    }
    while !both.alone.is_empty() {
        let i = rng.index(both.alone.len());
        both.remove_at(i);
    }
    both.check(&traffic, &format!("{n} filters all removed"));
    let st = both.demux.stats();
    assert_eq!(
        (st.filters, st.whole, st.nodes, st.leaves, st.rules, st.groups),
        (0, 0, 1, 0, 0, 0),
        "everything freed"
    );
    eprintln!(
        "{n} filters: {} merged, {} whole; {} of {packets} packets accepted by some owner, {several} by several ({some2} after removals); program: {insns} instructions, {groups} groups, kept after changes: {incremental}",
        both.merged, both.whole, some
    );
    // Without overlaps (connections) there are a few shapes, whatever the number of filters,
    // and changes to the connections change tables only (with one filter, removing it drops
    // its group).
    if !overlapping && n > 1 {
        assert!(groups <= 4, "{groups} groups for connections");
        assert!(incremental, "the connection tables were not changed in place");
    }
    // The workload must exercise the merge: most filters merged, packets matched, overlaps.
    assert!(both.merged * 10 >= (both.merged + both.whole) * 8, "too few merged");
    assert!(some * 4 >= packets, "too few packets matched: {some}");
    if overlapping {
        assert!(several > 0, "no packet accepted by two owners");
    }
}

#[test]
fn one_filter() {
    differential(1, 400);
}

#[test]
fn ten_filters() {
    differential(10, 400);
}

#[test]
fn a_hundred_filters() {
    differential(100, 400);
}

#[test]
fn a_thousand_filters() {
    differential(1000, 200);
}

#[test]
fn ten_thousand_filters() {
    differential(10_000, 60);
}

/// DPF's case: one connection filter per owner, 10,000 of them.
#[test]
fn ten_thousand_connections() {
    differential_of(connections, 10_000, 100, false);
}

#[test]
fn shapes() {
    let mut d = Demux::new();
    for e in [
        "tcp port 80",
        "tcp and src host 10.0.0.1 and dst host 10.0.0.2 and src port 1234 and dst port 80",
        "udp",
        "arp",
        "ip6",
        "len > 200 and tcp",
        "tcp[tcpflags] & tcp-syn != 0",
        "vlan 5 and tcp",
        "host 10.0.0.1 or host 10.0.0.2",
    ] {
        let (_, shape) = d.insert(0, &compile(e)).expect("installed");
        assert!(matches!(shape, Shape::Merged { .. }), "`{e}` not merged: {shape:?}");
    }
    // `.udf` filters (the compiler's form of the header-length shift is `r = X; r += pkt`).
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus/filters/web.udf");
    let src = std::fs::read_to_string(path).expect("the corpus filter");
    let module = udf_compiler::compile(path, &src).expect("compiles");
    let web = module.entry("web").expect("entry web");
    let (_, shape) = d.insert(0, &web.facts).expect("installed");
    assert!(matches!(shape, Shape::Merged { .. }), "web.udf not merged: {shape:?}");
    for e in ["ip[2:2] - 20 > 500", "ip[8] * 2 < 100"] {
        let (_, shape) = d.insert(0, &compile(e)).expect("installed");
        assert!(matches!(shape, Shape::Opaque(_)), "`{e}` merged: {shape:?}");
    }
}

/// Filters kept whole on request give the same sets as merged ones (the opaque path).
#[test]
fn whole_and_merged_agree() {
    let w = workload(7, 200);
    let packets = traffic(7, &w, 300);
    let mut merged = Demux::new();
    let mut whole = Demux::new();
    let mut cache: HashMap<String, Verified> = HashMap::new();
    for (o, e) in &w.filters {
        let v = cache.entry(e.clone()).or_insert_with(|| compile(e));
        merged.insert(*o, v).expect("installed");
        whole.insert_with(*o, v, false).expect("installed");
    }
    assert_eq!(whole.stats().whole, 200);
    let mut s = Scratch::new();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut accepted = 0;
    for (p, wire) in &packets {
        merged.run(&mut s, p, *wire, &mut a).expect("runs");
        whole.run(&mut s, p, *wire, &mut b).expect("runs");
        assert_eq!(a, b);
        accepted += usize::from(!a.is_empty());
    }
    assert!(accepted > 30, "only {accepted} of 300 packets go to someone");
    // The filters kept whole as trusted native code: the same owners for every packet.
    let mut jit = udf_jit::Jit::new(udf_jit::Target::host().expect("x86-64")).expect("jit");
    let compiled = whole.compile_whole(|v| {
        let code = jit.compile(v.program(), ProgramType::Filter, udf_jit::Mode::Trusted(v)).ok()?;
        Some(udf_jit::Executable::new(code).ok()?.into_native())
    });
    // Identical programs are kept once, for all their owners.
    assert!(compiled > 100, "{compiled} programs compiled");
    assert_eq!(whole.compile_whole(|_| -> Option<WholeCode> { unreachable!("all compiled") }), 0);
    for (i, (p, wire)) in packets.iter().enumerate() {
        merged.run(&mut s, p, *wire, &mut a).expect("runs");
        whole.run(&mut s, p, *wire, &mut b).expect("runs");
        assert_eq!(a, b, "packet {i}: merged {a:?}, whole as native code {b:?}");
    }
    // And with the direct-call ABI where a filter qualifies (the region ABI for the others).
    let mut direct = Demux::new();
    for (o, e) in &w.filters {
        direct.insert_with(*o, &cache[e], false).expect("installed");
    }
    let mut calls = 0;
    direct.compile_whole(|v| {
        Some(match udf_jit::TrustedFilter::compile(&mut jit, v.program(), v).ok()? {
            udf_jit::TrustedFilter::Direct(f) => {
                calls += 1;
                WholeCode::Filter(f)
            }
            udf_jit::TrustedFilter::Regions { exe, .. } => WholeCode::Program(exe.into_native()),
        })
    });
    assert!(calls > 100, "{calls} filters on the direct-call ABI");
    for (i, (p, wire)) in packets.iter().enumerate() {
        merged.run(&mut s, p, *wire, &mut a).expect("runs");
        direct.run(&mut s, p, *wire, &mut b).expect("runs");
        assert_eq!(a, b, "packet {i}: merged {a:?}, whole as direct-call code {b:?}");
    }
}

/// A filter of another type is refused.
#[test]
fn refuses_other_types() {
    let prog = udf_bytecode::asm::assemble("mov %r0, 0\nexit").expect("assembles");
    let v = udf_verifier::verify(&prog, &udf_verifier::Config::new(ProgramType::Acl))
        .expect("verifies");
    assert!(Demux::new().insert(1, &v).is_err());
}

/// Hand-written filters reaching the extraction's other paths (legacy loads with the header
/// length, host-order compares, `jset`, 32-bit and signed compares, the wire length, a field as
/// the result, stack memory, a loop): each, merged or kept whole, must give what it gives
/// alone, on generated packets and on packets cut at every length.
#[test]
fn hand_written_filters_agree_alone() {
    let sources: &[(&str, bool)] = &[
        // IPv4 TCP to port 80 through LD_ABS / LD_IND with X = 4 * (p[14] & 0xf).
        (
            "ldabsh 12\njne %r0, 0x800, drop\nldabsb 23\njne %r0, 6, drop\nldabsb 14\n\
             and %r0, 15\nlsh %r0, 2\nmov %r6, %r0\nldindh %r6, 16\njne %r0, 80, drop\n\
             exit\ndrop:\nmov %r0, 0\nexit",
            true,
        ),
        // Ethertype compared in host byte order (no be16): 0x0008 is 0x0800 on the wire.
        (
            "jlt %r2, 14, drop\nldxh %r0, [%r1+12]\njne %r0, 0x0008, drop\nmov %r0, 1\nexit\n\
             drop:\nmov %r0, 0\nexit",
            true,
        ),
        // jset on a flags byte, then a 32-bit compare and a signed compare.
        (
            "jlt %r2, 48, drop\nldxb %r4, [%r1+47]\njset %r4, 0x02, syn\nja drop\nsyn:\n\
             ldxw %r5, [%r1+26]\njeq32 %r5, 0x0201010a, yes\nldxb %r5, [%r1+22]\n\
             jsgt %r5, 0x40, yes\ndrop:\nmov %r0, 0\nexit\nyes:\nmov %r0, 7\nexit",
            true,
        ),
        // The wire length, and the result a packet field (accept when it is not 0).
        (
            "jlt %r3, 100, drop\njlt %r2, 16, drop\nldxh %r0, [%r1+14]\nand %r0, 0xff0f\nexit\n\
             drop:\nmov %r0, 0\nexit",
            true,
        ),
        // Stack memory read back decides: kept whole.
        (
            "jlt %r2, 24, drop\nldxb %r4, [%r1+23]\nstxdw [%r10-8], %r4\nldxdw %r5, [%r10-8]\n\
             jne %r5, 17, drop\nmov %r0, 1\nexit\ndrop:\nmov %r0, 0\nexit",
            false,
        ),
        // Arithmetic on a field decides: kept whole.
        (
            "jlt %r2, 18, drop\nldxh %r4, [%r1+16]\nbe16 %r4\nadd %r4, 3\njgt %r4, 300, drop\n\
             mov %r0, 1\nexit\ndrop:\nmov %r0, 0\nexit",
            false,
        ),
    ];
    let w = workload(99, 50);
    let mut packets = traffic(99, &w, 300);
    let full = packets[..40].to_vec();
    for (p, wire) in full {
        for cut in 0..p.len().min(70) {
            packets.push((p[..cut].to_vec(), wire));
        }
    }
    let mut both = Both::new();
    for (i, (src, merges)) in sources.iter().enumerate() {
        let prog = udf_bytecode::asm::assemble(src).unwrap_or_else(|e| panic!("filter {i}: {e:?}"));
        let v = udf_verifier::verify(&prog, &udf_verifier::Config::new(ProgramType::Filter))
            .unwrap_or_else(|e| panic!("filter {i} verifies: {e:?}"));
        let (id, shape) = both.demux.insert(i as Owner, &v).expect("installed");
        assert_eq!(matches!(shape, Shape::Merged { .. }), *merges, "filter {i}: {shape:?}");
        both.alone.push((id, Alone::new(i as Owner, &v)));
        // Kept whole on request too: the two must agree.
        let (id, _) = both.demux.insert_with(100 + i as Owner, &v, false).expect("installed");
        both.alone.push((id, Alone::new(100 + i as Owner, &v)));
    }
    let (some, _) = both.check(&packets, "hand-written filters");
    assert!(some > 0);
    // Each filter both accepts and refuses some packet: the test decides something for each.
    let mut vm = Vm::new();
    for (i, (_, a)) in both.alone.iter().enumerate().step_by(2) {
        let n = packets.iter().filter(|(p, w)| a.accepts(&mut vm, p, *w)).count();
        assert!(0 < n && n < packets.len(), "filter {}: accepts {n} of {}", i / 2, packets.len());
    }
}

/// A busy server: many TCP connections to one port (each a 4-tuple filter), and the port's own
/// filter (the listening socket) inserted, removed and inserted again while they stay: the
/// connection entries deliver the port filter's owner with their hit (the program skips the
/// port lookup after it), so each change of the port filter must reach every one of them.
#[test]
fn connections_to_one_port_and_the_port_filter() {
    use udf_kernel_glue::demux::traffic::Conn;
    let n = 300;
    let mut w = Workload { filters: Vec::new(), conns: Vec::new() };
    for i in 0..n {
        let c = Conn {
            proto: 6,
            src: [10, 9, (i / 250) as u8, (i % 250) as u8 + 1],
            dst: [10, 0, 0, 1],
            sport: 1024 + i as u16,
            // One connection to another port: the port is not the same in every entry.
            dport: if i == 0 { 8080 } else { 80 },
        };
        w.filters.push((
            i as Owner,
            format!(
                "tcp and src host 10.9.{}.{} and dst host 10.0.0.1 and src port {} and dst port {}",
                c.src[2], c.src[3], c.sport, c.dport
            ),
        ));
        w.conns.push(c);
    }
    let packets = traffic(0x80, &w, 600);
    let mut both = Both::new();
    for (o, e) in &w.filters {
        both.insert(*o, e);
    }
    both.check_compiled(&packets, "connections");
    for port in ["tcp dst port 80", "tcp port 80", "dst port 80"] {
        both.insert(100_000, port);
        both.check(&packets, &format!("with `{port}`"));
        let (merged, _) = both.check_compiled(&packets, &format!("with `{port}`, compiled"));
        let last = both.alone.len() - 1;
        both.remove_at(last);
        both.check(&packets, &format!("`{port}` removed"));
        if both.demux.is_current(&merged) {
            both.check_merged(&merged, &packets, &format!("`{port}` removed, same program"));
        }
        both.insert(100_001, port);
        if both.demux.is_current(&merged) {
            both.check_merged(&merged, &packets, &format!("`{port}` again, same program"));
        }
        both.check_compiled(&packets, &format!("`{port}` again, compiled"));
        let last = both.alone.len() - 1;
        both.remove_at(last);
    }
    // Past `HOT` connections per port the entries stop answering for the port group; down
    // across it again they answer: the port filter's owner must come either way.
    both.insert(100_002, "tcp dst port 80");
    let (merged, _) = both.check_compiled(&packets, "the port filter back");
    let hot = udf_kernel_glue::demux::groups::HOT;
    while both.alone.len() > 10 {
        let i = both.alone.iter().position(|(_, a)| a.owner < 100_000).expect("a connection");
        both.remove_at(i);
        let left = both.alone.len() - 1;
        if (hot - 2..=hot + 2).contains(&left) || left == 11 {
            assert!(both.demux.is_current(&merged), "removing a connection changes data only");
            both.check_merged(&merged, &packets, &format!("{left} connections left"));
        }
    }
}
