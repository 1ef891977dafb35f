//! The verifier's fuzz oracle, `udf_runtime::fuzzing::verify_then_check`, under `cargo test`:
//! every checked-in crasher of `fuzz/regressions/verify_then_check/` replayed (the folder must
//! exist and hold at least one input), then a few seconds of generated cases, some mutated
//! (`UDF_FUZZ_SECS`, default 3).

use udf_runtime::fuzzing::{
    Case, generated_campaign, generated_case, replay_regressions, verify_then_check,
};

#[test]
fn verify_then_check_replays_regressions() {
    let checked = replay_regressions("verify_then_check", "checked", verify_then_check);
    // At least one checked-in input is a program the verifier accepts and the oracle runs.
    assert!(checked > 0, "no regression input reached the checking interpreter");
}

#[test]
fn verify_then_check_on_generated_cases() {
    // One in four mutated: reaches decode errors, odd headers and near-miss programs.
    let t = generated_campaign(verify_then_check, 0x5eed_0f22, 64);
    let (inputs, accepted, runs) = (t.inputs, t.accepted, t.runs);
    println!("verify_then_check: {inputs} inputs, {accepted} accepted, {runs} checked runs");
    // Generated programs are meant to be mostly valid: an oracle that checks few is idle.
    assert!(accepted * 3 >= inputs, "{accepted} of {inputs} accepted");
}

#[test]
fn case_bytes_round_trip_and_plain_programs_are_filters() {
    for seed in 0..32 {
        let data = generated_case(seed);
        let case = Case::from_bytes(&data).expect("generated cases decode");
        assert_eq!(case.to_bytes(), data);
        // Without a header, the bytes are a filter program.
        let plain = Case::from_bytes(&case.program.encode()).unwrap();
        assert_eq!(plain.program, case.program);
        assert_eq!(plain.ty, udf_bytecode::ProgramType::Filter);
        assert_eq!(plain.ctx_size, None);
    }
}

#[test]
fn lengths_reach_below_the_admitted_range() {
    // A 64-byte `size` template: 63 and 65 are tried, not admitted; 64 is.
    let prog = udf_bytecode::assemble("ldxw %r0, [%r1+60]\nexit").unwrap();
    let case = Case {
        program: prog,
        ty: udf_bytecode::ProgramType::Size,
        ctx_size: Some(64),
        input_seed: 7,
    };
    let facts = udf_verifier::verify(&case.program, &case.config(true)).unwrap();
    let runs = case.runs(&facts);
    for len in [0, 63, 64, 65] {
        let admitted: Vec<bool> =
            runs.iter().filter(|r| r.input.len() == len).map(|r| r.admitted).collect();
        assert_eq!(admitted, vec![len == 64; 2], "length {len}");
    }
    assert_eq!(verify_then_check(&case.to_bytes()), 2);
}
