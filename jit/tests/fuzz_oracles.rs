//! The JIT's fuzz oracle, `udf_jit::fuzzing::jit_diff`, under `cargo test`: every checked-in
//! crasher of `fuzz/regressions/jit_diff/` replayed (the folder must exist and hold at least
//! one input), then a few seconds of generated cases, some mutated (`UDF_FUZZ_SECS`, default
//! 3).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use udf_bytecode::rng::Rng;
use udf_jit::fuzzing::jit_diff;
use udf_runtime::fuzzing::{campaign_time, generated_case, mutate};

fn budget() -> Duration {
    campaign_time()
}

fn regressions(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    udf_runtime::fuzzing::regressions(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."),
        target,
    )
}

#[test]
fn jit_diff_replays_regressions() {
    let mut compared = 0;
    for (path, data) in regressions("jit_diff") {
        eprintln!("replaying {}", path.display());
        let n = jit_diff(&data);
        eprintln!("  {n} runs compared");
        compared += n;
    }
    // At least one checked-in input is a program the verifier accepts and the oracle runs.
    assert!(compared > 0, "no regression input reached the engines");
}

#[test]
fn jit_diff_on_generated_cases() {
    let start = Instant::now();
    let mut rng = Rng::new(0x5eed_d1ff);
    let (mut inputs, mut accepted, mut runs) = (0u64, 0u64, 0usize);
    let mut seed = 0;
    while seed < 32 || start.elapsed() < budget() {
        let mut data = generated_case(seed);
        // One in four mutated: odd headers and near-miss programs.
        if seed % 4 == 3 {
            mutate(&mut data, &mut rng);
        }
        let n = jit_diff(&data);
        accepted += u64::from(n > 0);
        runs += n;
        inputs += 1;
        seed += 1;
    }
    println!("jit_diff: {inputs} inputs, {accepted} accepted, {runs} compared runs");
    // Generated programs are meant to be mostly valid: an oracle that compares few is idle.
    assert!(accepted * 3 >= inputs, "{accepted} of {inputs} accepted");
}
