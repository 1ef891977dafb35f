//! `demux`: the merged demultiplexer (`udf_kernel_glue::demux`) against running the same
//! filters one after another, for 1 to 10,000 filters.
//!
//! `cargo run --release -p udf-bench -- demux [--quick]`
//!
//! Two workloads from kernel-glue's generator (`demux::traffic`): connections only (one TCP or
//! UDP 4-tuple filter per owner, DPF's case), and mixed (mostly connection 4-tuples, with port,
//! host and protocol filters, overlapping and duplicate ones and a few that do not merge: there
//! a packet goes to many owners, column `owners/pkt`); the traffic is 2,000 Ethernet frames drawn from the
//! connections and around them (500 with `--quick`). For each number of filters, ns per packet:
//!
//! - merged: the trie walked in Rust (interpreter mode), the set of owners per packet; and the
//!   demultiplexer as one eBPF program (`Demux::compile`: one lookup through the verified
//!   helper `demux_lookup` per shape of rule; made, verified, JIT-compiled: its size, its
//!   groups and the time that takes) run by the interpreter and as trusted JIT code with the
//!   demultiplexer's tables as its helper, the owners its lookups find completed with the
//!   filters kept whole;
//! - ours one after another: each filter's verified bytecode on the interpreter, and as trusted
//!   JIT code (one runner per filter), every filter on every packet;
//! - libpcap one after another: `pcap_offline_filter` with every filter on every packet
//!   (`tools/pcap_oracle bench-many`; `$UDF_PCAP_ORACLE`, else `target/pcap_oracle`; without it
//!   the column is empty).
//!
//! Before timing, the merged sets are checked against the interpreter's filters run alone on
//! every packet. Then the insert and remove cost with 1,000 filters installed, per workload:
//! 1,000 more filters (already compiled and verified, as the kernel receives them) inserted one
//! by one, then removed one by one, each change followed by what keeps the merged native
//! program current (made, verified and JIT-compiled again only when a shape of rule came or
//! went), mean µs per operation. Figures are the best of several timed repetitions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use udf_bytecode::ProgramType;
use udf_jit::{Executable, Jit, Mode, Target, TrustedFilter};
use udf_kernel_glue::demux::traffic::{Workload, connections, traffic, workload};
use udf_kernel_glue::demux::{Demux, Merged, Owner, Scratch, WholeCode};
use udf_pcap::CompileOptions;
use udf_runtime::{Compiled, Context, NoHelpers, RunOptions, Vm, prepare};
use udf_verifier::Verified;

use crate::best_per_call;

const SEED: u64 = 0x6470_6620_3936;

/// Most instructions of a merged program.
const LIMIT: usize = 2_000_000;

/// A workload generator: seed, number of filters.
type MakeWorkload = fn(u64, usize) -> Workload;

fn compile_all(exprs: &[(Owner, String)]) -> Vec<(Owner, Verified)> {
    let mut cache: std::collections::HashMap<&str, Verified> = Default::default();
    exprs
        .iter()
        .map(|(o, e)| {
            let v = cache
                .entry(e)
                .or_insert_with(|| {
                    udf_pcap::compile(e, &CompileOptions::default()).expect("compiles").facts
                })
                .clone();
            (*o, v)
        })
        .collect()
}

