//! `udf test`: finds test files under the given paths (bpf_conformance `.data`, PREVAIL `.yaml`,
//! the corpus's `.udft`) and judges each case.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::datafile::judge;
use crate::{ExecEngine, Verdict};

/// Totals of a test run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Cases as expected.
    pub passed: usize,
    /// The passed cases, with their file and what happened.
    pub passed_cases: Vec<(PathBuf, String)>,
    /// Cases not as expected, with their file and reason.
    pub failed: Vec<(PathBuf, String)>,
    /// Cases skipped, with their file and reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Summary {
    /// `N passed, M failed, K skipped`.
    pub fn line(&self) -> String {
        crate::counts_line(self.passed, self.failed.len(), self.skipped.len())
    }
}

/// The test files under `paths` (files as given; folders recursively), sorted. Files other than
/// `.data` (bpf_conformance), `.yaml` (PREVAIL), `.udft` (the corpus's own, [`crate::udft`]) and
/// `.asmt` ([`crate::asmt`])
/// inside folders are not test files and are ignored.
pub fn collect(paths: &[PathBuf]) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out)?;
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{}: no such file or folder", p.display()),
            ));
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("data" | "yaml" | "udft" | "asmt")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

/// Runs every case of `files`, showing progress on stderr when it is a terminal.
pub fn run(
    files: &[PathBuf],
    engine: ExecEngine,
    expect_failure: bool,
) -> std::io::Result<Summary> {
    let mut sum = Summary::default();
    let progress = std::io::stderr().is_terminal();
    for (i, f) in files.iter().enumerate() {
        if progress {
            eprint!("\r[{}/{}] {}\x1b[K", i + 1, files.len(), f.display());
            let _ = std::io::stderr().flush();
        }
        let verdicts = match f.extension().and_then(|e| e.to_str()) {
            Some("data") => vec![match std::fs::read(f) {
                Ok(b) => judge(&String::from_utf8_lossy(&b), engine, expect_failure),
                Err(e) => Verdict::Fail(format!("cannot read: {e}")),
            }],
            Some("yaml") => prevail_verdicts(f, expect_failure),
            Some("udft") => crate::udft::verdicts(f, engine.executor(), expect_failure),
            Some("asmt") => crate::asmt::verdicts(f, engine, expect_failure),
            _ => vec![Verdict::Skip(
                "not a test file this runner reads (.data, .yaml, .udft, .asmt)".to_string(),
            )],
        };
        for verdict in verdicts {
            match verdict {
                Verdict::Pass(what) => {
                    sum.passed += 1;
                    sum.passed_cases.push((f.clone(), what));
                }
                Verdict::Fail(why) => sum.failed.push((f.clone(), why)),
                Verdict::Skip(why) => sum.skipped.push((f.clone(), why)),
            }
        }
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    Ok(sum)
}

/// One verdict per PREVAIL case of the file: pass when udfkit's verifier agrees with PREVAIL.
pub fn prevail_verdicts(f: &Path, expect_failure: bool) -> Vec<Verdict> {
    use crate::prevail::judge::{Outcome, judge};
    let cases = match crate::prevail::read_file(f) {
        Ok(c) => c,
        Err(e) => return vec![Verdict::Fail(e)],
    };
    cases
        .iter()
        .map(|c| match judge(c) {
            Outcome::Agree(what) if !expect_failure => Verdict::Pass(format!("{}: {what}", c.name)),
            Outcome::Agree(what) => Verdict::Fail(format!("{}: {what}", c.name)),
            Outcome::Disagree { udfkit, .. } if expect_failure => {
                Verdict::Pass(format!("{}: {udfkit}", c.name))
            }
            Outcome::Disagree { prevail_rejects, udfkit } => Verdict::Fail(format!(
                "{}: PREVAIL {}, udfkit {udfkit}",
                c.name,
                if prevail_rejects { "rejects" } else { "accepts" }
            )),
            Outcome::Skip(why) => Verdict::Skip(format!("{}: {why}", c.name)),
        })
        .collect()
}
