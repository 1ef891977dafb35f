//! `udf-bench`: benchmarks as programs, not timed tests.
//!
//! `cargo run --release -p udf-bench [--features rbpf] -- interp [--quick]` measures the
//! reference interpreter in nanoseconds per executed instruction on an ALU loop and a memory
//! loop; with the `rbpf` feature, rbpf 0.4's interpreter runs the same bytecode on the same
//! input in the same process, and the ratio is printed. `--once` runs each case once, untimed,
//! for counting host instructions with callgrind. Each figure is the best of several
//! timed repetitions of at least ~0.3 s (0.03 s with `--quick`, for CI smoke runs).
//!
//! `cargo run --release -p udf-bench -- verify [--quick]` measures the verifier on
//! straight-line and branchy programs of 1k to 1M instructions, and the host kernel's verifier
//! on the same shapes up to 100k (through `tools/linux_verify`, as root), with the ratio.
//!
//! `cargo run --release -p udf-bench -- corpus [--quick]` measures the `.udf` compiler on the
//! corpus and the owns-udfs `ext2_inode` and `ext2_ind1_4k` per call on both engines.
//!
//! `cargo run --release -p udf-bench -- xn [--quick]` measures XN on real images with the
//! corpus udfs installed as bytecode (interpreter) and as signed native packages: free-map
//! rebuild throughput on a 256 MiB ext4 image and the cost of one checked allocation or free.
//!
//! `cargo run --release -p udf-bench -- filter [--quick]` measures pcap-filter expressions over a
//! generated capture: libpcap's `pcap_offline_filter` (through `tools/pcap_oracle`) against
//! udfkit's interpreter and JIT (region ABI and direct call) and hand-written C (`bench/c`,
//! gcc -O2), ns per packet, and the compile times of libpcap and ours.
//!
//! `cargo run --release -p udf-bench -- filter-e2e [--quick] [--keep]` runs `udf filter --count` and
//! `udf filter -w` against `tcpdump -r IN -w /dev/null` and `tcpdump -r IN -w OUT` as processes
//! on a 1,000,000-packet capture (the release `udf` beside it: `cargo build --release -p
//! udf-cli` first), wall-clock per run, with the ratio.
//!
//! `cargo run --release -p udf-bench -- kernel [--quick]` boots the bare-metal kernel under
//! qemu (TCG) with signed native and bytecode packages: boot-to-answer wall-clock time beside
//! `udf kernel load`, and the cost of one invocation inside the kernel beside the host's.
//!
//! `cargo run --release -p udf-bench -- demux [--quick]` measures the merged demultiplexer
//! against the same 1 to 10,000 filters one after another (ours and libpcap's), ns per packet,
//! and the insert and remove cost at 1,000 installed.
//!
//! `cargo run --release -p udf-bench --features rbpf -- jit [--quick]` runs the ALU loop and
//! the memory loop through udfkit's interpreter, udfkit's JIT in trusted mode (verified) and in
//! checked mode, and rbpf 0.4's interpreter, x86-64 JIT and Cranelift backend, in one process,
//! and prints ns per executed instruction for each, the JIT's speed-up over the interpreter, the
//! ratios against rbpf's two JITs, and the JIT compile times (without the `rbpf` feature, only
//! udfkit's engines).

use std::time::{Duration, Instant};

mod compile;
mod corpus;
mod demux;
mod filter;
mod filter_e2e;
mod jit;
mod kernel;
mod verify;
mod xn;

use udf_bytecode::{CheckConfig, Program, ProgramType, assemble};
use udf_runtime::{Compiled, Context, NoHelpers, RunOptions, Vm, prepare};

/// A benchmark program and its input.
struct Case {
    name: &'static str,
    src: String,
    mem: Vec<u8>,
}

fn cases() -> Vec<Case> {
    let alu = "
        mov %r0, 0
        mov %r1, 100000
        mov %r2, 7
    loop:
        add %r0, %r1
        xor %r0, %r2
        lsh %r2, 1
        or %r2, 1
        and %r2, 0xffff
        mul %r0, 3
        rsh %r0, 1
        sub %r1, 1
        jne %r1, 0, loop
        exit
    "
    .to_string();
    // Sums the 4 KiB context as 8-byte and 4-byte words, spilling the sum to the stack, 16 times.
    // The inner loop ends on a byte count, not on a pointer compare (the verifier does not
    // narrow pointer-to-pointer compares), so the trusted JIT can run it.
    let memory = "
        mov %r0, 0
        mov %r3, 0
    outer:
        mov %r4, %r1
        mov %r5, 0
    inner:
        ldxdw %r6, [%r4]
        add %r0, %r6
        stxdw [%r10-8], %r0
        ldxw %r7, [%r4+8]
        ldxdw %r8, [%r10-8]
        xor %r0, %r7
        add %r0, %r8
        add %r4, 16
        add %r5, 16
        jlt %r5, 4096, inner
        add %r3, 1
        jlt %r3, 16, outer
        exit
    "
    .to_string();
    let mem: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    vec![
        Case { name: "alu loop", src: alu, mem: vec![] },
        Case { name: "memory loop", src: memory, mem },
    ]
}

