//! Fuzz target: `udf_runtime::fuzzing::verify_then_check` (the oracle says what must hold).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    udf_runtime::fuzzing::verify_then_check(data);
});
