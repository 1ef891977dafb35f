//! The checking mode as an oracle for the verifier: every program the verifier accepts runs in
//! the checking interpreter on many inputs without a single violation, and a planted unsound
//! transfer function is caught within seconds.
//!
//! `UDF_CHECK_PROGRAMS=N` sets how many generated programs per type the campaign tries
//! (default 150 in debug builds, 1500 in release). The figure in BENCHMARKS.md and the verifier
//! issue's closing note: `UDF_CHECK_PROGRAMS=32000 cargo test --release -p udf-runtime --test
//! checking` (four types, 128,000 generated programs).

use std::time::{Duration, Instant};

use udf_bytecode::generate::{Rng, Shape, structured_labeled};
use udf_bytecode::{Program, ProgramType, assemble};
use udf_runtime::checking::{Violation, run_checked};
use udf_verifier::{Config, verify};

const TYPES: [ProgramType; 4] = [
    ProgramType::Filter,
    ProgramType::Owns,
    ProgramType::Acl,
    ProgramType::Size,
];

fn config(ty: ProgramType, ctx: Option<u32>) -> Config {
    let mut c = Config::new(ty);
    c.ctx_size = match ty {
        // The acl context is the 16-byte request then the object.
        ProgramType::Acl => ctx.map(|n| n - 16),
        _ => ctx,
    };
    c.record_states = true;
    // Generated programs are short; a smaller budget rejects their runaway loops sooner.
    c.budget = 100_000;
    c
}

/// Random inputs for a context of fixed size `ctx`, or of random lengths up to 96 bytes.
fn inputs(rng: &mut Rng, ctx: Option<u32>, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|k| {
            let len = match ctx {
                Some(s) => s as usize,
                None => {
                    [0, 1, 14, 20, 34, 54, 60, 64, 96][k % 9].min(rng.below(97) as usize + k % 3)
                }
            };
            rng.input(len)
        })
        .collect()
}

/// Verifies and, when accepted, runs in checking mode on `runs` inputs. `Ok(true)`: accepted.
fn check_one(
    prog: &Program,
    conf: &Config,
    ctx: Option<u32>,
    rng: &mut Rng,
    runs: usize,
) -> Result<bool, String> {
    let Ok(facts) = verify(prog, conf) else {
        return Ok(false);
    };
    for input in inputs(rng, ctx, runs) {
        let r3 = input.len() as u64 + rng.below(3);
        if let Err(v) = run_checked(prog, &facts, conf.ty, &input, r3) {
            return Err(format!(
                "{v}\ninput {input:02x?}\n{}",
                udf_bytecode::disassemble(prog)
            ));
        }
    }
    Ok(true)
}

fn campaign_size() -> u64 {
    std::env::var("UDF_CHECK_PROGRAMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 150 } else { 1500 })
}

#[test]
fn accepted_generated_programs_never_violate() {
    let per_type = campaign_size();
    let mut total_accepted = 0;
    for (t, ty) in TYPES.into_iter().enumerate() {
        let shape = Shape::new(ty, 48);
        let (mut accepted, mut meant, mut meant_accepted) = (0u64, 0u64, 0u64);
        for seed in 0..per_type {
            let mut rng = Rng::new(seed * 4 + t as u64);
            let s = structured_labeled(&mut rng, &shape);
            let conf = config(ty, shape.ctx_size);
            match check_one(&s.program, &conf, shape.ctx_size, &mut rng, 8) {
                Ok(true) => {
                    accepted += 1;
                    if s.flaw.is_none() {
                        meant_accepted += 1;
                    }
                }
                Ok(false) => {}
                Err(e) => panic!("{ty} seed {seed}: verifier bug caught by the checking mode: {e}"),
            }
            meant += u64::from(s.flaw.is_none());
        }
        println!(
            "{ty}: {accepted} of {per_type} accepted; {meant_accepted} of {meant} meant-valid accepted"
        );
        // The generator is meant to be mostly valid: a verifier refusing most of it is imprecise.
        assert!(
            meant_accepted * 10 >= meant * 7,
            "{ty}: precision {meant_accepted}/{meant}"
        );
        total_accepted += accepted;
    }
    println!("{total_accepted} accepted programs checked, no violation");
}

#[test]
fn planted_unsound_transfer_function_is_caught() {
    let start = Instant::now();
    let mut tried = 0;
    let found = 'search: loop {
        for ty in TYPES {
            let shape = Shape::new(ty, 48);
            let mut rng = Rng::new(1_000_000 + tried);
            tried += 1;
            let s = structured_labeled(&mut rng, &shape);
            let mut conf = config(ty, shape.ctx_size);
            conf.fault_injection = Some(udf_verifier::Plant::AndBelowMin);
            if let Err(e) = check_one(&s.program, &conf, shape.ctx_size, &mut rng, 8) {
                break 'search e;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not caught in {tried} programs"
        );
    };
    println!(
        "caught after {tried} programs in {:?}: {found}",
        start.elapsed()
    );
    // The same programs are clean without the planted bug.
    assert!(found.contains("outside the verifier's state") || found.contains("faulted"));
}

#[test]
fn corpus_programs_pass_the_checking_mode() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus");
    let cases = [
        (
            "asm/filter_http.s",
            ProgramType::Filter,
            "inputs/http_syn.bin",
        ),
        (
            "asm/filter_http.s",
            ProgramType::Filter,
            "inputs/ssh_syn.bin",
        ),
        (
            "asm/filter_http.s",
            ProgramType::Filter,
            "inputs/truncated_http.bin",
        ),
        (
            "asm/owns_direct.s",
            ProgramType::Owns,
            "inputs/ext2_inode.bin",
        ),
    ];
    for (prog, ty, input) in cases {
        let src = std::fs::read_to_string(format!("{root}/{prog}")).unwrap();
        let p = assemble(&src).unwrap();
        let input = std::fs::read(format!("{root}/{input}")).unwrap();
        let ctx = (ty != ProgramType::Filter).then_some(input.len() as u32);
        let facts = verify(&p, &config(ty, ctx)).unwrap_or_else(|e| panic!("{prog}: {e}"));
        let out = run_checked(&p, &facts, ty, &input, input.len() as u64)
            .unwrap_or_else(|v| panic!("{prog}: {v}"));
        assert!(out.outcome.executed <= facts.max_insns);
    }
}

#[test]
fn a_violation_is_reported_not_ignored() {
    // Facts from a different program: the checker must notice the mismatch.
    let good = assemble("mov %r0, 1\nexit").unwrap();
    let other = assemble("mov %r0, 2\nexit").unwrap();
    let facts = verify(&good, &config(ProgramType::Size, Some(8))).unwrap();
    let v = run_checked(&other, &facts, ProgramType::Size, &[0; 8], 0).unwrap_err();
    assert!(matches!(v, Violation::Register { index: 1, .. }), "{v}");
}
