//! Fuzz target: `udf_compiler::fuzzing::elf_reader` (the oracle says what must hold).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    udf_compiler::fuzzing::elf_reader(data);
});
