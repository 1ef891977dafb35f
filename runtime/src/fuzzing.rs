//! Oracles for fuzzing the verifier (feature `fuzzing`): the fuzz targets in `fuzz/` are a few
//! lines that call these, and the same oracles run for a few seconds under `cargo test`
//! (`tests/fuzz_oracles.rs`, which also replays `fuzz/regressions/<target>/`).
//!
//! - [`Case`]: the input format every program oracle shares (this one and
//!   `udf_jit::fuzzing::jit_diff`): bytes → program, program type, context size, input seed;
//! - [`verify_then_check`]: whatever the verifier accepts runs in the checking interpreter
//!   ([`run_checked`]) on inputs of several lengths without a single violation;
//! - [`generated_case`]: a [`Case`] from the structured generator, for seed corpora and the
//!   in-test runs.
//!
//! # The input format
//!
//! `k = data.len() % 8` bytes of header, then the program's little-endian instruction slots:
//!
//! - `k == 0`: the whole input is the program, a `filter` (variable-length packet), input
//!   seed 0; so any eBPF text section is an input as it is;
//! - `k > 0`: header byte 0 picks the type (bits 0-1: `filter`, `owns`, `acl`, `size`) and
//!   whether the verifier is told a context size (bit 2); byte 1 is that size (for `acl`, the
//!   object's size after the 16-byte request); bytes 2.. are the input seed (little-endian).
//!   Bytes a short header leaves out are 0. [`Case::to_bytes`] always writes all 7.
//!
//! Inputs are derived from the seed, at lengths chosen around the verifier's admitted range
//! ([`Facts::ctx_len`]): the smallest admitted length, the ones just above it and a few typical
//! packet lengths. Lengths the verifier does not admit are listed too ([`Run::admitted`]
//! false): the run paths must refuse them ([`Facts::admits`]), so the oracle does not run them
//! in the checking interpreter, whose faults would only restate the refusal.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use udf_bytecode::generate::{Shape, structured_labeled};
use udf_bytecode::rng::Rng;
use udf_bytecode::{Program, ProgramType, disassemble};
use udf_verifier::{Config, Facts, verify};

use crate::checking::run_checked;

/// The types a header can pick (bits 0-1 of byte 0): the verified ones.
pub const TYPES: [ProgramType; 4] =
    [ProgramType::Filter, ProgramType::Owns, ProgramType::Acl, ProgramType::Size];

/// Header length [`Case::to_bytes`] writes (the most an input's length modulo 8 can give).
pub const HEADER_LEN: usize = 7;

/// The verifier's budget for fuzzed programs: small, so runaway loops are refused quickly.
pub const FUZZ_BUDGET: u64 = 100_000;

/// Longest context an oracle runs a program on.
pub const MAX_RUN_LEN: usize = 512;

/// One fuzz input, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// The program.
    pub program: Program,
    /// Its type.
    pub ty: ProgramType,
    /// The context size the verifier is told ([`Config::ctx_size`]; for `acl`, after the
    /// request).
    pub ctx_size: Option<u32>,
    /// Seeds the run inputs.
    pub input_seed: u64,
}

/// One run an oracle makes: a context and the filter's wire length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The context bytes.
    pub input: Vec<u8>,
    /// `r3` on entry (a filter's length on the wire: the context's length or a little more).
    pub r3: u64,
    /// Whether the verifier's facts cover this length ([`Facts::admits`]).
    pub admitted: bool,
}

impl Case {
    /// Decodes an input (see the module's documentation); `None` when the program part does
    /// not decode.
    pub fn from_bytes(data: &[u8]) -> Option<Case> {
        let k = data.len() % 8;
        let (header, code) = data.split_at(k);
        let program = Program::decode(code).ok()?;
        if k == 0 {
            return Some(Case { program, ty: ProgramType::Filter, ctx_size: None, input_seed: 0 });
        }
        let mut h = [0u8; HEADER_LEN];
        h[..k].copy_from_slice(header);
        let ty = TYPES[usize::from(h[0] & 3)];
        let ctx_size = (h[0] & 4 != 0).then_some(u32::from(h[1]));
        let mut seed = [0u8; 8];
        seed[..HEADER_LEN - 2].copy_from_slice(&h[2..]);
        Some(Case { program, ty, ctx_size, input_seed: u64::from_le_bytes(seed) })
    }