/// Best time per call of `f` over `reps` repetitions of at least `min` each.
fn best_per_call(min: Duration, reps: usize, mut f: impl FnMut() -> u64) -> (Duration, u64) {
    let mut best = Duration::MAX;
    let mut last = 0;
    for _ in 0..reps {
        let start = Instant::now();
        let mut calls = 0u32;
        while start.elapsed() < min || calls == 0 {
            last = std::hint::black_box(f());
            calls += 1;
        }
        best = best.min(start.elapsed() / calls);
    }
    (best, last)
}

fn ours(compiled: &Compiled, mem: &[u8]) -> (u64, u64) {
    let mut vm = Vm::new();
    let mut m = mem.to_vec();
    let out = vm
        .run(compiled, Context::ReadWrite(&mut m), &mut NoHelpers, &RunOptions::default())
        .expect("benchmark programs run to exit");
    (out.r0, out.executed)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let what = args.iter().find(|a| !a.starts_with("--")).map_or("interp", String::as_str);
    if what == "verify" {
        verify::run(quick);
        return;
    }
    if what == "compile" {
        let region = args
            .iter()
            .position(|a| a == "--region")
            .and_then(|i| args.get(i + 1))
            .and_then(|s| s.parse().ok());
        compile::run(quick, region);
        return;
    }
    if what == "jit" {
        jit::run(quick);
        return;
    }
    if what == "xn" {
        xn::run(quick);
        return;
    }
    if what == "corpus" {
        corpus::run(quick);
        return;
    }
    if what == "demux" {
        demux::run(quick);
        return;
    }
    if what == "demux-hot" {
        demux::hot_ports(quick);
        return;
    }
    if what == "filter" {
        filter::run(quick);
        return;
    }
    if what == "kernel" {
        kernel::run(quick);
        return;
    }
    if what == "filter-e2e" {
        filter_e2e::run_e2e(quick, args.iter().any(|a| a == "--keep"));
        return;
    }
    if what != "interp" {
        eprintln!(
            "unknown benchmark `{what}` (available: interp, verify, compile, jit, corpus, xn, filter, filter-e2e, demux, kernel)"
        );
        std::process::exit(2);
    }
    if args.iter().any(|a| a == "--once") {
        // For instruction counting under `valgrind --tool=callgrind`: each case once, untimed.
        for case in cases() {
            let prog = assemble(&case.src).expect("benchmark source assembles");
            let compiled =
                prepare(&prog, &CheckConfig::for_type(ProgramType::Raw)).expect("checks");
            let (r0, executed) = ours(&compiled, &case.mem);
            println!("{}: r0 = {r0:#x}, {executed} instructions executed", case.name);
        }
        return;
    }
    let (min, reps) =
        if quick { (Duration::from_millis(30), 2) } else { (Duration::from_millis(300), 9) };
    println!(
        "| benchmark | executed insns | udfkit interp ns/insn | rbpf 0.4 interp ns/insn | rbpf / udfkit |"
    );
    println!("| --- | --- | --- | --- | --- |");
    for case in cases() {
        let prog: Program = assemble(&case.src).expect("benchmark source assembles");
        let compiled = prepare(&prog, &CheckConfig::for_type(ProgramType::Raw)).expect("checks");
        let (want, executed) = ours(&compiled, &case.mem);
        let mut vm = Vm::new();
        let mut m = case.mem.clone();
        let (t, r0) = best_per_call(min, reps, || {
            vm.run(&compiled, Context::ReadWrite(&mut m), &mut NoHelpers, &RunOptions::default())
                .map(|o| o.r0)
                .unwrap_or(u64::MAX)
        });
        assert_eq!(r0, want);
        let ns = t.as_nanos() as f64 / executed as f64;
        let peer =
            peer(&prog, &case.mem, want, min, reps).map(|t| t.as_nanos() as f64 / executed as f64);
        match peer {
            Some(p) => {
                println!("| {} | {executed} | {ns:.2} | {p:.2} | {:.1}x |", case.name, p / ns)
            }
            None => println!(
                "| {} | {executed} | {ns:.2} | (build with --features rbpf) | - |",
                case.name
            ),
        }
    }
}

#[cfg(feature = "rbpf")]
fn peer(prog: &Program, mem: &[u8], want: u64, min: Duration, reps: usize) -> Option<Duration> {
    let bytes = prog.encode();
    let vm = rbpf::EbpfVmRaw::new(Some(&bytes)).expect("rbpf loads the program");
    let mut m = mem.to_vec();
    let (t, r0) = best_per_call(min, reps, || vm.execute_program(&mut m).expect("rbpf runs it"));
    assert_eq!(r0, want, "rbpf and udfkit disagree");
    Some(t)
}

#[cfg(not(feature = "rbpf"))]
fn peer(_: &Program, _: &[u8], _: u64, _: Duration, _: usize) -> Option<Duration> {
    None
}
