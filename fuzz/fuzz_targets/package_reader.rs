//! Fuzz target: `udf_kernel_glue::fuzzing::package_reader` (the oracle says what must hold).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    udf_kernel_glue::fuzzing::package_reader(data);
});
