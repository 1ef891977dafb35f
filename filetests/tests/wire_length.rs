//! A filter's `r3` (the length on the wire) is whatever the caller passes: kernel-glue's
//! `Program::invoke` takes any `u64`. The verifier must not assume it fits 32 bits, or a program
//! that turns its high half into a packet offset reads outside the packet.

use udf_bytecode::{ProgramType, assemble};
use udf_verifier::{Config, verify};

/// Reads the packet at `r3 >> 32`: in bounds only if the wire length fits 32 bits.
const HIGH_HALF_AS_OFFSET: &str = "\
mov %r0, 0
jlt %r2, 1, out
mov %r4, %r3
rsh %r4, 32
add %r1, %r4
ldxb %r0, [%r1+0]
out:
exit
";

#[test]
fn the_wire_length_high_half_is_not_assumed_zero() {
    let prog = assemble(HIGH_HALF_AS_OFFSET).unwrap();
    let got = verify(&prog, &Config::new(ProgramType::Filter));
    assert!(got.is_err(), "accepted a read at r3 >> 32 without a bound on r3");
}

#[test]
fn what_the_wire_length_may_be_when_it_fits() {
    // Where the program bounds the offset itself, any wire length is fine.
    let src = HIGH_HALF_AS_OFFSET.replace("add %r1, %r4", "and %r4, 0\nadd %r1, %r4");
    let prog = assemble(&src).unwrap();
    let conf = Config { record_states: true, ..Config::new(ProgramType::Filter) };
    let v = verify(&prog, &conf).expect("accepted");
    for r3 in [0, 1, u64::from(u32::MAX), 1000 << 32, u64::MAX] {
        let run =
            udf_runtime::checking::run_checked(&prog, v.facts(), ProgramType::Filter, &[7], r3)
                .unwrap_or_else(|e| panic!("r3 = {r3:#x}: {e:?}"));
        assert_eq!(run.outcome.r0, 7, "r3 = {r3:#x}");
    }
}
