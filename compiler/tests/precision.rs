//! Filters whose compiled code needs the verifier's precision for compiler output (issue 16):
//! an offset chosen by a branch, an index that is one of two unrelated values, the smaller of
//! two bytes, an index assigned inside an `if`, a bounded TLV walk. Each compiles (the
//! verifier accepts it: a rejection here is `udf::compiler_bug`), and on thousands of packets
//! gives what a Rust reference of the same source gives, on the interpreter, the checking
//! interpreter (which checks every fact the acceptance used) and trusted native code.

use std::cell::RefCell;

use udf_bytecode::rng::Rng;
use udf_bytecode::{CheckConfig, ProgramType};
use udf_runtime::{Context, NoHelpers, RunOptions, Vm};

const SRC: &str = r#"
filter vlan_ipv4(p: packet) {
    let o = if p.ether.type == 0x8100 { 18 } else { 14 };
    p.u8[o] == 0x45
}
filter either_index(p: packet) {
    let k = if p.u8[0] == 1 { 10 } else { p.u8[1] as u64 };
    p.u8[k] == 3
}
filter min_index(p: packet) {
    let a = p.u8[0];
    let b = p.u8[1];
    let k = if a < b { a } else { b };
    p.u8[k as u64] == 7
}
filter assigned_in_if(p: packet) {
    let mut k: u64 = 14;
    if p.ether.type == 0x8100 { k = 18; }
    p.u8[k] == 0x45
}
filter tlv(p: packet) {
    let mut off: u64 = 0;
    let mut found = false;
    for n in 0..16 {
        if off + 2 > p.len { break; }
        let t = p.u8[off];
        if t == 5 { found = true; break; }
        off = off + 2 + p.u8[off + 1] as u64;
    }
    found
}
"#;

/// What the source means, written again in Rust: `None` where a read past the captured bytes
/// rejects the packet.
fn reference(name: &str, p: &[u8]) -> bool {
    let at = |k: u64| p.get(k as usize).copied();
    let ether_type = || Some(u16::from_be_bytes([at(12)?, at(13)?]));
    let r = (|| -> Option<bool> {
        Some(match name {
            "vlan_ipv4" | "assigned_in_if" => {
                let o = if ether_type()? == 0x8100 { 18 } else { 14 };
                at(o)? == 0x45
            }
            "either_index" => {
                let k = if at(0)? == 1 { 10 } else { at(1)? as u64 };
                at(k)? == 3
            }
            "min_index" => {
                let (a, b) = (at(0)?, at(1)?);
                at(a.min(b) as u64)? == 7
            }
            "tlv" => {
                let mut off = 0u64;
                for _ in 0..16 {
                    if off + 2 > p.len() as u64 {
                        break;
                    }
                    if at(off)? == 5 {
                        return Some(true);
                    }
                    off = off + 2 + at(off + 1)? as u64;
                }
                false
            }
            _ => unreachable!("{name}"),
        })
    })();
    r.unwrap_or(false)
}

/// Packets that reach every branch: random lengths up to 80, bytes biased towards the values
/// the filters test, VLAN and IPv4 markers at their offsets, TLV chains.
fn packets(rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|k| {
            let len = rng.below(81) as usize;
            let mut p: Vec<u8> = (0..len)
                .map(|_| match rng.below(8) {
                    0 => 0x45,
                    1 => 3,
                    2 => 7,
                    3 => 5,
                    4 => rng.below(24) as u8,
                    _ => rng.below(256) as u8,
                })
                .collect();
            if k % 3 == 0 && len > 13 {
                p[12] = 0x81;
                p[13] = 0x00;
            }
            if k % 5 == 0 && len > 1 {
                p[0] = 1;
            }
            p
        })
        .collect()
}

thread_local! {
    static JIT: RefCell<udf_jit::Jit> = RefCell::new(
        udf_jit::Jit::new(udf_jit::Target::host().expect("a JIT target")).expect("a JIT"),
    );
}

#[test]
fn compiler_output_verifies_and_runs_as_written() {
    let m = match udf_compiler::compile("precision.udf", SRC) {
        Ok(m) => m,
        Err(d) => panic!("refused:\n{}", d.render()),
    };
    let mut rng = Rng::new(16);
    let pkts = packets(&mut rng, 4000);
    let mut vm = Vm::new();
    for name in ["vlan_ipv4", "either_index", "min_index", "assigned_in_if", "tlv"] {
        let e = m.entry(name).expect("entry");
        let compiled = udf_runtime::prepare(&e.prog, &CheckConfig::for_type(ProgramType::Filter))
            .expect("pre-run checks");
        let mut conf = udf_verifier::Config::new(ProgramType::Filter);
        conf.record_states = true;
        let checked = udf_verifier::verify(&e.prog, &conf).expect("verifies again");
        let code = JIT
            .with(|j| {
                j.borrow_mut().compile(
                    &e.prog,
                    ProgramType::Filter,
                    udf_jit::Mode::Trusted(&e.facts),
                )
            })
            .expect("JIT compiles");
        let exe = udf_jit::Executable::new(code).expect("JIT code maps");
        let (mut accepted, mut rejected) = (0, 0);
        for p in &pkts {
            let opts = RunOptions { budget: 1 << 20, r3: p.len() as u64 };
            let want = reference(name, p);
            let interp = vm
                .run(&compiled, Context::ReadOnly(p), &mut NoHelpers, &opts)
                .expect("no fault")
                .r0;
            let check = udf_runtime::checking::run_checked(
                &e.prog,
                &checked,
                ProgramType::Filter,
                p,
                p.len() as u64,
            )
            .unwrap_or_else(|v| panic!("{name}: checking interpreter on {p:02x?}: {v}"))
            .outcome
            .r0;
            let native =
                exe.run(&mut vm, Context::ReadOnly(p), &mut NoHelpers, &opts).expect("no fault").r0;
            assert_eq!(interp != 0, want, "{name} on {p:02x?}");
            assert_eq!((check, native), (interp, interp), "{name} on {p:02x?}");
            if want {
                accepted += 1;
            } else {
                rejected += 1;
            }
        }
        // The packets reach both outcomes of every filter.
        assert!(accepted > 20 && rejected > 20, "{name}: {accepted} accepted, {rejected} rejected");
    }
}
