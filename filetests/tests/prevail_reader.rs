//! PREVAIL's YAML test data read and translated: every file parses, and the counts of what
//! assembles and what has a usable `pre` are pinned (raise them when the translation grows).

use std::collections::BTreeMap;
use std::path::PathBuf;

use udf_bytecode::disassemble;
use udf_filetests::prevail::{
    AssumeMode, Case, RegPre, assemble, assemble_with, parse_pre, read_file, unsupported_option,
    yaml_files,
};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/prevail/test-data")
}

fn all_cases() -> Vec<Case> {
    let files = yaml_files(&data_dir()).expect("PREVAIL test data beside the repository");
    assert_eq!(files.len(), 28);
    files.iter().flat_map(|f| read_file(f).unwrap_or_else(|e| panic!("{e}"))).collect()
}

fn find<'a>(cases: &'a [Case], file: &str, name: &str) -> &'a Case {
    cases
        .iter()
        .find(|c| c.name == name && c.file.ends_with(file))
        .unwrap_or_else(|| panic!("no case {file}: {name}"))
}

/// The reason's category: the text before the first `:` (reasons end with the offending text).
fn category(reason: &str) -> String {
    reason.split(':').next().unwrap_or(reason).to_string()
}

#[test]
fn every_file_parses_and_counts_hold() {
    let cases = all_cases();
    assert_eq!(cases.len(), 802);
    assert_eq!(cases.iter().filter(|c| c.expects_reject()).count(), 197);
    assert_eq!(cases.iter().filter(|c| c.expected_exception.is_some()).count(), 5);

    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let (mut asm_ok, mut pre_ok, mut both, mut sink_ok, mut usable) = (0, 0, 0, 0, 0);
    for case in &cases {
        let asm = assemble(case);
        let pre = parse_pre(case);
        let option = unsupported_option(case);
        asm_ok += usize::from(asm.is_ok());
        pre_ok += usize::from(pre.is_ok());
        both += usize::from(asm.is_ok() && pre.is_ok());
        sink_ok += usize::from(assemble_with(case, AssumeMode::SinkLoop).is_ok() && pre.is_ok());
        usable += usize::from(asm.is_ok() && pre.is_ok() && option.is_none());
        let why = [asm.err().map(|u| u.0), pre.err().map(|u| u.0), option];
        for reason in why.into_iter().flatten() {
            *reasons.entry(category(&reason)).or_default() += 1;
        }
    }
    let mut top: Vec<_> = reasons.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let report = format!(
        "cases {}: assembled {asm_ok}, pre {pre_ok}, both {both}, both with assume as a sink \
         {sink_ok}, both and no unsupported option {usable}\n{top:#?}",
        cases.len()
    );
    println!("{report}");
    // Lower bounds: raise them when the translation covers more.
    assert!(asm_ok >= 580, "{report}");
    assert!(pre_ok >= 617, "{report}");
    assert!(both >= 431, "{report}");
    assert!(sink_ok >= 606, "{report}");
    assert!(usable >= 420, "{report}");
    // The biggest gap is PREVAIL's `assume`, which no eBPF instruction expresses.
    assert_eq!(top[0], ("assume (no eBPF instruction prunes a path)".to_string(), 191));
}

#[test]
fn local_calls_resolve_to_their_labels() {
    let cases = all_cases();
    let case = find(&cases, "calllocal.yaml", "call local with multiple calls");
    assert!(case.pre.is_empty() && !case.expects_reject());
    let a = assemble_with(case, AssumeMode::Refuse).unwrap();
    assert_eq!(
        disassemble(&a.program),
        "mov %r0, 1\ncall local +3\ncall local +2\nadd %r0, 2\nexit\nadd %r0, 3\nexit\n"
    );
    assert_eq!(a.line_pcs, (0..7).collect::<Vec<_>>());
    assert_eq!((a.appended_exit, a.assume_sink), (None, None));
    // An empty `pre`: nothing is set up, not even r10.
    let pre = parse_pre(case).unwrap();
    assert!(pre.regs.iter().all(|r| *r == RegPre::Uninit));
}

#[test]
fn jumps_and_the_two_instruction_nset() {
    let cases = all_cases();
    let case = find(&cases, "jump.yaml", "JNSET with imm 0 and pointer");
    assert!(case.expects_reject());
    let a = assemble_with(case, AssumeMode::Refuse).unwrap();
    assert_eq!(disassemble(&a.program), "jset %r1, 0, +1\nja +1\nmov %r0, 1\nexit\n");
    // PREVAIL's instruction 2 (the `exit` of `<exit>`, where its message points) is slot 3.
    assert_eq!(a.line_pcs, vec![0, 2, 3]);
    assert_eq!(case.messages, vec!["2: Invalid type (r0.type == number)"]);
    let pre = parse_pre(case).unwrap();
    assert_eq!(pre.regs[1], RegPre::Ctx { offset: (0, 0) });
    assert_eq!(pre.ignored, vec!["r1.svalue=[1, 2147418112]"]);
}

#[test]
fn lddw_takes_two_slots() {
    let cases = all_cases();
    let case = find(&cases, "unsigned.yaml", "assume -1 < INT_MIN+1 implies bottom");
    assert!(assemble(case).unwrap_err().0.starts_with("assume"));
    let a = assemble_with(case, AssumeMode::SinkLoop).unwrap();
    assert_eq!(
        disassemble(&a.program),
        "mov %r1, -1\nlddw %r2, 0x8000000000000001\njge %r1, %r2, +1\nexit\nja -1\n"
    );
    assert_eq!(a.line_pcs, vec![0, 1, 3]);
    assert_eq!((a.appended_exit, a.assume_sink), (Some(4), Some(5)));
    assert_eq!(a.program.slot_count(), 6);
}

#[test]
fn fragments_get_an_exit_and_pre_reads_numbers() {
    let cases = all_cases();
    let case = find(&cases, "add.yaml", "add immediate to large singleton number");
    let a = assemble_with(case, AssumeMode::Refuse).unwrap();
    assert_eq!(disassemble(&a.program), "add %r0, 2\nexit\n");
    assert_eq!(a.appended_exit, Some(1));
    let pre = parse_pre(case).unwrap();
    let v = 2147483647;
    assert_eq!(pre.regs[0], RegPre::Number { s: Some((v, v)), u: Some((v as u64, v as u64)) });
    assert_eq!(unsupported_option(case), None);
    // A case that starts at `<init>`, not `<start>`, with r10 at the top of the whole stack.
    let case =
        find(&cases, "loop.yaml", "stack counter type preserved through widening (issue 1071)");
    assert_eq!(case.code[0].0, "<init>");
    assert!(parse_pre(case).unwrap_err().0.starts_with("pre packet_size"));
}

#[test]
fn options() {
    let cases = all_cases();
    let count = |o: &str| cases.iter().filter(|c| c.options.iter().any(|x| x == o)).count();
    assert_eq!(
        ["big_endian", "!big_endian", "termination", "!allow_division_by_zero", "simplify"]
            .map(count),
        [17, 21, 24, 40, 1]
    );
    let big = cases.iter().find(|c| c.options.iter().any(|o| o == "big_endian")).unwrap();
    assert!(unsupported_option(big).unwrap().contains("big_endian"));
    assert!(
        cases
            .iter()
            .filter(|c| unsupported_option(c).is_some())
            .all(|c| c.options.iter().any(|o| o == "big_endian"))
    );
}
