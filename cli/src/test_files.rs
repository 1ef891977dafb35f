//! `udf test`: data-driven test files, folders recursively; each failure, then the counts.

use std::path::PathBuf;

use miette::miette;
use serde_json::json;

use crate::EXIT_REFUSED;
use crate::input::Failure;
use crate::output::emit;
use udf_filetests::ExecEngine as Engine;
use udf_filetests::testrun;

/// `udf test`: runs the test files under `paths` on `engine`; `Ok(false)` when a case failed.
pub fn command(
    json: bool,
    paths: &[PathBuf],
    engine: Engine,
    expect_failure: bool,
    verbose: bool,
) -> Result<bool, Failure> {
    let io = |e: std::io::Error| Failure::usage(miette!(code = "udf::io", "{e}"));
    let files = testrun::collect(paths).map_err(io)?;
    if files.is_empty() {
        let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        return Err(Failure::usage(miette!(
            code = "udf::test::empty",
            help = "test files are bpf_conformance `.data`, PREVAIL `.yaml` and `.udft` files",
            "{}: no test file in it",
            names.join(", ")
        )));
    }
    let sum = testrun::run(&files, engine, expect_failure).map_err(io)?;
    if json {
        let fails: Vec<_> = sum
            .failed
            .iter()
            .map(|(f, w)| json!({"file": f.display().to_string(), "why": w}))
            .collect();
        let skips: Vec<_> = sum
            .skipped
            .iter()
            .map(|(f, w)| json!({"file": f.display().to_string(), "why": w}))
            .collect();
        emit(
            json!({"passed": sum.passed, "failed": sum.failed.len(), "skipped": sum.skipped.len(), "failures": fails, "skips": skips}),
        );
    } else {
        if verbose {
            for (f, why) in &sum.passed_cases {
                println!("pass {}: {why}", f.display());
            }
            for (f, why) in &sum.skipped {
                println!("skip {}: {why}", f.display());
            }
        }
        for (f, why) in &sum.failed {
            println!("FAIL {}: {why}", f.display());
        }
        println!("{}", sum.line());
    }
    if sum.failed.is_empty() || !json {
        return Ok(sum.failed.is_empty());
    }
    // With --json, refused: each failure is an error (the text lists them above).
    let reports = sum
        .failed
        .iter()
        .map(|(f, why)| {
            miette::Report::new(
                miette::MietteDiagnostic::new(format!("{}: {why}", f.display()))
                    .with_code("udf::test::failed"),
            )
        })
        .collect();
    Err(Failure { status: EXIT_REFUSED, reports })
}
