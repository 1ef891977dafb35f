//! The ELF reader's fuzzing oracle (feature `fuzzing`; the `elf_reader` target in fuzz/ and
//! `tests/elf.rs` call it).

use udf_bytecode::ProgramType;

use crate::elf;

/// Any bytes: [`elf::load`] gives a program or an error and never panics; a program has one
/// line entry and one origin per instruction, its functions start on instructions in order, and
/// [`elf::check_helpers`] and the error's rendering never panic either.
pub fn elf_reader(data: &[u8]) {
    match elf::load(data, None) {
        Ok(c) => check(&c),
        Err(e) => {
            let _ = e.to_string();
            // The entry could not be chosen: each function by name (a few).
            if let elf::ElfErrorKind::Entry(_) = &*e.kind
                && let Ok(fs) = elf::functions(data)
            {
                for (name, _) in fs.iter().take(8) {
                    match elf::load(data, Some(name)) {
                        Ok(c) => check(&c),
                        Err(e) => drop(e.to_string()),
                    }
                }
            }
        }
    }
}

fn check(c: &elf::CProgram) {
    assert_eq!(c.lines.len(), c.prog.len(), "one line entry per instruction");
    assert!(!c.functions.is_empty() && c.functions[0].index == 0);
    assert!(c.functions.windows(2).all(|w| w[0].index < w[1].index), "functions in program order");
    for i in 0..c.prog.len() {
        assert!(c.origin(i).is_some(), "instruction {i} has an origin");
    }
    assert!(c.origin(c.prog.len()).is_none());
    for ty in ProgramType::ALL {
        if let Err(e) = elf::check_helpers(c, ty) {
            let _ = e.to_string();
        }
    }
}
