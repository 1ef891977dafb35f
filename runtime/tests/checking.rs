//! The checking mode as an oracle for the verifier: every program the verifier accepts runs in
//! the checking interpreter on many inputs without a single violation, and a planted unsound
//! transfer function is caught within seconds.
//!
//! `UDF_CHECK_PROGRAMS=N` sets how many generated programs per type the campaign tries
//! (default 150 in debug builds, 1500 in release). The figure in BENCHMARKS.md and the verifier
//! issue's closing note: `UDF_CHECK_PROGRAMS=32000 cargo test --release -p udf-runtime --test
//! checking` (four types, 128,000 generated programs).
//!
//! Half the programs of each type are plain structured programs, the other half are aimed at
//! one [`Hazard`] each in turn (the shapes of the relational and region bug classes). Inputs
//! include contexts at and below the type's minimum length and the empty one: lengths the
//! verifier's facts do not admit ([`udf_verifier::Facts::admits`]) are not checked but
//! counted and reported (the engines are to refuse them).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use udf_bytecode::generate::{Hazard, Shape, Structured, structured_labeled};
use udf_bytecode::rng::Rng;
use udf_bytecode::{Program, ProgramType, assemble};
use udf_runtime::checking::{Violation, run_checked};
use udf_verifier::{Config, verify};

const TYPES: [ProgramType; 4] =
    [ProgramType::Filter, ProgramType::Owns, ProgramType::Acl, ProgramType::Size];

fn config(ty: ProgramType, ctx: Option<u32>) -> Config {
    let mut c = Config::new(ty);
    c.ctx_size = ctx.and_then(|n| ty.object_size(n));
    c.record_states = true;
    // Generated programs are short; a smaller budget rejects their runaway loops sooner.
    c.budget = 100_000;
    c
}

/// Random inputs for a context of fixed size `ctx`, or of random lengths up to 96 bytes;
/// `min` is the type's least context length (the acl request, 16). Every fourth input has a
/// length at an edge: 0, just below the minimum, at it, just below the fixed size.
fn inputs(rng: &mut Rng, ctx: Option<u32>, min: u32, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|k| {
            let len = if k % 4 == 3 {
                let edges =
                    [0, min.saturating_sub(1), min, ctx.map_or(min + 1, |s| s.saturating_sub(1))];
                edges[rng.below(4) as usize] as usize
            } else {
                match ctx {
                    Some(s) => s as usize,
                    None => [0, 1, 14, 20, 34, 54, 60, 64, 96][k % 9]
                        .min(rng.below(97) as usize + k % 3),
                }
            };
            rng.input(len)
        })
        .collect()
}

/// What one program's check did.
#[derive(Default)]
struct Checked {
    accepted: bool,
    /// Runs checked.
    runs: u64,
    /// Inputs of lengths the facts do not admit: not run, not counted as checked.
    not_admitted: u64,
}

/// Verifies and, when accepted, runs in checking mode on `runs` inputs.
fn check_one(
    prog: &Program,
    conf: &Config,
    ctx: Option<u32>,
    rng: &mut Rng,
    runs: usize,
) -> Result<Checked, String> {
    let Ok(facts) = verify(prog, conf) else {
        return Ok(Checked::default());
    };
    let mut out = Checked { accepted: true, ..Checked::default() };
    let min = conf.ctx_len().0.min(u32::MAX as u64) as u32;
    for input in inputs(rng, ctx, min, runs) {
        let r3 = input.len() as u64 + rng.below(3);
        if !facts.admits(input.len()) {
            // The proof does not cover this length: the run paths refuse it (the JIT's
            // differential and the CLI tests check that), and the checking interpreter flags
            // it before the first instruction, never runs it as if it were covered.
            match run_checked(prog, &facts, conf.ty, &input, r3) {
                Err(Violation::LenRange { index: 0, .. }) => {}
                other => {
                    return Err(format!(
                        "a {}-byte context outside the proof ran: {other:?}\n{}",
                        input.len(),
                        udf_bytecode::disassemble(prog)
                    ));
                }
            }
            out.not_admitted += 1;
            continue;
        }
        if let Err(v) = run_checked(prog, &facts, conf.ty, &input, r3) {
            return Err(format!(
                "{v}\ninput ({} bytes) {input:02x?}\n{}",
                input.len(),
                udf_bytecode::disassemble(prog)
            ));
        }
        out.runs += 1;
    }
    Ok(out)
}

/// The campaign's program types and context sizes: the four verified types with their usual
/// shapes, and acl with a variable-length object (so lengths below the 16-byte request occur).
fn campaign_types() -> Vec<(ProgramType, Option<u32>)> {
    let mut v: Vec<(ProgramType, Option<u32>)> =
        TYPES.into_iter().map(|ty| (ty, Shape::new(ty, 48).ctx_size)).collect();
    v.push((ProgramType::Acl, None));
    v
}

/// The shape of program `seed` of a campaign: plain for even seeds, each hazard in turn for
/// odd ones.
fn campaign_shape(ty: ProgramType, ctx: Option<u32>, seed: u64) -> Shape {
    let mut shape = Shape::new(ty, 48);
    shape.ctx_size = ctx;
    if seed % 2 == 1 {
        shape.focus = Some(Hazard::ALL[(seed / 2 % Hazard::ALL.len() as u64) as usize]);
    }
    shape
}

fn focus_name(f: Option<Hazard>) -> String {
    f.map_or_else(|| "plain".to_string(), |h| format!("{h:?}"))
}

