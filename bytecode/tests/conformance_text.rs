//! For every bpf_conformance program: assemble, disassemble, assemble again: the same bytes.
//! Reads the suite from `../shared/testdata` beside the repository.

use std::path::PathBuf;

use udf_bytecode::{assemble, disassemble};

fn suite() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/bpf_conformance/tests")
}

/// The `-- asm` section of a `.data` file, if any.
fn asm_section(text: &str) -> Option<String> {
    let mut out = None::<String>;
    let mut inside = false;
    for line in text.lines() {
        if let Some(name) = line.trim().strip_prefix("--") {
            inside = name.trim() == "asm";
            if inside {
                out.get_or_insert_with(String::new);
            }
            continue;
        }
        if inside {
            let o = out.as_mut().expect("set when the section opened");
            o.push_str(line);
            o.push('\n');
        }
    }
    out
}

#[test]
fn every_conformance_program_survives_asm_disasm_asm() {
    let mut files: Vec<_> = std::fs::read_dir(suite())
        .expect("../shared/testdata/bpf_conformance/tests must be beside the repository")
        .map(|e| e.expect("readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    files.sort();
    let mut checked = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).expect("readable");
        let Some(src) = asm_section(&text) else {
            continue;
        };
        let first = assemble(&src).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let listing = disassemble(&first);
        let second = assemble(&listing)
            .unwrap_or_else(|e| panic!("{}: disassembly: {e}\n{listing}", f.display()));
        assert_eq!(first.encode(), second.encode(), "{}:\n{listing}", f.display());
        checked += 1;
    }
    // 313 files; all but the raw-only ones carry an asm section.
    assert!(checked >= 300, "only {checked} programs checked");
}
