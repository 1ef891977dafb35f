//! One test format for every engine: the data-driven test files and the runner that takes every
//! case through every engine udfkit has.
//!
//! The files it reads:
//!
//! | extension | what | module |
//! |---|---|---|
//! | `.asmt` | udfkit's own bytecode cases: an assembly program with its expectations beside it | [`asmt`] |
//! | `.udft` | the corpus's expectations for the entry points of a `.udf` program | [`udft`] |
//! | `.data` | bpf_conformance cases (`shared/testdata/bpf_conformance`) | [`datafile`] |
//! | `.yaml` | PREVAIL's verifier suite (`shared/testdata/prevail/test-data`) | [`prevail`] |
//!
//! `udf test` runs them on the engine it is told ([`ExecEngine`], through [`testrun`]);
//! `cargo test -p udf-filetests` runs every case on every [`every::Executor`] and prints a
//! count per engine. `UDF_BLESS=1` rewrites the expectations of `.asmt` files from what
//! happened.

pub mod asmt;
pub mod datafile;
pub mod every;
pub mod prevail;
pub mod testrun;
pub mod typed;
pub mod udft;

/// The engine `udf test --engine` runs cases on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecEngine {
    /// The reference interpreter.
    Interp,
    /// Native code from the JIT: trusted for what the verifier accepted (`.udft`), checked
    /// for unverified programs (`.data`).
    Jit,
}

impl ExecEngine {
    /// The engine that runs verified `.udft` cases: the interpreter, or trusted native code.
    pub fn executor(self) -> every::Executor {
        match self {
            ExecEngine::Interp => every::Executor::Interpreter,
            ExecEngine::Jit => every::Executor::JitTrusted,
        }
    }
}

/// `N passed, M failed, K skipped`: the last line of `udf test` and each engine's count.
pub fn counts_line(passed: usize, failed: usize, skipped: usize) -> String {
    format!("{passed} passed, {failed} failed, {skipped} skipped")
}

/// The verdict on a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// As expected.
    Pass(String),
    /// Not as expected.
    Fail(String),
    /// Needs something this runner does not provide.
    Skip(String),
}