fn write_pcap(path: &Path, packets: &[(Vec<u8>, u32)]) {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend([0u8; 8]);
    out.extend(262_144u32.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    for (i, (data, wire)) in packets.iter().enumerate() {
        out.extend(1_700_000_000u32.to_le_bytes());
        out.extend((i as u32).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out.extend(wire.to_le_bytes());
        out.extend(data);
    }
    std::fs::write(path, out).expect("write the capture");
}

fn oracle() -> Option<PathBuf> {
    let p = match std::env::var_os("UDF_PCAP_ORACLE") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/pcap_oracle"),
    };
    p.is_file().then_some(p)
}

/// libpcap, every filter on every packet: ns per packet.
fn libpcap(oracle: &Path, exprs: &[(Owner, String)], cap: &Path, iters: u32) -> Option<f64> {
    let list = cap.with_extension("exprs");
    let text: String = exprs.iter().map(|(_, e)| format!("{e}\n")).collect();
    std::fs::write(&list, text).ok()?;
    let o = Command::new(oracle)
        .arg("bench-many")
        .arg(&list)
        .arg(cap)
        .arg(iters.to_string())
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&list);
    if !o.status.success() {
        eprintln!("pcap_oracle bench-many: {}", String::from_utf8_lossy(&o.stderr).trim());
        return None;
    }
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("ns_per_packet=")?.parse().ok())
}

fn ns(d: Duration, packets: usize) -> f64 {
    d.as_nanos() as f64 / packets as f64
}

