//! The libpcap oracle (`tools/pcap_oracle.c`) and our engines side by side, for the tests that
//! compare pcap-filter verdicts with libpcap's.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use udf_bytecode::ProgramType;
use udf_cli::exec::{Runnable, run_code};
use udf_runtime::Vm;

use super::text;

/// The libpcap oracle: `UDF_PCAP_ORACLE`, or built from `tools/pcap_oracle.c` for this test
/// binary. Never skipped: without it the test fails, saying how to get one.
pub fn oracle() -> &'static Path {
    static ORACLE: OnceLock<PathBuf> = OnceLock::new();
    ORACLE.get_or_init(|| {
        let how = "set UDF_PCAP_ORACLE to a built oracle (scripts/test.sh builds target/pcap_oracle), \
                   or install a C compiler and libpcap-dev so the test builds tools/pcap_oracle.c";
        if let Some(p) = std::env::var_os("UDF_PCAP_ORACLE") {
            let p = PathBuf::from(p);
            assert!(p.is_file(), "UDF_PCAP_ORACLE={} does not exist: {how}", p.display());
            return p;
        }
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/pcap_oracle.c");
        // One per test binary: binaries run at once must not write the same file.
        let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("pcap_oracle_{}", env!("CARGO_CRATE_NAME")));
        let built =
            Command::new("cc").args(["-O2", "-o"]).arg(&out).arg(&src).arg("-lpcap").output();
        match built {
            Ok(o) if o.status.success() => out,
            Ok(o) => panic!(
                "cannot build the libpcap oracle: {}\n{how}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => panic!("cannot build the libpcap oracle (cc: {e}): {how}"),
        }
    })
}

/// libpcap's return value for each packet of `capture` (`Err`: libpcap's compile error).
pub fn oracle_filter(oracle: &Path, expr: &str, capture: &Path) -> Result<Vec<u64>, String> {
    oracle_run(oracle, "filter", expr, capture)
}

/// The same with libpcap's optimiser off: the expression's literal meaning, which the
/// optimiser can change on truncated packets (it drops or reorders loads).
pub fn oracle_filter_unoptimized(
    oracle: &Path,
    expr: &str,
    capture: &Path,
) -> Result<Vec<u64>, String> {
    oracle_run(oracle, "filter-unoptimized", expr, capture)
}

/// The oracle's `mode` (`filter`, `filter-unoptimized`) on `capture`: one number a packet.
pub fn oracle_run(
    oracle: &Path,
    mode: &str,
    expr: &str,
    capture: &Path,
) -> Result<Vec<u64>, String> {
    let o = Command::new(oracle).args([mode, expr]).arg(capture).output().expect("the oracle runs");
    if !o.status.success() {
        return Err(text(&o).1);
    }
    Ok(text(&o).0.lines().map(|l| l.parse().expect("a number")).collect())
}

/// Our return value per packet for a filter program on both engines (interpreter, trusted
/// JIT code); the program must verify, and a verified filter must not fault.
pub fn run_ours(prog: &udf_bytecode::Program, packets: &[(Vec<u8>, u32)]) -> [Vec<u64>; 2] {
    let ty = ProgramType::Filter;
    let conf = udf_cli::verify::config(ty, None, udf_verifier::DEFAULT_BUDGET);
    let facts = udf_verifier::verify(prog, &conf).expect("the compiled filter verifies");
    let compiled = udf_runtime::prepare(prog, &udf_bytecode::CheckConfig::for_type(ty))
        .expect("the checks pass");
    let exe =
        udf_cli::exec::jit(prog, ty, udf_jit::Mode::Trusted(&facts)).expect("the JIT compiles");
    let mut vm = Vm::new();
    [Runnable::Interp(&compiled), Runnable::Native(exe.native())].map(|code| {
        packets
            .iter()
            .map(|(data, wire)| {
                run_code(&mut vm, code, ty, data, Some(u64::from(*wire)), facts.max_insns)
                    .expect("a verified filter does not fault")
                    .outcome
                    .r0
            })
            .collect()
    })
}

/// The first packet where `got` and `want` differ, as a message.
pub fn first_difference(got: &[u64], want: &[u64]) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{} results, expected {}", got.len(), want.len()));
    }
    let i = got.iter().zip(want).position(|(g, w)| g != w)?;
    Some(format!("packet {}: ours {}, expected {}", i + 1, got[i], want[i]))
}
