//! The JIT's fuzz oracle, `udf_jit::fuzzing::jit_diff`, under `cargo test`: every checked-in
//! crasher of `fuzz/regressions/jit_diff/` replayed (the folder must exist and hold at least
//! one input), then a few seconds of generated cases, some mutated (`UDF_FUZZ_SECS`, default
//! 3).

use udf_jit::fuzzing::jit_diff;
use udf_runtime::fuzzing::{generated_campaign, replay_regressions};

#[test]
fn jit_diff_replays_regressions() {
    let compared = replay_regressions("jit_diff", "compared", jit_diff);
    // At least one checked-in input is a program the verifier accepts and the oracle runs.
    assert!(compared > 0, "no regression input reached the engines");
}

#[test]
fn jit_diff_on_generated_cases() {
    // One in four mutated: odd headers and near-miss programs.
    let t = generated_campaign(jit_diff, 0x5eed_d1ff, 32);
    let (inputs, accepted, runs) = (t.inputs, t.accepted, t.runs);
    println!("jit_diff: {inputs} inputs, {accepted} accepted, {runs} compared runs");
    // Generated programs are meant to be mostly valid: an oracle that compares few is idle.
    assert!(accepted * 3 >= inputs, "{accepted} of {inputs} accepted");
}
