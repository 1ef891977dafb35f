//! Every test file through every engine: udfkit's own `.asmt` cases (`filetests/cases`), the
//! bpf_conformance suite, the corpus's `.udft` files and PREVAIL's suite, with the count per
//! engine printed. A missing or empty folder fails.

use std::path::{Path, PathBuf};

use udf_filetests::asmt::bless_requested;
use udf_filetests::every::{Counts, Executor, run_files};
use udf_filetests::testrun::collect;

fn here(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// The test files under `dir`, which must hold some.
fn files(dir: &Path) -> Vec<PathBuf> {
    let f = collect(&[dir.to_path_buf()]).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    assert!(!f.is_empty(), "{}: no test file in it", dir.display());
    f
}

/// Prints the counts even when the test harness captures output (`cargo test` without
/// `--nocapture`): straight to the process's stderr, in one write.
fn show(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

fn run(name: &str, dir: &Path, expect_failure: bool) -> Counts {
    let files = files(dir);
    let c = run_files(&files, expect_failure, bless_requested());
    show(&format!("{name} ({} files):\n{}", files.len(), c.table()));
    let fails = c.failures();
    assert!(fails.is_empty(), "{name}:\n{}", fails.join("\n"));
    c
}

/// (passed, skipped) per engine, in the order of `Executor::ALL`.
fn per_engine(c: &Counts) -> Vec<(usize, usize)> {
    Executor::ALL.iter().map(|&e| (c.engine(e).passed, c.engine(e).skipped.len())).collect()
}

#[test]
fn own_cases_on_every_engine() {
    let c = run("filetests/cases", &here("cases"), false);
    // Every file is a verifier verdict (101); its 66 runs run on the interpreter and the checked
    // JIT, the 64 of accepted programs also on the three engines that need the verifier.
    assert_eq!(c.verifier.passed, 101, "{}", c.verifier.line());
    assert_eq!(per_engine(&c), [(66, 0), (64, 2), (64, 2), (64, 2), (66, 0)]);
}

#[test]
fn verifier_cases_are_all_there() {
    // The (program, verdict) cases moved from verifier/tests/verify.rs (26 of its 35), the
    // wire-length regression (filter_wire_length_high_half.asmt), and the precision cases with
    // their near misses (17: narrow spills, the sign boundaries, a register compared with
    // itself, the 32-bit signed view), and the red team's cases against them (51, `red_*`:
    // 20 accepted with runs, 31 refused near misses), and a fill from a narrow spill's first
    // byte keeping the number's signed views (2, `stack_narrow_spill_low_half_signed_fill*`).
    let c = run_files(&files(&here("cases/verifier")), false, false);
    assert_eq!(c.verifier.passed, 97, "{}", c.verifier.line());
    assert!(c.verifier.failed.is_empty(), "{:#?}", c.verifier.failed);
}

#[test]
fn bpf_conformance_on_every_engine() {
    let c =
        run("bpf_conformance/tests", &here("../../shared/testdata/bpf_conformance/tests"), false);
    // The interpreter and checked native code run all 313; the 299 the verifier accepts as
    // `size` programs over their memory also run checked, trusted and hardened.
    assert_eq!(per_engine(&c), [(313, 0), (299, 14), (299, 14), (299, 14), (313, 0)]);
}

#[test]
fn bpf_conformance_negative_flagged_on_every_engine() {
    let c = run(
        "bpf_conformance/negative",
        &here("../../shared/testdata/bpf_conformance/negative"),
        true,
    );
    assert_eq!(per_engine(&c), [(60, 0); 5]);
}

#[test]
fn corpus_udft_on_every_engine() {
    let c = run("corpus .udft", &here("../corpus"), false);
    let refused = c.verifier.passed;
    for ex in Executor::ALL {
        assert_eq!(c.engine(ex).passed + refused, 35, "{ex}: {}", c.engine(ex).line());
    }
}

#[test]
fn prevail_on_the_verifier() {
    let files = files(&here("../../shared/testdata/prevail/test-data"));
    let c = run_files(&files, false, false);
    show(&format!("PREVAIL ({} files):\n{}", files.len(), c.table()));
    // As prevail_suite.rs: 585 run, 569 agree (the 16 others examined there), 217 skipped.
    assert_eq!(
        (c.verifier.passed, c.verifier.failed.len(), c.verifier.skipped.len()),
        (569, 16, 217)
    );
}

#[test]
fn bless_rewrites_a_wrong_file_and_then_it_passes() {
    let dir = std::env::temp_dir().join(format!("udf-bless-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("wrong.asmt");
    let check = |bless: bool| run_files(std::slice::from_ref(&f), false, bless);
    let text = || std::fs::read_to_string(&f).unwrap();
    let write = |t: &str| std::fs::write(&f, t).unwrap();
    // Wrong on purpose: the refusal is on the wrong line with the wrong rule, and r0 is wrong.
    write(
        "; type: size\n; ctx-size: 8\nmov %r0, 7  ; refused: stack-bounds\nexit\n; run: 8 => r0 = 1\n",
    );
    let before = check(false);
    assert_eq!(before.verifier.failed.len(), 1, "{}", before.table());
    let interp = before.engine(Executor::Interpreter);
    assert_eq!(interp.failed.len(), 1, "{}", before.table());
    let blessed = check(true);
    assert!(blessed.failures().is_empty(), "{:#?}", blessed.failures());
    assert_eq!(text(), "; type: size\n; ctx-size: 8\nmov %r0, 7\nexit\n; run: 8 => r0 = 7\n");
    // A refusal is written on its line.
    write("; type: size\n; ctx-size: 8\nmov %r0, 0\nldxw %r0, [%r1+8]\nexit\n");
    check(true);
    let blessed = text();
    assert!(blessed.contains("ldxw %r0, [%r1+8]  ; refused: ctx-bounds\n"), "{blessed}");
    let after = check(false);
    assert!(after.failures().is_empty(), "{:#?}", after.failures());
    assert_eq!(after.verifier.passed, 1);
    // The line matters: the right rule on another instruction fails.
    write(
        "; type: size\n; ctx-size: 8\nmov %r0, 0  ; refused: ctx-bounds\nldxw %r0, [%r1+8]\nexit\n",
    );
    let moved = check(false);
    assert_eq!(moved.verifier.failed.len(), 1, "{}", moved.table());
    let why = &moved.verifier.failed[0];
    assert!(why.contains("refused at line 4"), "{why}");
    std::fs::remove_dir_all(&dir).unwrap();
}
