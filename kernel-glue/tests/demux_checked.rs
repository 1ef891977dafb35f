//! The merged demultiplexer's program under the checking interpreter, with the real lookup
//! helper: every fact the verifier relied on (registers in their recorded ranges, accesses in
//! their proven regions, the instruction bound) holds on every generated packet. The one rule
//! of the verifier that trusts the host is the lookup's contract (`0 <= r0 <= ret_max`, 1);
//! where a program relies on it, a host lookup that breaks it is caught at the instruction after
//! the call. (The generated merged programs ignore `r0`, so there the contract is not relied
//! on: nothing to catch.)

use std::collections::HashMap;

use udf_bytecode::progtype::DEMUX_HELPERS;
use udf_bytecode::rng::Rng;
use udf_bytecode::{Insn, ProgramType, Reg};
use udf_kernel_glue::demux::traffic::{Workload, connections, traffic, workload};
use udf_kernel_glue::demux::{Demux, Owner};
use udf_runtime::checking::{Violation, run_checked_with};
use udf_runtime::{HelperError, HelperReturn, Helpers};
use udf_verifier::{Facts, Verified};

/// Compiles every expression of `w` once and installs it.
fn install(w: &Workload) -> Demux {
    let mut cache: HashMap<&str, Verified> = HashMap::new();
    let mut d = Demux::new();
    for (owner, expr) in &w.filters {
        let v = cache.entry(expr).or_insert_with(|| {
            udf_pcap::compile(expr, &udf_pcap::CompileOptions::default())
                .unwrap_or_else(|e| panic!("`{expr}`: {e:?}"))
                .facts
        });
        d.insert(*owner, v).expect("installed");
    }
    d
}

/// The merged program verified again, recording each instruction's state for the checker.
fn recorded(v: &Verified) -> Facts {
    let mut conf = udf_verifier::Config::new(ProgramType::Filter);
    conf.helpers = Some(DEMUX_HELPERS);
    conf.record_states = true;
    udf_verifier::verify(v.program(), &conf).expect("the merged program verifies").facts().clone()
}

/// Runs the merged program of `w` checked, with the real lookup, on `count` packets; returns
/// how many found an owner through a lookup.
fn check(name: &str, w: &Workload, seed: u64, count: usize) -> usize {
    let d = install(w);
    let merged = d.compile(600_000).expect("compiles");
    let facts = recorded(&merged.verified);
    let prog = merged.verified.program();
    let mut found = 0;
    let mut out: Vec<Owner> = Vec::new();
    for (n, (pkt, wire)) in traffic(seed, w, count).iter().enumerate() {
        out.clear();
        let mut lookup = d.lookup(&mut out);
        if let Err(v) = run_checked_with(prog, &facts, pkt, u64::from(*wire), &mut lookup) {
            panic!("{name}: packet {n}: {v}");
        }
        found += usize::from(!out.is_empty());
    }
    found
}

#[test]
fn merged_programs_keep_every_fact_on_generated_traffic() {
    let mut rng = Rng::new(0x5eed);
    for (name, w) in [
        ("connections 10", connections(rng.next_u64(), 10)),
        ("connections 1000", connections(rng.next_u64(), 1000)),
        ("mixed 10", workload(rng.next_u64(), 10)),
        ("mixed 100", workload(rng.next_u64(), 100)),
        ("mixed 1000", workload(rng.next_u64(), 1000)),
    ] {
        let found = check(name, &w, rng.next_u64(), 300);
        assert!(found > 30, "{name}: only {found} of 300 packets found an owner by a lookup");
    }
}

/// A lookup that returns what it is told (the host's side of the contract, broken or kept).
struct Returns(u64);

impl Helpers for Returns {
    fn call(&mut self, id: u64, _: [u64; 5]) -> Result<HelperReturn, HelperError> {
        assert_eq!(id, 2, "only the lookup is called");
        Ok(HelperReturn::Value(self.0))
    }
}

/// The one fact the verifier takes from the host, `0 <= r0 <= 1` after a lookup, is checked
/// where a program relies on it: a byte at `packet + r0` read with two bytes captured. A lookup
/// that returns 2 is reported at the instruction after the call, before the read it would
/// send past the packet.
#[test]
fn a_lookup_breaking_its_contract_is_caught() {
    let src = "
        mov %r9, %r1
        mov %r8, %r2
        mov %r1, 0
        mov %r2, 0
        mov %r3, 0
        mov %r4, 0
        mov %r5, 0
        call 2
        jlt %r8, 2, out
        mov %r4, %r9
        add %r4, %r0
        ldxb %r0, [%r4+0]
    out:
        mov %r0, 0
        exit";
    let prog = udf_bytecode::asm::assemble(src).expect("assembles");
    let mut conf = udf_verifier::Config::new(ProgramType::Filter);
    conf.helpers = Some(DEMUX_HELPERS);
    conf.record_states = true;
    let facts =
        udf_verifier::verify(&prog, &conf).expect("r0 <= 1 after the lookup").facts().clone();
    let call = prog.insns().iter().position(|i| matches!(i, Insn::Call { .. })).expect("a call");
    for kept in [0, 1] {
        let r = run_checked_with(&prog, &facts, &[7, 9], 2, &mut Returns(kept));
        assert!(r.is_ok(), "lookup returning {kept}: {r:?}");
    }
    match run_checked_with(&prog, &facts, &[7, 9], 2, &mut Returns(2)) {
        Err(Violation::Register { index, reg: Reg::R0, value: 2, .. }) => {
            assert_eq!(index, call + 1, "caught at the instruction after the call");
        }
        other => panic!("a lookup returning 2: {other:?}"),
    }
}