    /// The input that decodes to this case: a full header, then the program. Context sizes
    /// above 255 and seeds above 2^40 do not fit and are cut to their low bits.
    pub fn to_bytes(&self) -> Vec<u8> {
        let t = TYPES.iter().position(|&t| t == self.ty).unwrap_or(0) as u8;
        let mut out = Vec::with_capacity(HEADER_LEN + self.program.slot_count() * 8);
        out.push(t | if self.ctx_size.is_some() { 4 } else { 0 });
        out.push(self.ctx_size.unwrap_or(0) as u8);
        out.extend_from_slice(&self.input_seed.to_le_bytes()[..HEADER_LEN - 2]);
        out.extend_from_slice(&self.program.encode());
        out
    }

    /// The verifier's configuration for this case (`record_states` on when `states`).
    pub fn config(&self, states: bool) -> Config {
        let mut c = Config::new(self.ty);
        c.ctx_size = self.ctx_size;
        c.record_states = states;
        c.budget = FUZZ_BUDGET;
        c
    }

    /// The context lengths to try: the admitted range's edges and their neighbours (below
    /// the range too), typical packet lengths, and one at random, each at most
    /// [`MAX_RUN_LEN`], without repeats.
    pub fn lengths(&self, facts: &Facts, rng: &mut Rng) -> Vec<usize> {
        let cap = MAX_RUN_LEN as u64;
        let (lo, hi) = facts.ctx_len;
        let mut out: Vec<usize> = Vec::new();
        let edges =
            [Some(0), lo.checked_sub(1), Some(lo), lo.checked_add(1), Some(hi), hi.checked_add(1)];
        let typical = [14, 34, 54, 64, 96].map(Some);
        let random = Some(lo.saturating_add(rng.below(cap.saturating_sub(lo).max(1))));
        for len in edges.into_iter().chain(typical).chain([random]).flatten() {
            if len <= cap && !out.contains(&(len as usize)) {
                out.push(len as usize);
            }
        }
        out
    }

    /// The runs an oracle makes once the verifier accepted the program with `facts`: two
    /// contexts of each length of [`Case::lengths`] (one biased to 0 and 0xff bytes, one
    /// all 0 or all 0xff).
    pub fn runs(&self, facts: &Facts) -> Vec<Run> {
        let mut rng = Rng::new(self.input_seed ^ 0x5eed_f022_0000_0000);
        let mut out = Vec::new();
        for (i, len) in self.lengths(facts, &mut rng).into_iter().enumerate() {
            let flat = alloc::vec![if i % 2 == 0 { 0 } else { 0xff }; len];
            for input in [rng.input(len), flat] {
                let r3 = input.len() as u64 + rng.below(3);
                out.push(Run { input, r3, admitted: facts.admits(len) });
            }
        }
        out
    }

    /// What a failure message says about the case: type, sizes and the disassembly.
    pub fn describe(&self, facts: Option<&Facts>) -> String {
        let mut s = format!(
            "type {}, ctx_size {:?}, input seed {:#x}",
            self.ty, self.ctx_size, self.input_seed
        );
        if let Some(f) = facts {
            s += &format!(", admitted lengths {:?}", f.ctx_len);
        }
        s + "\n" + &disassemble(&self.program)
    }
}

/// Decodes `data` ([`Case`]); if the verifier accepts the program (states recorded), runs it
/// in the checking interpreter on every admitted run of [`Case::runs`]: any violation (a
/// register outside its recorded state, an unreached instruction run, an uninitialised or
/// partial-pointer stack read, a fault, too many instructions or extents) is a verifier bug,
/// and panics with the program disassembled. The verifier itself must never panic, whatever
/// the bytes. Returns how many runs were checked (0: refused, or not a program).
pub fn verify_then_check(data: &[u8]) -> usize {
    let Some(case) = Case::from_bytes(data) else {
        return 0;
    };
    let Ok(facts) = verify(&case.program, &case.config(true)) else {
        return 0;
    };
    if facts.access.len() != case.program.len() {
        panic!(
            "the facts describe {} instructions, the program has {}\n{}",
            facts.access.len(),
            case.program.len(),
            case.describe(Some(&facts))
        );
    }
    let mut checked = 0;
    for run in case.runs(&facts) {
        // Lengths the facts do not admit are the run paths' to refuse; the checking
        // interpreter runs only what the proof covers.
        if !run.admitted {
            continue;
        }
        checked += 1;
        if let Err(v) = run_checked(&case.program, &facts, case.ty, &run.input, run.r3) {
            panic!(
                "verifier bug caught by the checking interpreter: {v}\non {} bytes {:02x?}, r3 {}\n{}",
                run.input.len(),
                run.input,
                run.r3,
                case.describe(Some(&facts))
            );
        }
    }
    checked
}

