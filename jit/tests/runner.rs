//! [`Executable::runner`], the lean call path: one runner reused across many runs must give,
//! run after run, what [`Executable::run`] and the interpreter give: the result or the fault,
//! the instruction count (checked code), the extents, the context, and the whole stack (the
//! interpreter's machine reused across the same runs), though a runner zeroes only the stack
//! bytes the verifier says a run may write.
//!
//! - Filters as the classic-BPF translator makes them (`udf_pcap::compile` of
//!   `tcp port 80` and friends, disassembled), one that uses the stack, one with a local call,
//!   and the empty filter, over packets cut at every length, as one region and cut into
//!   several;
//! - generated programs, verified (trusted code) and not (checked code, writable context,
//!   faults, budgets), each with one runner for all its inputs.

mod common;

use udf_bytecode::generate::{Shape, program, structured};
use udf_bytecode::rng::Rng;
use udf_bytecode::{CheckConfig, Program, ProgramType, assemble, disassemble};
use udf_jit::{Executable, Jit, Mode, Target};
use udf_runtime::native::NativeRunner;
use udf_runtime::{Context, EmitHelpers, NoHelpers, RunOptions, STACK_FRAME, Vm, prepare};
use udf_verifier::{Access, Config, Facts, Verified, verify};

use common::Run;

/// `udf_pcap::compile("tcp port 80", &CompileOptions::default()).prog`, disassembled.
const TCP_PORT_80: &str = "
jlt %r2, 24, +39
ldxh %r0, [%r1+12]
be16 %r0
jne %r0, 0x86dd, +11
ldxb %r0, [%r1+20]
jne %r0, 6, +34
jlt %r2, 56, +33
ldxh %r0, [%r1+54]
be16 %r0
jeq %r0, 80, +28
jlt %r2, 58, +29
ldxh %r0, [%r1+56]
be16 %r0
jeq %r0, 80, +24
ja +25
jne %r0, 0x800, +24
ldxb %r0, [%r1+23]
jne %r0, 6, +22
ldxh %r0, [%r1+20]
be16 %r0
jset %r0, 0x1fff, +19
ldxb %r6, [%r1+14]
and32 %r6, 15
lsh32 %r6, 2
mov %r4, %r6
add %r4, 16
jgt %r4, %r2, +13
mov %r5, %r1
add %r5, %r6
ldxh %r0, [%r5+14]
be16 %r0
jeq %r0, 80, +6
mov %r4, %r6
add %r4, 18
jgt %r4, %r2, +5
ldxh %r0, [%r5+16]
be16 %r0
jne %r0, 80, +2
mov32 %r0, 0x40000
exit
mov32 %r0, 0
exit
";

/// `host 10.1.2.3`, likewise.
const HOST: &str = "
jlt %r2, 30, +23
ldxh %r0, [%r1+12]
be16 %r0
jne %r0, 0x800, +8
ldxw %r0, [%r1+26]
be32 %r0
jeq %r0, 0xa010203, +15
jlt %r2, 34, +16
ldxw %r0, [%r1+30]
be32 %r0
jeq %r0, 0xa010203, +11
ja +12
jeq %r0, 0x806, +1
jne %r0, 0x8035, +10
jlt %r2, 32, +9
ldxw %r0, [%r1+28]
be32 %r0
jeq %r0, 0xa010203, +4
jlt %r2, 42, +5
ldxw %r0, [%r1+38]
be32 %r0
jne %r0, 0xa010203, +2
mov32 %r0, 0x40000
exit
mov32 %r0, 0
exit
";

/// `tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn`, likewise.
const SYN: &str = "
jlt %r2, 24, +21
ldxh %r0, [%r1+12]
be16 %r0
jne %r0, 0x800, +18
ldxb %r0, [%r1+23]
jne %r0, 6, +16
ldxh %r0, [%r1+20]
be16 %r0
jset %r0, 0x1fff, +13
ldxb %r6, [%r1+14]
and32 %r6, 15
lsh32 %r6, 2
mov %r4, %r6
add %r4, 28
jgt %r4, %r2, +7
mov %r5, %r1
add %r5, %r6
ldxb %r0, [%r5+27]
and32 %r0, 18
jne %r0, 2, +2
mov32 %r0, 0x40000
exit
mov32 %r0, 0
exit
";

/// A filter with scratch memory on the stack, written deeper on some paths than on others, so
/// runs leave different bytes behind.
const SCRATCH: &str = "
jlt %r2, 24, short
ldxh %r0, [%r1+12]
stxdw [%r10-8], %r0
ldxb %r4, [%r1+23]
jne %r4, 6, shallow
stxw [%r10-300], %r4
stxb [%r10-301], %r4
ldxw %r5, [%r10-300]
add %r0, %r5
shallow:
stxh [%r10-40], %r3
ldxh %r5, [%r10-40]
add %r0, %r5
ldxdw %r4, [%r10-8]
add %r0, %r4
exit
short:
stdw [%r10-16], 7
ldxdw %r0, [%r10-16]
exit
";

