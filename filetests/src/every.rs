//! Every engine: the five ways udfkit runs a program, one place that runs a program on any of
//! them, and the count of verdicts per engine.
//!
//! A program the verifier refused runs only where unverified code may run: the interpreter (with
//! its pre-run checks) and the JIT in checked mode. The checking interpreter needs the
//! verifier's recorded states, and trusted and hardened native code is compiled from the
//! verifier's proof, so on those three a refused program is skipped, and counted as skipped.

use std::fmt;
use std::path::Path;

use udf_bytecode::{Program, ProgramType};
use udf_runtime::Vm;
use udf_verifier::Verified;

use crate::Verdict;
use crate::typed::{Runnable, TypedRun, jit, run_code};

/// One way of running a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Executor {
    /// The reference interpreter.
    Interpreter,
    /// The checking interpreter (`udf_runtime::checking`): checks every fact the verifier
    /// relied on at every instruction. Verified programs only.
    CheckingInterpreter,
    /// Trusted native code: no checks. Verified programs only.
    JitTrusted,
    /// Trusted native code with every context access bounds-checked. Verified programs only.
    JitHardened,
    /// Checked native code: every access checked, the budget metered. Anything.
    JitChecked,
}

impl Executor {
    /// Every executor, in the order the counts are printed.
    pub const ALL: [Executor; 5] = [
        Executor::Interpreter,
        Executor::CheckingInterpreter,
        Executor::JitTrusted,
        Executor::JitHardened,
        Executor::JitChecked,
    ];

    /// Whether it runs only what the verifier accepted.
    pub fn needs_verified(self) -> bool {
        matches!(self, Executor::CheckingInterpreter | Executor::JitTrusted | Executor::JitHardened)
    }

    fn index(self) -> usize {
        Executor::ALL.iter().position(|&e| e == self).expect("in ALL")
    }
}

impl fmt::Display for Executor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Executor::Interpreter => "interpreter",
            Executor::CheckingInterpreter => "checking interpreter",
            Executor::JitTrusted => "JIT trusted",
            Executor::JitHardened => "JIT hardened",
            Executor::JitChecked => "JIT checked",
        })
    }
}

/// What a run did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ran {
    /// Ran to `exit`.
    Returned(TypedRun),
    /// Stopped by a fault, a violation of the verifier's facts, or refused before running
    /// (pre-run checks, JIT compilation).
    Faulted(String),
}

/// The reason a refused program does not run on `ex`.
pub fn unverified_skip(ex: Executor) -> String {
    format!(
        "not run on the {ex}: the verifier refused the program (unverified code runs on the interpreter and the JIT checked only)"
    )
}

/// Runs `prog` as a program of type `ty` on `input` on `ex`. `verified` is the verifier's
/// acceptance (with recorded states, for the checking interpreter), `None` when it refused;
/// `budget` bounds the interpreter and checked native code. `Err` is why `ex` does not run it.
pub fn run_on(
    ex: Executor,
    prog: &Program,
    ty: ProgramType,
    verified: Option<&Verified>,
    input: &[u8],
    wire_len: Option<u64>,
    budget: u64,
) -> Result<Ran, String> {
    if ex.needs_verified() && verified.is_none() {
        return Err(unverified_skip(ex));
    }
    if let (Executor::CheckingInterpreter, Some(v)) = (ex, verified) {
        let r3 = match ty {
            ProgramType::Filter => wire_len.unwrap_or(input.len() as u64),
            _ => 0,
        };
        return Ok(match udf_runtime::checking::run_checked(prog, v.facts(), ty, input, r3) {
            Ok(c) => Ran::Returned(TypedRun { outcome: c.outcome, extents: c.extents }),
            Err(e) => Ran::Faulted(format!("checking: {e}")),
        });
    }
    let (compiled, native);
    let code = match (ex, verified) {
        (Executor::Interpreter, v) => {
            match udf_runtime::prepare(prog, &udf_runtime::pre_run_checks(ty, v.is_some())) {
                Ok(c) => Runnable::Interp({
                    compiled = c;
                    &compiled
                }),
                Err(e) => return Ok(Ran::Faulted(format!("pre-run checks: {e}"))),
            }
        }
        (ex, v) => {
            let mode = match (ex, v) {
                (Executor::JitTrusted, Some(v)) => udf_jit::Mode::Trusted(v),
                (Executor::JitHardened, Some(v)) => udf_jit::Mode::Hardened(v),
                _ => udf_jit::Mode::Checked,
            };
            match jit(prog, ty, mode) {
                Ok(exe) => Runnable::Native({
                    native = exe;
                    native.native()
                }),
                Err(e) => return Ok(Ran::Faulted(format!("JIT: {e}"))),
            }
        }
    };
    Ok(match run_code(&mut Vm::new(), code, ty, input, wire_len, budget) {
        Ok(t) => Ran::Returned(t),
        Err(f) => Ran::Faulted(format!("fault: {f}")),
    })
}

