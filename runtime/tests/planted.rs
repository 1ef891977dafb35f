//! Mutation testing of the oracle: for every bug [`Plant`] can plant in the verifier (a
//! plausible one-line slip in a transfer function, a refinement, a join, symbol handling,
//! call/return, stack tracking, a bounds check), the checking campaign over generated programs
//! must find a program the planted verifier accepts and the checking interpreter refutes.
//!
//! Each plant gets a time limit (`UDF_PLANT_SECONDS`, default 60 s in release, 120 s in debug);
//! one not caught within it fails the test. The figures (programs and seconds to the catch)
//! are printed, and recorded in docs/soundness.md:
//! `cargo test --release -p udf-runtime --test planted -- --nocapture`.

use std::time::{Duration, Instant};

use udf_bytecode::generate::{Hazard, Shape, structured_labeled};
use udf_bytecode::rng::Rng;
use udf_bytecode::shapes::{ShapeFamily, shaped};
use udf_bytecode::{Program, ProgramType};
use udf_runtime::checking::run_checked;
use udf_verifier::{Config, Plant, verify};

const TYPES: [ProgramType; 4] =
    [ProgramType::Filter, ProgramType::Owns, ProgramType::Acl, ProgramType::Size];

fn config(ty: ProgramType, ctx: Option<u32>, plant: Plant) -> Config {
    let mut c = Config::new(ty);
    c.ctx_size = ctx.and_then(|n| ty.object_size(n));
    c.record_states = true;
    c.budget = 100_000;
    c.fault_injection = Some(plant);
    c
}

/// Inputs of every length the facts admit up to 96 bytes (variable-length types), or of the
/// fixed size: random bytes, all zeros, all ones.
fn inputs(rng: &mut Rng, facts: &udf_verifier::Facts, n: usize) -> Vec<Vec<u8>> {
    let (lo, hi) = facts.ctx_len;
    let hi = hi.min(lo.max(96));
    (0..n)
        .map(|k| {
            let len = if lo == hi {
                lo
            } else {
                match k % 4 {
                    0 => lo,
                    1 => lo + 1,
                    _ => lo + rng.below(hi - lo + 1),
                }
            } as usize;
            match k % 7 {
                5 => vec![0; len],
                6 => vec![0xff; len],
                _ => rng.input(len),
            }
        })
        .collect()
}

/// A planted verifier accepted `prog` and the checking interpreter refuted it on some input.
fn caught(prog: &Program, conf: &Config, rng: &mut Rng) -> Option<String> {
    let facts = verify(prog, conf).ok()?;
    for input in inputs(rng, &facts, 12) {
        let r3 = input.len() as u64 + rng.below(3);
        if let Err(v) = run_checked(prog, &facts, conf.ty, &input, r3) {
            return Some(format!("{v} (input of {} bytes)", input.len()));
        }
    }
    None
}

fn limit() -> Duration {
    let default = if cfg!(debug_assertions) { 120 } else { 60 };
    Duration::from_secs(
        std::env::var("UDF_PLANT_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(default),
    )
}

#[test]
fn every_planted_verifier_bug_is_caught() {
    let limit = limit();
    let mut missed = Vec::new();
    println!("| planted bug | programs | seconds | caught by |");
    println!("| --- | --- | --- | --- |");
    for plant in Plant::ALL {
        let start = Instant::now();
        let mut tried = 0u64;
        let found = loop {
            if start.elapsed() > limit {
                break None;
            }
            // Every third program is compiler-shaped (`shapes`: join names, loop layouts,
            // copies); of the others, types in turn, every other one focused on one of the
            // generator's hazards.
            let mut rng = Rng::new(0x5eed_0000 + tried);
            tried += 1;
            if tried.is_multiple_of(3) {
                let kind = ShapeFamily::ALL[(tried / 3) as usize % ShapeFamily::ALL.len()];
                let s = shaped(&mut rng, kind);
                let mut conf = config(s.ty, s.ctx_size, plant);
                conf.ctx_size = s.ctx_size;
                if let Some(v) = caught(&s.program, &conf, &mut rng) {
                    break Some(format!("{v} [{kind:?}]"));
                }
                continue;
            }
            let ty = TYPES[(tried % 4) as usize];
            let shape = match (tried / 4) % 2 {
                0 => Shape::new(ty, 48),
                _ => Shape::focused(ty, 48, Hazard::ALL[(tried / 8) as usize % Hazard::ALL.len()]),
            };
            let s = structured_labeled(&mut rng, &shape);
            let conf = config(ty, shape.ctx_size, plant);
            if let Some(v) = caught(&s.program, &conf, &mut rng) {
                break Some(v);
            }
        };
        match found {
            Some(v) => {
                println!("| {plant:?} | {tried} | {:.2} | {v} |", start.elapsed().as_secs_f64())
            }
            None => {
                println!("| {plant:?} | {tried} | not caught in {limit:?} | |");
                missed.push(plant);
            }
        }
    }
    assert!(missed.is_empty(), "planted bugs not caught: {missed:?}");
}