/// A filter with a local call that writes its own frame and, through a pointer, its caller's.
const CALL: &str = "
stdw [%r10-16], 0
mov %r6, %r2
mov %r1, %r10
add %r1, -16
mov %r2, %r6
call local put
ldxdw %r0, [%r10-16]
exit
put:
stxdw [%r10-32], %r2
ldxdw %r3, [%r10-32]
add %r3, 1
stxdw [%r1+0], %r3
mov %r0, 0
exit
";

/// The empty filter: the per-call cost.
const EMPTY: &str = "mov %r0, 0\nexit\n";

fn host_jit() -> Jit {
    Jit::new(Target::host().expect("these tests run on x86-64")).unwrap()
}

/// Packets: IPv4 and IPv6 TCP to port 80, a VLAN-tagged one, a SYN from 10.1.2.3, UDP, and
/// garbage, each cut at every length up to 80 bytes.
fn packets() -> Vec<(Vec<u8>, u64)> {
    let mut v4 = vec![0u8; 80];
    v4[12..14].copy_from_slice(&[0x08, 0x00]);
    v4[14] = 0x45;
    v4[23] = 6;
    v4[26..30].copy_from_slice(&[10, 1, 2, 3]);
    v4[36..38].copy_from_slice(&80u16.to_be_bytes());
    v4[47] = 0x02;
    let mut v6 = vec![0u8; 80];
    v6[12..14].copy_from_slice(&[0x86, 0xdd]);
    v6[20] = 6;
    v6[56..58].copy_from_slice(&80u16.to_be_bytes());
    let mut vlan = vec![0u8; 80];
    vlan[12..14].copy_from_slice(&[0x81, 0x00]);
    vlan[16..18].copy_from_slice(&[0x08, 0x00]);
    vlan[18] = 0x45;
    vlan[27] = 6;
    let mut udp = v4.clone();
    udp[23] = 17;
    let garbage: Vec<u8> = (0..80u32).map(|i| (i * 37 + 11) as u8).collect();
    let mut out = Vec::new();
    for p in [v4, v6, vlan, udp, garbage] {
        for len in 0..=p.len() {
            out.push((p[..len].to_vec(), 60.max(len as u64)));
        }
    }
    out
}

/// The three engines, each keeping its state across runs: the interpreter's machine, the
/// machine [`Executable::run`] borrows, and a runner.
struct Engines<'e> {
    prog: &'e Program,
    ty: ProgramType,
    exe: &'e Executable,
    vm_interp: Vm,
    vm_native: Vm,
    runner: NativeRunner<'e>,
}

impl<'e> Engines<'e> {
    fn new(prog: &'e Program, ty: ProgramType, exe: &'e Executable) -> Engines<'e> {
        Engines { prog, ty, exe, vm_interp: Vm::new(), vm_native: Vm::new(), runner: exe.runner() }
    }

    /// Runs all three on `input` and checks they agree; returns how the run ended.
    fn agree(&mut self, input: &[u8], r3: u64, budget: u64, count: bool) -> Run {
        let opts = RunOptions { budget, r3 };
        let writable = self.ty.info().ctx.writable;
        let mut go = |which: u8| {
            let mut ctx = input.to_vec();
            let mut helpers = EmitHelpers::new(4);
            let context =
                if writable { Context::ReadWrite(&mut ctx) } else { Context::ReadOnly(input) };
            let (result, stack) = match which {
                0 => {
                    let mut cfg = CheckConfig::for_type(self.ty);
                    cfg.check_registers = false;
                    let compiled = prepare(self.prog, &cfg).expect("checked by the caller");
                    let r = self
                        .vm_interp
                        .run(&compiled, context, &mut helpers, &opts)
                        .map(|o| (o.r0, count.then_some(o.executed)));
                    (r, self.vm_interp.stack().to_vec())
                }
                1 => {
                    let r = self
                        .exe
                        .run(&mut self.vm_native, context, &mut helpers, &opts)
                        .map(|o| (o.r0, o.executed.filter(|_| count)));
                    (r, self.vm_native.stack().to_vec())
                }
                _ => {
                    let r = self
                        .runner
                        .run(context, &mut helpers, &opts)
                        .map(|o| (o.r0, o.executed.filter(|_| count)));
                    (r, self.runner.stack().to_vec())
                }
            };
            Run { result, extents: helpers.extents, ctx, stack }
        };
        let interp = go(0);
        let native = go(1);
        let runner = go(2);
        let show = |r: &Run| format!("{:?} {:?}", r.result, r.extents);
        assert!(
            interp == native && native == runner,
            "{} on {input:02x?} (r3 {r3}, budget {budget}):\ninterp: {}\nrun:    {}\nrunner: \
             {}\nstacks equal: interp/run {}, interp/runner {}\n{}",
            self.ty,
            show(&interp),
            show(&native),
            show(&runner),
            interp.stack == native.stack,
            interp.stack == runner.stack,
            disassemble(self.prog)
        );
        runner
    }
}