/// Verdicts of one engine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Cases as expected.
    pub passed: usize,
    /// Cases not as expected, each with its file and why.
    pub failed: Vec<String>,
    /// Cases skipped, each with its file and why.
    pub skipped: Vec<String>,
}

impl Tally {
    /// Counts `v` for `file`.
    pub fn record(&mut self, file: &Path, v: Verdict) {
        match v {
            Verdict::Pass(_) => self.passed += 1,
            Verdict::Fail(why) => self.failed.push(format!("{}: {why}", file.display())),
            Verdict::Skip(why) => self.skipped.push(format!("{}: {why}", file.display())),
        }
    }

    /// `N passed, M failed, K skipped`.
    pub fn line(&self) -> String {
        crate::counts_line(self.passed, self.failed.len(), self.skipped.len())
    }
}

/// The verdicts of a suite: the verifier's, then each engine's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Verdicts of the verifier (accepted or refused as the file says).
    pub verifier: Tally,
    /// Per engine, in the order of [`Executor::ALL`].
    pub engines: [Tally; 5],
}

impl Counts {
    /// The tally of `ex`.
    pub fn engine(&self, ex: Executor) -> &Tally {
        &self.engines[ex.index()]
    }

    /// The tally of `ex`, to record into.
    pub fn engine_mut(&mut self, ex: Executor) -> &mut Tally {
        &mut self.engines[ex.index()]
    }

    /// Every failure, verifier's first.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self.verifier.failed.clone();
        for ex in Executor::ALL {
            out.extend(self.engine(ex).failed.iter().map(|f| format!("[{ex}] {f}")));
        }
        out
    }

    /// One line per engine: `NAME: N passed, M failed, K skipped`.
    pub fn table(&self) -> String {
        let mut s = format!("  {:<21} {}\n", "verifier:", self.verifier.line());
        for ex in Executor::ALL {
            s.push_str(&format!("  {:<21} {}\n", format!("{ex}:"), self.engine(ex).line()));
        }
        s
    }
}