/// Meant to be accepted by a sound, precise verifier.
fn meant_valid(s: &Structured) -> bool {
    s.flaw.is_none() && s.unproven == 0
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
    let start = Instant::now();
    let (mut total_accepted, mut total_runs, mut total_skipped) = (0u64, 0u64, 0u64);
    // per focus: generated, accepted, unproven generated, unproven accepted
    let mut by_focus: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for (t, (ty, ctx)) in campaign_types().into_iter().enumerate() {
        let (mut accepted, mut meant, mut meant_accepted, mut plain, mut plain_accepted) =
            (0u64, 0u64, 0u64, 0u64, 0u64);
        for seed in 0..per_type {
            let shape = campaign_shape(ty, ctx, seed);
            let mut rng = Rng::new(seed * 5 + t as u64);
            let s = structured_labeled(&mut rng, &shape);
            let conf = config(ty, ctx);
            let c = check_one(&s.program, &conf, ctx, &mut rng, 8).unwrap_or_else(|e| {
                panic!(
                    "{ty} (ctx {ctx:?}) seed {seed}, {} program (unproven {}), after {} programs and {:?}: verifier bug caught by the checking mode: {e}",
                    focus_name(shape.focus),
                    s.unproven,
                    t as u64 * per_type + seed + 1,
                    start.elapsed()
                )
            });
            let e = by_focus.entry(focus_name(shape.focus)).or_default();
            e[0] += 1;
            e[1] += u64::from(c.accepted);
            e[2] += u64::from(s.unproven > 0);
            e[3] += u64::from(c.accepted && s.unproven > 0);
            accepted += u64::from(c.accepted);
            total_runs += c.runs;
            total_skipped += c.not_admitted;
            if meant_valid(&s) {
                meant += 1;
                meant_accepted += u64::from(c.accepted);
                if shape.focus.is_none() {
                    plain += 1;
                    plain_accepted += u64::from(c.accepted);
                }
            }
        }
        println!(
            "{ty} (ctx {ctx:?}): {accepted} of {per_type} accepted; {meant_accepted} of {meant} meant-valid accepted ({plain_accepted} of {plain} plain)"
        );
        // The generator is meant to be mostly valid: a verifier refusing most of it is imprecise.
        assert!(meant_accepted * 10 >= meant * 7, "{ty}: precision {meant_accepted}/{meant}");
        total_accepted += accepted;
    }
    for (f, [n, a, u, ua]) in &by_focus {
        println!("  {f}: {a} of {n} accepted; unproven {u}, of which accepted {ua}");
    }
    println!(
        "{total_accepted} accepted programs checked on {total_runs} inputs, no violation, in {:?}",
        start.elapsed()
    );
    println!(
        "{total_skipped} inputs of lengths the facts do not admit, each flagged before its first instruction"
    );
    assert!(total_runs > 0);
}

/// The measurement behind the soundness figures: for each shape, how many programs and
/// seconds until the checking mode catches the first violation (a verifier bug), for up to
/// `UDF_HUNT_SECONDS` (default 60) per shape. Run with `--ignored --nocapture`; it reports
/// and never fails (a sound verifier gives "none").
#[test]
#[ignore]
fn hunt_first_violation_per_shape() {
    let limit = Duration::from_secs(
        std::env::var("UDF_HUNT_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(60),
    );
    let types = campaign_types();
    let foci: Vec<Option<Hazard>> = std::iter::once(None).chain(Hazard::ALL.map(Some)).collect();
    for focus in foci {
        let start = Instant::now();
        let (mut n, mut accepted, mut violations, mut unproven) = (0u64, 0u64, 0u64, 0u64);
        let mut found = None;
        while start.elapsed() < limit {
            let (ty, ctx) = types[(n % types.len() as u64) as usize];
            let mut shape = Shape::new(ty, 48);
            shape.ctx_size = ctx;
            shape.focus = focus;
            let seed = n;
            n += 1;
            let mut rng = Rng::new(7_000_000 + seed);
            let s = structured_labeled(&mut rng, &shape);
            unproven += u64::from(s.unproven > 0);
            match check_one(&s.program, &config(ty, ctx), ctx, &mut rng, 8) {
                Ok(c) => accepted += u64::from(c.accepted),
                Err(e) => {
                    accepted += 1;
                    violations += 1;
                    if found.is_none() {
                        found = Some((
                            n,
                            start.elapsed(),
                            format!("{ty} (ctx {ctx:?}) seed {seed}: {e}"),
                        ));
                    }
                }
            }
        }
        println!(
            "HUNT {}: {n} programs in {:.1}s, {accepted} accepted ({unproven} with unproven variants), {violations} violating",
            focus_name(focus),
            start.elapsed().as_secs_f64()
        );
        if let Some((k, t, e)) = found {
            println!("  first violation at program {k}, after {:.3}s:\n{e}", t.as_secs_f64());
        }
    }
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
        assert!(start.elapsed() < Duration::from_secs(30), "not caught in {tried} programs");
    };
    println!("caught after {tried} programs in {:?}: {found}", start.elapsed());
    // The same programs are clean without the planted bug.
    assert!(found.contains("outside the verifier's state") || found.contains("faulted"));
}

#[test]
fn corpus_programs_pass_the_checking_mode() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../corpus");
    let cases = [
        ("asm/filter_http.s", ProgramType::Filter, "inputs/http_syn.bin"),
        ("asm/filter_http.s", ProgramType::Filter, "inputs/ssh_syn.bin"),
        ("asm/filter_http.s", ProgramType::Filter, "inputs/truncated_http.bin"),
        ("asm/owns_direct.s", ProgramType::Owns, "inputs/ext2_inode.bin"),
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
