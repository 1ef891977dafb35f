//! The fuzz oracles of `udf_kernel_glue::fuzzing` for a few seconds under `cargo test`: on the
//! seed packages, then on random mutations of them (`UDF_FUZZ_SECS`, default 3, per oracle).

use std::time::{Duration, Instant};

use udf_bytecode::rng::Rng;
use udf_kernel_glue::fuzzing::{load_then_run, mutate, package_reader, seed_packages};

fn budget() -> Duration {
    let secs = std::env::var("UDF_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    Duration::from_secs_f64(secs)
}

/// Runs `oracle` on every seed, then on mutations until the time budget is spent; returns
/// how many inputs it saw.
fn campaign(oracle: fn(&[u8]), rng_seed: u64) -> usize {
    let seeds = seed_packages();
    assert!(seeds.len() >= 4, "seeds: {}", seeds.len());
    for s in &seeds {
        oracle(s);
    }
    let mut rng = Rng::new(rng_seed);
    let start = Instant::now();
    let mut n = seeds.len();
    while start.elapsed() < budget() {
        let seed = &seeds[rng.index(seeds.len())];
        let input = mutate(seed, &mut rng);
        oracle(&input);
        n += 1;
    }
    n
}

#[test]
fn package_reader_on_mutations() {
    let n = campaign(package_reader, 0x5eed_0001);
    eprintln!("package_reader: {n} inputs");
}

#[test]
fn load_then_run_on_mutations() {
    let n = campaign(load_then_run, 0x5eed_0002);
    eprintln!("load_then_run: {n} inputs");
}

#[test]
fn oracles_on_edge_inputs() {
    for data in [&[][..], b"UDFPKG\r\n", &[0xff; 64], &[0; 24]] {
        package_reader(data);
        load_then_run(data);
    }
}