/// The verdict of a bpf_conformance case (`text`, a `.data` file) on `ex`. The interpreter and
/// the checked JIT run it as `udf test` does (`raw`, the suite's helpers, read-write memory);
/// the other three run it only when the verifier accepts it as a `size` program over its memory
/// (read-only, no helpers), which most of the suite is.
pub fn data_verdict(text: &str, ex: Executor, expect_failure: bool) -> Verdict {
    use crate::datafile::{judge, parse, program};
    match ex {
        Executor::Interpreter => return judge(text, crate::ExecEngine::Interp, expect_failure),
        Executor::JitChecked => return judge(text, crate::ExecEngine::Jit, expect_failure),
        _ => {}
    }
    let Ok(case) = parse(text) else {
        return judge(text, crate::ExecEngine::Interp, expect_failure);
    };
    let Ok(prog) = program(&case) else {
        return judge(text, crate::ExecEngine::Interp, expect_failure);
    };
    let mut conf = udf_verifier::Config::new(ProgramType::Size);
    conf.ctx_size = u32::try_from(case.mem.len()).ok();
    conf.record_states = true;
    let verified = match udf_verifier::verify(&prog, &conf) {
        Ok(v) => v,
        Err(e) if expect_failure => return Verdict::Pass(format!("flagged: refused: {e}")),
        Err(_) => return Verdict::Skip(unverified_skip(ex)),
    };
    let budget = verified.max_insns;
    let got = match run_on(ex, &prog, ProgramType::Size, Some(&verified), &case.mem, None, budget) {
        Ok(Ran::Returned(t)) => Ok(t.outcome.r0),
        Ok(Ran::Faulted(m)) => Err(m),
        Err(skip) => return Verdict::Skip(skip),
    };
    match (got, case.result, expect_failure) {
        (Ok(v), Some(want), false) if v == want => Verdict::Pass(format!("r0 = {v:#x}")),
        (Ok(v), Some(want), true) if v != want => {
            Verdict::Pass(format!("flagged: r0 = {v:#x}, the file says {want:#x}"))
        }
        (Ok(v), want, false) => Verdict::Fail(format!("r0 = {v:#x}, expected {want:x?}")),
        (Ok(v), _, true) => Verdict::Fail(format!("not flagged: ran and returned r0 = {v:#x}")),
        (Err(m), _, true) => Verdict::Pass(format!("flagged: {m}")),
        (Err(m), _, false) => Verdict::Fail(m),
    }
}

/// Runs every test file of `files` on every engine: `.asmt` (blessed with `bless`), `.udft`,
/// `.data` (with `expect_failure`, every case must be flagged) and `.yaml` (PREVAIL: verifier
/// cases, counted on the verifier only: agreeing with PREVAIL passes).
pub fn run_files(files: &[std::path::PathBuf], expect_failure: bool, bless: bool) -> Counts {
    let mut counts = Counts::default();
    for f in files {
        match f.extension().and_then(|e| e.to_str()) {
            Some("asmt") => crate::asmt::run_file(f, bless, &mut counts),
            Some("data") => {
                let text = match std::fs::read(f) {
                    Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                    Err(e) => {
                        counts.verifier.record(f, Verdict::Fail(format!("cannot read: {e}")));
                        continue;
                    }
                };
                for ex in Executor::ALL {
                    let v = data_verdict(&text, ex, expect_failure);
                    counts.engine_mut(ex).record(f, v);
                }
            }
            Some("udft") => udft_every(f, expect_failure, &mut counts),
            Some("yaml") => {
                for v in crate::testrun::prevail_verdicts(f, expect_failure) {
                    counts.verifier.record(f, v);
                }
            }
            _ => counts
                .verifier
                .record(f, Verdict::Fail("not a test file (.asmt, .data, .udft, .yaml)".into())),
        }
    }
    counts
}

/// A `.udft` file on every engine. Its `refused` cases are the verifier's verdicts: counted once,
/// on the verifier, and skipped on the engines (nothing runs); a failing one fails on each
/// engine it failed on.
fn udft_every(f: &Path, expect_failure: bool, counts: &mut Counts) {
    let refusals: Vec<bool> = std::fs::read_to_string(f)
        .ok()
        .and_then(|t| crate::udft::parse(&t, f.parent().unwrap_or(Path::new(""))).ok())
        .map(|file| {
            file.cases.iter().map(|c| matches!(c.expect, crate::udft::Expect::Refused(_))).collect()
        })
        .unwrap_or_default();
    for ex in Executor::ALL {
        let verdicts = crate::udft::verdicts(f, ex, expect_failure);
        let aligned = verdicts.len() == refusals.len();
        for (i, v) in verdicts.into_iter().enumerate() {
            if aligned && refusals[i] && !matches!(v, Verdict::Fail(_)) {
                if ex == Executor::Interpreter {
                    counts.verifier.record(f, v);
                }
                counts.engine_mut(ex).record(
                    f,
                    Verdict::Skip("a `refused` case: the verifier's, nothing runs".into()),
                );
            } else {
                counts.engine_mut(ex).record(f, v);
            }
        }
    }
}