/// Runs the benchmark and prints its tables.
pub fn run(quick: bool) {
    let sizes: &[usize] = if quick { &[1, 10, 100] } else { &[1, 10, 100, 1000, 10_000] };
    let (npk, min, reps) = if quick {
        (500, Duration::from_millis(30), 1)
    } else {
        (2000, Duration::from_millis(300), 3)
    };
    let oracle = oracle();
    let host = Target::host().expect("the demux benchmark runs the JIT: x86-64 hosts only");
    let mut jit = Jit::new(host).expect("host ISA");
    let cap = std::env::temp_dir().join(format!("udf-bench-demux-{}.pcap", std::process::id()));
    let kinds: [(&str, MakeWorkload); 2] = [("connections only", connections), ("mixed", workload)];
    for (kind, make) in kinds {
        println!("\nworkload: {kind}\n");
        println!(
            "| filters | merged (whole) | owners/pkt | merged demux (trie walk), ns/pkt | merged program: insns, make ms | merged program (interp) | merged program (JIT) | ours one after another (interp) | ours one after another (JIT) | libpcap one after another | libpcap / merged JIT (walk) |"
        );
        println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for &n in sizes {
            let w = make(SEED, n);
            let packets = traffic(SEED, &w, npk);
            write_pcap(&cap, &packets);
            let filters = compile_all(&w.filters);
            let mut demux = Demux::new();
            for (o, v) in &filters {
                demux.insert(*o, v).expect("installed");
            }
            let alone: Vec<(Owner, Compiled, u64)> = filters
                .iter()
                .map(|(o, v)| {
                    let c = prepare(
                        v.program(),
                        &udf_runtime::pre_run_checks(ProgramType::Filter, true),
                    )
                    .expect("prepared");
                    (*o, c, v.facts().max_insns)
                })
                .collect();
            let native: Vec<(Owner, Executable, u64)> = filters
                .iter()
                .map(|(o, v)| {
                    let code = jit
                        .compile(v.program(), ProgramType::Filter, Mode::Trusted(v))
                        .expect("the JIT compiles a verified filter");
                    (*o, Executable::new(code).expect("maps"), v.facts().max_insns)
                })
                .collect();
            // The merged sets against every filter alone, once, untimed.
            let mut s = Scratch::new();
            let mut vm = Vm::new();
            let mut got = Vec::new();
            for (p, wire) in &packets {
                demux.run(&mut s, p, *wire, &mut got).expect("runs");
                let mut want: Vec<Owner> = alone
                    .iter()
                    .filter(|(_, c, b)| {
                        let opts = RunOptions { budget: *b, r3: u64::from(*wire) };
                        vm.run(c, Context::ReadOnly(p), &mut NoHelpers, &opts).map_or(0, |o| o.r0)
                            != 0
                    })
                    .map(|(o, _, _)| *o)
                    .collect();
                want.sort_unstable();
                want.dedup();
                assert_eq!(got, want, "merged and alone differ");
            }
            let (merged, owners) = best_per_call(min, reps, || {
                let mut acc = 0;
                for (p, wire) in &packets {
                    demux.run(&mut s, p, *wire, &mut got).expect("runs");
                    acc += got.len() as u64;
                }
                acc
            });
            // The trie as one program: made, verified and JIT-compiled, when not too large.
            let t = Instant::now();
            let program = demux.compile(LIMIT).ok().map(|m| {
                let code = jit
                    .compile(m.verified.program(), ProgramType::Filter, Mode::Trusted(&m.verified))
                    .expect("the JIT compiles the merged program");
                let exe = Executable::new(code).expect("maps");
                (m, exe)
            });
            let make = t.elapsed();
            let (mut p_interp, mut p_jit) = (None, None);
            if let Some((m, exe)) = &program {
                let budget = m.verified.facts().max_insns;
                let mut check = Vec::new();
                let mut runner = exe.runner();
                for (p, wire) in &packets {
                    demux.run(&mut s, p, *wire, &mut got).expect("runs");
                    demux.run_merged(m, &mut s, p, *wire, &mut check).expect("runs");
                    assert_eq!(check, got, "merged program (interpreter) and trie differ");
                    let opts = RunOptions { budget, r3: u64::from(*wire) };
                    check.clear();
                    runner
                        .run_with(Context::ReadOnly(p), &mut demux.lookup(&mut check), &opts)
                        .expect("runs");
                    demux.finish_merged(m, &mut s, p, *wire, &mut check).expect("runs");
                    assert_eq!(check, got, "merged program (JIT) and trie differ");
                }
                p_interp = Some(
                    best_per_call(min, reps, || {
                        let mut acc = 0;
                        for (p, wire) in &packets {
                            demux.run_merged(m, &mut s, p, *wire, &mut got).expect("runs");
                            acc += got.len() as u64;
                        }
                        acc
                    })
                    .0,
                );
                // On the JIT, the filters kept whole run as native code too (the trie walk and
                // the interpreter columns above ran them on the interpreter).
                demux.compile_whole(|v| whole_native(&mut jit, v));
                for (p, wire) in &packets {
                    demux.run_merged(m, &mut s, p, *wire, &mut check).expect("runs");
                    demux.run(&mut s, p, *wire, &mut got).expect("runs");
                    assert_eq!(check, got, "filters kept whole: native code and trie differ");
                }
                p_jit = Some(
                    best_per_call(min, reps, || {
                        let mut acc = 0;
                        for (p, wire) in &packets {
                            let opts = RunOptions { budget, r3: u64::from(*wire) };
                            got.clear();
                            runner
                                .run_with(Context::ReadOnly(p), &mut demux.lookup(&mut got), &opts)
                                .expect("runs");
                            demux.finish_merged(m, &mut s, p, *wire, &mut got).expect("runs");
                            acc += got.len() as u64;
                        }
                        acc
                    })
                    .0,
                );
            }
            let big = n >= 1000;
            let slow_reps = if big { 1 } else { reps };
            let (interp, _) = best_per_call(min, slow_reps, || {
                let mut acc = 0;
                for (p, wire) in &packets {
                    for (_, c, b) in &alone {
                        let opts = RunOptions { budget: *b, r3: u64::from(*wire) };
                        let r0 = vm
                            .run(c, Context::ReadOnly(p), &mut NoHelpers, &opts)
                            .map_or(0, |o| o.r0);
                        acc += u64::from(r0 != 0);
                    }
                }
                acc
            });
            let mut runners: Vec<_> = native.iter().map(|(_, e, b)| (e.runner(), *b)).collect();
            let (jitted, _) = best_per_call(min, slow_reps, || {
                let mut acc = 0;
                for (p, wire) in &packets {
                    for (r, b) in runners.iter_mut() {
                        let opts = RunOptions { budget: *b, r3: u64::from(*wire) };
                        let r0 =
                            r.run(Context::ReadOnly(p), &mut NoHelpers, &opts).map_or(0, |o| o.r0);
                        acc += u64::from(r0 != 0);
                    }
                }
                acc
            });
            drop(runners);
            let iters = if big {
                2
            } else if quick {
                5
            } else {
                50
            };
            let lp = oracle.as_deref().and_then(|o| libpcap(o, &w.filters, &cap, iters));
            let st = demux.stats();
            let m = ns(merged, packets.len());
            println!(
                "| {n} | {} ({}) | {:.1} | {:.1} | {} | {} | {} | {:.1} | {:.1} | {} | {} |",
                st.filters - st.whole,
                st.whole,
                owners as f64 / packets.len() as f64,
                m,
                program.as_ref().map_or("too large".to_string(), |(p, _)| format!(
                    "{} ({} groups), {:.1}",
                    p.verified.program().len(),
                    st.groups,
                    make.as_secs_f64() * 1e3
                )),
                p_interp.map_or("-".to_string(), |d| format!("{:.1}", ns(d, packets.len()))),
                p_jit.map_or("-".to_string(), |d| format!("{:.1}", ns(d, packets.len()))),
                ns(interp, packets.len()),
                ns(jitted, packets.len()),
                lp.map_or("-".to_string(), |v| format!("{v:.1}")),
                lp.map_or("-".to_string(), |v| {
                    let best = p_jit.map_or(m, |d| ns(d, packets.len()));
                    let how = if p_jit.is_some() { "JIT" } else { "walk" };
                    format!("{:.0}x ({how})", v / best)
                }),
            );
        }
    }
    let _ = std::fs::remove_file(&cap);
    // Insert and remove with 1,000 installed, keeping the merged program current.
    println!();
    for (kind, make) in kinds {
        let base = compile_all(&make(SEED, 1000).filters);
        let more = compile_all(&make(SEED ^ 0xabc, if quick { 100 } else { 1000 }).filters);
        let (mut ins, mut rem, mut remade) = (Duration::MAX, Duration::MAX, 0);
        for _ in 0..reps.max(2) {
            let mut demux = Demux::new();
            for (o, v) in &base {
                demux.insert(*o, v).expect("installed");
            }
            let mut prog = Some(merged_native(&demux, &mut jit));
            let mut made = 0;
            let mut ids = Vec::with_capacity(more.len());
            let t = Instant::now();
            for (o, v) in &more {
                ids.push(demux.insert(*o + 1_000_000, v).expect("installed").0);
                upkeep(&demux, &mut jit, &mut prog, &mut made);
            }
            let ti = t.elapsed();
            let t = Instant::now();
            for id in ids {
                assert!(demux.remove(id));
                upkeep(&demux, &mut jit, &mut prog, &mut made);
            }
            let tr = t.elapsed();
            drop(prog);
            ins = ins.min(ti / more.len() as u32);
            rem = rem.min(tr / more.len() as u32);
            remade = made;
        }
        println!(
            "{kind}, 1,000 filters installed: insert {:.2} µs per filter, remove {:.2} µs, keeping the merged program current (atoms, trie, tables; the program made, verified and JIT-compiled again {remade} times for {} inserts and as many removals); mean of {}, best of {}",
            ins.as_nanos() as f64 / 1000.0,
            rem.as_nanos() as f64 / 1000.0,
            more.len(),
            more.len(),
            reps.max(2)
        );
    }
    hot_ports_with(&mut jit, quick);
}