fn verified_filter(text: &str) -> (Program, Verified) {
    let prog = assemble(text).expect("assembles");
    let facts = verify(&prog, &Config::new(ProgramType::Filter))
        .unwrap_or_else(|e| panic!("verifies: {e:?}\n{text}"));
    (prog, facts)
}

#[test]
fn runner_agrees_on_filters() {
    let mut jit = host_jit();
    let pkts = packets();
    for (name, text) in [
        ("tcp port 80", TCP_PORT_80),
        ("host 10.1.2.3", HOST),
        ("syn", SYN),
        ("scratch", SCRATCH),
        ("call", CALL),
        ("empty", EMPTY),
    ] {
        let (prog, facts) = verified_filter(text);
        // As one region (the default), then cut into regions of about 16 instructions.
        for region_len in [1024, 16] {
            jit.options.region_len = region_len;
            let code = jit.compile(&prog, ProgramType::Filter, Mode::Trusted(&facts)).unwrap();
            assert_eq!(code.stack_use(), facts.stack_use, "{name}");
            let regions = code.regions().len();
            let exe = Executable::new(code).unwrap();
            assert_eq!(exe.native().stack_use(), facts.stack_use as usize, "{name}");
            let mut e = Engines::new(&prog, ProgramType::Filter, &exe);
            let mut accepted = 0;
            for (pkt, wire) in &pkts {
                let run = e.agree(pkt, *wire, facts.max_insns, false);
                accepted += u64::from(run.result.is_ok_and(|(r0, _)| r0 != 0));
            }
            eprintln!(
                "{name}: {} insns, {regions} region(s), stack use {}, {accepted} of {} accepted",
                prog.len(),
                facts.stack_use,
                pkts.len()
            );
            if region_len == 16 && prog.len() > 24 {
                assert!(regions > 1, "{name}: {regions} region(s)");
            }
        }
    }
    // What the translator makes needs no stack; the stack filters do.
    for text in [TCP_PORT_80, HOST, SYN, EMPTY] {
        assert_eq!(verified_filter(text).1.stack_use, 0);
    }
    assert_eq!(verified_filter(SCRATCH).1.stack_use, 301);
    assert!(verified_filter(CALL).1.stack_use >= 32);
}

#[test]
fn runner_gives_filter_results() {
    let mut jit = host_jit();
    let (prog, facts) = verified_filter(TCP_PORT_80);
    let code = jit.compile(&prog, ProgramType::Filter, Mode::Trusted(&facts)).unwrap();
    let exe = Executable::new(code).unwrap();
    let mut runner = exe.runner();
    let pkts = packets();
    let mut run = |pkt: &[u8]| {
        let opts = RunOptions { budget: facts.max_insns, r3: pkt.len() as u64 };
        runner.run(Context::ReadOnly(pkt), &mut NoHelpers, &opts).unwrap().r0
    };
    // Whole IPv4 and IPv6 segments to port 80 are accepted, the UDP one and cut ones are not.
    assert_eq!(run(&pkts[80].0), 0x40000);
    assert_eq!(run(&pkts[80 + 81].0), 0x40000);
    assert_eq!(run(&pkts[3 * 81 + 80].0), 0);
    assert_eq!(run(&pkts[20].0), 0);
    assert_eq!(run(&[]), 0);
}

/// A generated verified program (trusted code) on one runner; `false` when the verifier
/// refused it.
fn trusted_case(jit: &mut Jit, seed: u64) -> bool {
    const TYPES: [ProgramType; 4] =
        [ProgramType::Filter, ProgramType::Owns, ProgramType::Acl, ProgramType::Size];
    let mut rng = Rng::new(seed);
    let ty = TYPES[(seed % 4) as usize];
    let shape = Shape::new(ty, 40);
    let prog = structured(&mut rng, &shape);
    let mut conf = Config::new(ty);
    conf.ctx_size = shape.ctx_size.and_then(|n| ty.object_size(n));
    conf.budget = 100_000;
    let Ok(facts) = verify(&prog, &conf) else {
        return false;
    };
    jit.options.region_len = if seed.is_multiple_of(3) { 16 } else { 1024 };
    let code = jit.compile(&prog, ty, Mode::Trusted(&facts)).unwrap();
    assert_eq!(code.stack_use(), facts.stack_use);
    let exe = Executable::new(code).unwrap();
    let mut e = Engines::new(&prog, ty, &exe);
    for k in 0..8 {
        let len = shape.ctx_size.map_or([0, 1, 14, 34, 54, 64, 96][k % 7], |s| s as usize);
        let input = rng.input(len);
        let r3 = input.len() as u64 + rng.below(3);
        e.agree(&input, r3, u64::MAX, false);
    }
    true
}