/// The context sizes [`generated_case`] tells the verifier for template types.
const GEN_CTX_SIZES: [Option<u32>; 5] = [Some(64), Some(64), Some(16), Some(200), None];

/// A generated case, deterministic in `seed`: a structured program (about 48 instructions,
/// sometimes with a planted flaw) for the type `seed % 4` picks, a context size of 64 bytes
/// most of the time (or 16, 200, or none told), and a derived input seed; as bytes.
pub fn generated_case(seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xf022);
    let ty = TYPES[(seed % 4) as usize];
    let mut shape = Shape::new(ty, 48);
    if shape.ctx_size.is_some() {
        shape.ctx_size = rng.pick(&GEN_CTX_SIZES);
    }
    let s = structured_labeled(&mut rng, &shape);
    let case = Case {
        program: s.program,
        ty,
        // The generator counts the acl request in its size; the verifier does not.
        ctx_size: shape.ctx_size.and_then(|n| ty.object_size(n)),
        input_seed: rng.next_u64() & 0xff_ffff_ffff,
    };
    case.to_bytes()
}

/// One small change to a case's bytes, for the in-test runs (libFuzzer makes its own): a bit
/// flip or a new byte in the program, or a header byte replaced.
pub fn mutate(data: &mut [u8], rng: &mut Rng) {
    if data.is_empty() {
        return;
    }
    let at = rng.below(data.len() as u64) as usize;
    match rng.below(3) {
        0 => data[at] ^= 1 << rng.below(8),
        1 => data[at] = rng.next_u64() as u8,
        _ => {
            let h = rng.below(data.len().min(HEADER_LEN) as u64) as usize;
            data[h] = rng.next_u64() as u8;
        }
    }
}

/// The checked-in crashers of `fuzz/regressions/<target>/` below the repository root `root`,
/// sorted by name. Panics when the folder is missing or empty, so a lost folder fails the
/// replaying test instead of passing it.
#[cfg(feature = "std")]
pub fn regressions(root: &std::path::Path, target: &str) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let dir = root.join("fuzz/regressions").join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (the replayed crashers are missing)", dir.display()));
    let mut files: Vec<std::path::PathBuf> =
        entries.map(|e| e.expect("a directory entry").path()).filter(|p| p.is_file()).collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "{}: no input to replay (the folder must hold at least one)",
        dir.display()
    );
    files
        .into_iter()
        .map(|p| {
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, data)
        })
        .collect()
}

/// Replays [`regressions`] of `target` (in this repository) through `oracle`, printing each
/// input and the number of runs it `did`; returns their sum.
#[cfg(feature = "std")]
pub fn replay_regressions(target: &str, did: &str, oracle: fn(&[u8]) -> usize) -> usize {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut total = 0;
    for (path, data) in regressions(&root, target) {
        std::eprintln!("replaying {}", path.display());
        let n = oracle(&data);
        std::eprintln!("  {n} runs {did}");
        total += n;
    }
    total
}

/// What an in-test campaign over generated cases saw.
#[derive(Clone, Copy, Debug)]
pub struct CampaignTally {
    /// Cases given to the oracle.
    pub inputs: u64,
    /// Cases whose program the oracle ran (it returned more than 0).
    pub accepted: u64,
    /// Runs the oracle made, over every case.
    pub runs: usize,
}

/// Runs `oracle` on [`generated_case`] of the seeds 0, 1, 2, ... (one in four mutated by a
/// generator seeded with `rng_seed`: decode errors, odd headers, near-miss programs), at
/// least `min_cases` of them and for at least [`campaign_time`].
#[cfg(feature = "std")]
pub fn generated_campaign(
    oracle: fn(&[u8]) -> usize,
    rng_seed: u64,
    min_cases: u64,
) -> CampaignTally {
    let start = std::time::Instant::now();
    let mut rng = Rng::new(rng_seed);
    let mut tally = CampaignTally { inputs: 0, accepted: 0, runs: 0 };
    let mut seed = 0;
    while seed < min_cases || start.elapsed() < campaign_time() {
        let mut data = generated_case(seed);
        if seed % 4 == 3 {
            mutate(&mut data, &mut rng);
        }
        let n = oracle(&data);
        tally.accepted += u64::from(n > 0);
        tally.runs += n;
        tally.inputs += 1;
        seed += 1;
    }
    tally
}

/// How long the in-test campaigns run: `UDF_FUZZ_SECS`, default 3 seconds.
#[cfg(feature = "std")]
pub fn campaign_time() -> core::time::Duration {
    let secs = std::env::var("UDF_FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    core::time::Duration::from_secs_f64(secs)
}