/// The covering upkeep's worst case alone (`udf-bench demux-hot`): [`hot_port`] at 1,000 and
/// 10,000 connections.
pub fn hot_ports(quick: bool) {
    let host = Target::host().expect("the demux benchmark runs the JIT: x86-64 hosts only");
    let mut jit = Jit::new(host).expect("host ISA");
    hot_ports_with(&mut jit, quick);
}

fn hot_ports_with(jit: &mut Jit, quick: bool) {
    for n in if quick { &[100][..] } else { &[1000, 10_000][..] } {
        hot_port(jit, *n, if quick { 5 } else { 50 });
    }
}

/// The worst case of the covering upkeep: `n` TCP connections, all but one to one server port
/// (a busy web server's sockets), then the port's own filter (the listening socket) inserted and
/// removed again, each change refreshing every connection entry that covers it; mean of
/// `rounds` insert/remove pairs, the merged program kept current.
fn hot_port(jit: &mut Jit, n: usize, rounds: u32) {
    let exprs: Vec<(Owner, String)> = (0..n)
        .map(|i| {
            let (a, b) = (i / 250, i % 250);
            (
                i as Owner,
                format!(
                    "tcp and src host 10.9.{a}.{} and dst host 10.0.0.1 and src port {} and dst port {}",
                    b + 1,
                    1024 + i,
                    // One to another port: otherwise the port is a guard of the connections'
                    // group (the same in every entry), and a guard's group is not covered.
                    if i == 0 { 8080 } else { 80 }
                ),
            )
        })
        .collect();
    let conns = compile_all(&exprs);
    let port = compile_all(&[(Owner::MAX, "tcp dst port 80".to_string())]);
    let mut demux = Demux::new();
    for (o, v) in &conns {
        demux.insert(*o, v).expect("installed");
    }
    let mut prog = Some(merged_native(&demux, jit));
    let mut made = 0;
    // The first insert of the port's shape makes the program again: not the upkeep measured.
    let (id, _) = demux.insert(port[0].0, &port[0].1).expect("installed");
    upkeep(&demux, jit, &mut prog, &mut made);
    assert!(demux.remove(id));
    upkeep(&demux, jit, &mut prog, &mut made);
    let made_before = made;
    let (mut ins, mut rem) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let t = Instant::now();
        let (id, _) = demux.insert(port[0].0, &port[0].1).expect("installed");
        upkeep(&demux, jit, &mut prog, &mut made);
        ins += t.elapsed();
        let t = Instant::now();
        assert!(demux.remove(id));
        upkeep(&demux, jit, &mut prog, &mut made);
        rem += t.elapsed();
    }
    println!(
        "{n} TCP connections to port 80 installed: `tcp dst port 80` inserted {:.2} µs, removed {:.2} µs (mean of {rounds}; the program made again {} times in them)",
        ins.as_nanos() as f64 / 1000.0 / f64::from(rounds),
        rem.as_nanos() as f64 / 1000.0 / f64::from(rounds),
        made - made_before
    );
}

/// The merged program, made, verified and JIT-compiled.
fn merged_native(demux: &Demux, jit: &mut Jit) -> (Merged, Executable) {
    let m = demux.compile(LIMIT).expect("the merged program");
    let code = jit
        .compile(m.verified.program(), ProgramType::Filter, Mode::Trusted(&m.verified))
        .expect("the JIT compiles the merged program");
    (m, Executable::new(code).expect("maps"))
}

/// Makes the merged program again when a change made it stale (a shape came or went).
fn upkeep(demux: &Demux, jit: &mut Jit, prog: &mut Option<(Merged, Executable)>, made: &mut usize) {
    if !prog.as_ref().is_some_and(|(m, _)| demux.is_current(m)) {
        *prog = None;
        *prog = Some(merged_native(demux, jit));
        *made += 1;
    }
}

/// Native code for a filter kept whole: the direct-call ABI where it qualifies, else the
/// region ABI.
fn whole_native(jit: &mut Jit, v: &Verified) -> Option<WholeCode> {
    Some(match TrustedFilter::compile(jit, v.program(), v).ok()? {
        TrustedFilter::Direct(f) => WholeCode::Filter(f),
        TrustedFilter::Regions { exe, .. } => WholeCode::Program(exe.into_native()),
    })
}