/// A generated program, verified or not, as checked code on one runner.
fn checked_case(jit: &mut Jit, seed: u64) {
    let mut rng = Rng::new(seed);
    let prog = if seed.is_multiple_of(2) {
        program(&mut rng, 48)
    } else {
        structured(&mut rng, &Shape::new(ProgramType::Raw, 48))
    };
    let ty = if seed.is_multiple_of(3) { ProgramType::Size } else { ProgramType::Raw };
    if udf_bytecode::check(&prog, &CheckConfig::for_type(ty)).is_err() {
        return;
    }
    jit.options.region_len = if seed.is_multiple_of(5) { 16 } else { 1024 };
    let code = jit.compile(&prog, ty, Mode::Checked).unwrap();
    assert_eq!(code.stack_use(), STACK_FRAME as u32);
    let exe = Executable::new(code).unwrap();
    let mut e = Engines::new(&prog, ty, &exe);
    for k in 0..8 {
        let input = rng.input([0, 1, 14, 34, 54, 64, 96][k % 7]);
        let budget = [3, 17, 200, 5_000][rng.below(4) as usize];
        e.agree(&input, 0, budget, true);
    }
}

#[test]
fn runner_agrees_on_generated_programs() {
    let n = if cfg!(debug_assertions) { 96 } else { 768 };
    let mut jit = host_jit();
    let mut accepted = 0;
    for seed in 0..n {
        accepted += u32::from(trusted_case(&mut jit, seed));
    }
    assert!(accepted * 2 >= n as u32, "only {accepted} of {n} verified");
    for seed in 0..n {
        checked_case(&mut jit, seed);
    }
}

/// Code may read registers a run never set (the pre-run checks refuse such bytecode, but
/// native code is not bound to them): a runner must hand every run `r4`-`r9` as zero again
/// after a run that wrote them into the environment (for a helper, or to leave a region), and
/// `r0`-`r3`, `r10` as the interpreter does. Such code is made in trusted mode with facts made
/// up for it (it touches no memory): `Verified::assume_for_tests`, which only test builds
/// have, is the one way past the verifier.
#[test]
fn runner_resets_registers() {
    // Returns what r0-r10 held on entry (mixed), then clobbers them and calls `emit`.
    let helper = "
mov %r6, %r4
add %r6, %r5
lsh %r6, 1
add %r6, %r7
add %r6, %r8
add %r6, %r9
add %r6, %r0
xor %r6, %r1
xor %r6, %r10
mov %r4, 44
mov %r5, 55
mov %r7, 77
mov %r8, 88
mov %r9, 99
mov %r1, 1
mov %r2, 1
mov %r3, 0
call 1
mov %r0, %r6
exit
";
    // The same without a helper call, long enough to be cut into regions of 16 instructions:
    // the registers travel through the environment.
    let mut regions = String::from(
        "mov %r6, %r4\nadd %r6, %r5\nadd %r6, %r7\nadd %r6, %r8\nadd %r6, %r9\nadd %r6, %r0\n",
    );
    for k in 0..40 {
        regions.push_str(&format!("add %r{}, {}\n", [4, 5, 7, 8, 9][k % 5], k + 1));
    }
    regions.push_str("mov %r0, %r6\nexit\n");
    let mut jit = host_jit();
    for (text, region_len) in [(helper, 1024), (regions.as_str(), 16)] {
        let prog = assemble(text).expect("assembles");
        let facts = Facts {
            max_insns: prog.len() as u64,
            max_extents: 1,
            stack_use: 0,
            max_frames: 1,
            loops: Vec::new(),
            warnings: Vec::new(),
            states: None,
            access: vec![Access::None; prog.len()],
            ctx_len: (0, u32::MAX as u64),
        };
        let facts = Verified::assume_for_tests(prog.clone(), ProgramType::Owns, None, facts);
        jit.options.region_len = region_len;
        let code = jit.compile(&prog, ProgramType::Owns, Mode::Trusted(&facts)).unwrap();
        if region_len == 16 {
            assert!(code.regions().len() > 1);
        }
        let exe = Executable::new(code).unwrap();
        let mut e = Engines::new(&prog, ProgramType::Owns, &exe);
        let mut results = Vec::new();
        for k in 0..4 {
            let run = e.agree(&[k as u8; 16], k, 1_000, false);
            results.push(run.result.expect("runs to the end").0);
        }
        // Every run saw the same entry registers.
        assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
    }
}
