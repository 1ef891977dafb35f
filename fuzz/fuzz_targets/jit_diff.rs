//! Fuzz target: `udf_jit::fuzzing::jit_diff` (the oracle says what must hold).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    udf_jit::fuzzing::jit_diff(data);
});
