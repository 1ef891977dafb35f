//! The bpf_conformance suite, run exactly as `udf test` runs it.

use std::path::PathBuf;

use udf_filetests::ExecEngine;
use udf_filetests::testrun::{collect, run};

fn suite(sub: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/testdata/bpf_conformance")
        .join(sub)
}

#[test]
fn every_positive_case_passes_on_the_interpreter() {
    let files = collect(&[suite("tests")]).expect("suite beside the repository");
    let sum = run(&files, ExecEngine::Interp, false).expect("runs");
    assert!(sum.failed.is_empty(), "{:#?}", sum.failed);
    assert_eq!((sum.passed, sum.skipped.len()), (313, 0), "{}", sum.line());
}

#[test]
fn every_negative_case_is_flagged() {
    let files = collect(&[suite("negative")]).expect("suite beside the repository");
    let sum = run(&files, ExecEngine::Interp, true).expect("runs");
    assert!(sum.failed.is_empty(), "{:#?}", sum.failed);
    assert!(sum.skipped.is_empty(), "{:#?}", sum.skipped);
    assert_eq!(sum.passed, files.len());
    // Each for the right reason: the deliberately wrong result is caught by comparing all 64
    // bits, and `or %r0, %r10` by the pre-run register check, not by running.
    let why = |name: &str| {
        sum.passed_cases
            .iter()
            .find(|(f, _)| f.ends_with(name))
            .map(|(_, w)| w.as_str())
            .expect("present")
    };
    assert!(why("incorrect_return_value_high_bits.data").contains("0x8877665544332211"));
    assert!(why("error.data").contains("invalid read of %r0"));
    assert!(why("invalid_register.data").contains("invalid register `%r50`"));
    assert!(why("unused-exit-imm.data").contains("reserved field imm"));
}

#[test]
fn positive_cases_are_not_flagged_in_expect_failure_mode() {
    // The flag must be able to fail: a correct program with a correct result is not flagged.
    let files = collect(&[suite("tests/add.data")]).expect("present");
    let sum = run(&files, ExecEngine::Interp, true).expect("runs");
    assert_eq!(sum.failed.len(), 1, "{}", sum.line());
}

/// Every negative case is refused before the verifier sees it (it does not assemble or decode)
/// or by the verifier itself, for every verified program type.
#[test]
fn every_negative_case_is_refused_by_the_verifier_path() {
    use udf_bytecode::ProgramType;
    use udf_filetests::datafile::{parse, program};
    let files = collect(&[suite("negative")]).expect("suite beside the repository");
    let mut reached_verifier = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let Ok(prog) = parse(&text).and_then(|c| program(&c)) else {
            continue;
        };
        for ty in [ProgramType::Filter, ProgramType::Owns, ProgramType::Acl, ProgramType::Size] {
            let mut conf = udf_verifier::Config::new(ty);
            conf.ctx_size = Some(64);
            if udf_verifier::verify(&prog, &conf).is_ok() {
                // `incorrect_return_value_high_bits` is a valid program whose expected result is
                // wrong; it is flagged by running it, not by verifying.
                assert!(
                    f.ends_with("incorrect_return_value_high_bits.data"),
                    "{} verifies as {ty}",
                    f.display()
                );
            }
        }
        reached_verifier += 1;
    }
    // The two cases that assemble: `error.data` and the wrong-result one.
    assert_eq!(reached_verifier, 2, "negative cases reaching the verifier");
}

/// The positive programs the verifier accepts as `size` programs over their memory (read-only,
/// no helpers) run in the checking mode without a violation and give the suite's result.
#[test]
fn accepted_suite_programs_pass_the_checking_mode() {
    use udf_bytecode::ProgramType;
    use udf_filetests::datafile::{parse, program};
    let files = collect(&[suite("tests")]).expect("suite beside the repository");
    let mut accepted = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let Ok(case) = parse(&text) else { continue };
        let Ok(prog) = program(&case) else { continue };
        let mut conf = udf_verifier::Config::new(ProgramType::Size);
        conf.ctx_size = Some(case.mem.len() as u32);
        conf.record_states = true;
        let Ok(facts) = udf_verifier::verify(&prog, &conf) else {
            continue;
        };
        accepted += 1;
        let run =
            udf_runtime::checking::run_checked(&prog, &facts, ProgramType::Size, &case.mem, 0)
                .unwrap_or_else(|v| panic!("{}: {v}", f.display()));
        if let Some(want) = case.result {
            assert_eq!(run.outcome.r0, want, "{}", f.display());
        }
    }
    println!("{accepted} of {} suite programs verify as `size`", files.len());
    // Most of the suite is arithmetic on constants and its memory; the rest writes memory or
    // calls helpers, which a `size` program may not.
    assert!(accepted >= 290, "only {accepted} verified (292 when written)");
}
