//! Every target compiles every bpf_conformance program, in both modes where they apply, to
//! non-empty code with no relocation, and compiling twice gives the same bytes.

use std::path::{Path, PathBuf};

use udf_bytecode::{Program, ProgramType, assemble};
use udf_jit::{Jit, Mode, Target};
use udf_verifier::{Config, verify};

fn suite() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/bpf_conformance/tests")
}

/// The `-- asm` section of a conformance file.
fn asm_of(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if let Some(section) = line.strip_prefix("-- ") {
            inside = section.trim() == "asm";
            continue;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    (!out.trim().is_empty()).then_some(out)
}

fn programs() -> Vec<(String, Program)> {
    let mut files: Vec<_> = std::fs::read_dir(suite())
        .expect("bpf_conformance suite beside the repository")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let prog = assemble(&asm_of(&text)?).ok()?;
            Some((p.file_name()?.to_string_lossy().into_owned(), prog))
        })
        .collect()
}

#[test]
fn every_target_compiles_the_suite_deterministically() {
    let progs = programs();
    assert!(progs.len() >= 300, "only {} programs found", progs.len());
    for target in Target::ALL {
        let mut jit = Jit::new(target).unwrap();
        let mut again = Jit::new(target).unwrap();
        let (mut checked, mut trusted) = (0, 0);
        for (name, prog) in &progs {
            let Ok(a) = jit.compile(prog, ProgramType::Raw, Mode::Checked) else {
                continue;
            };
            let b = again.compile(prog, ProgramType::Raw, Mode::Checked).unwrap();
            assert!(!a.bytes().is_empty(), "{target} {name}: no code");
            assert_eq!(a, b, "{target} {name}: two compilations differ");
            checked += 1;
            // Trusted mode where the program verifies as a `size` program over 64 bytes.
            let mut conf = Config::new(ProgramType::Size);
            conf.ctx_size = Some(64);
            if let Ok(facts) = verify(prog, &conf) {
                let a = jit.compile(prog, ProgramType::Size, Mode::Trusted(&facts)).unwrap();
                let b = jit.compile(prog, ProgramType::Size, Mode::Trusted(&facts)).unwrap();
                assert!(!a.bytes().is_empty(), "{target} {name}: no trusted code");
                assert_eq!(a, b, "{target} {name}: two trusted compilations differ");
                trusted += 1;
            }
        }
        eprintln!("{target}: {checked} checked, {trusted} trusted programs");
        assert!(checked >= 300, "{target}: only {checked} programs compiled");
    }
}
