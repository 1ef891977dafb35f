//! Linux's verifier selftests translated into udfkit's dialect (`filetests/linux`, see its
//! README.md): every case's verdict and runs through every engine, and the only cases Linux
//! refuses that ours accepts are the ones shown safe in their headers.

use std::path::{Path, PathBuf};

use udf_filetests::asmt::bless_requested;
use udf_filetests::every::run_files;
use udf_filetests::testrun::collect;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("linux")
}

fn files() -> Vec<PathBuf> {
    let f = collect(&[dir()]).unwrap_or_else(|e| panic!("{}: {e}", dir().display()));
    assert!(!f.is_empty(), "{}: no test file in it", dir().display());
    f
}

#[test]
fn linux_selftests_on_every_engine() {
    let files = files();
    let c = run_files(&files, false, bless_requested());
    let fails = c.failures();
    assert!(fails.is_empty(), "{}", fails.join("\n"));
    assert_eq!(c.verifier.passed, 187, "{}", c.verifier.line());
}

/// (Linux's verdict is REJECT, ours accepts) for one `.asmt` file.
fn linux_rejects_ours_accepts(text: &str) -> bool {
    text.contains("(Linux: REJECT)") && !text.contains("; refused:")
}

#[test]
fn ours_accepts_what_linux_refuses_only_where_shown_safe() {
    let mut found: Vec<String> = files()
        .iter()
        .filter(|f| linux_rejects_ours_accepts(&std::fs::read_to_string(f).unwrap()))
        .map(|f| f.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    found.sort();
    // Each is argued safe in its header and runs without a fault on its input.
    assert_eq!(
        found,
        [
            "bounds_oversized_shift",
            "dpa_range_cleared_after_add",
            "dpa_range_cleared_after_sub",
            "dpa_test23",
        ]
    );
}

#[test]
fn the_disagreement_check_sees_a_verdict_flip() {
    // The check above reads verdicts from the files: a refused case that lost its `refused`
    // line (as a verifier that accepted it would bless it) is caught.
    let text = std::fs::read_to_string(dir().join("dpa_test6.asmt")).unwrap();
    assert!(!linux_rejects_ours_accepts(&text));
    let flipped: String =
        text.lines().map(|l| l.split("; refused:").next().unwrap()).collect::<Vec<_>>().join("\n");
    assert!(linux_rejects_ours_accepts(&flipped));
}
