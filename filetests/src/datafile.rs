//! bpf_conformance `.data` test files: parsing, and running one case on an engine.
//!
//! Sections start with a line `-- NAME`; `#` starts a comment. `asm` (text), `raw` (64-bit
//! words `0x...` or hex bytes), `mem` (hex bytes given to the program as a read-write context),
//! `result` (expected `r0`, full 64 bits), `error` (the program must be refused, with that text
//! in the message). `c` and `no register offset` carry nothing to run; any other section means
//! the case needs something this runner does not provide, and it is skipped.

use udf_bytecode::{CheckConfig, Program, ProgramType, assemble};
use udf_runtime::{Context, HelperError, HelperReturn, Helpers, RunOptions, Vm};

use crate::{ExecEngine, Verdict};

/// A parsed test case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Case {
    /// The `asm` section, with every other line of the file blanked so that line numbers in
    /// assembler errors are the file's.
    pub asm: Option<String>,
    /// Slots from the `raw` section.
    pub raw: Option<Vec<u8>>,
    /// Bytes of the `mem` section.
    pub mem: Vec<u8>,
    /// Expected `r0`.
    pub result: Option<u64>,
    /// Expected refusal text (possibly empty).
    pub error: Option<String>,
    /// Sections this runner does not know.
    pub unknown: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sec {
    None,
    Asm,
    Raw,
    Mem,
    Result,
    Error,
    Ignored,
}

fn hex_byte(t: &str) -> Result<u8, String> {
    let h = t.strip_prefix("0x").unwrap_or(t);
    if h.is_empty() || h.len() > 2 {
        return Err(format!("`{t}` is not a hex byte"));
    }
    u8::from_str_radix(h, 16).map_err(|_| format!("`{t}` is not a hex byte"))
}

fn parse_u64(t: &str) -> Result<u64, String> {
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse::<u64>().or_else(|_| t.parse::<i64>().map(|v| v as u64)),
    };
    r.map_err(|_| format!("`{t}` is not a 64-bit number"))
}

/// Parses a `.data` file. Errors are located `line N: ...`.
pub fn parse(text: &str) -> Result<Case, String> {
    let mut case = Case::default();
    let mut sec = Sec::None;
    let mut asm = String::new();
    let mut has_asm = false;
    let mut raw: Option<Vec<u8>> = None;
    let mut result_text: Option<(usize, String)> = None;
    for (i, full) in text.lines().enumerate() {
        let lineno = i + 1;
        let trimmed = full.trim();
        if let Some(name) = trimmed.strip_prefix("--") {
            let name = name.trim();
            sec = match name {
                "asm" => {
                    has_asm = true;
                    Sec::Asm
                }
                "raw" => {
                    raw.get_or_insert_with(Vec::new);
                    Sec::Raw
                }
                "mem" => Sec::Mem,
                "result" => Sec::Result,
                "error" => {
                    case.error.get_or_insert_with(String::new);
                    Sec::Error
                }
                "c" | "no register offset" => Sec::Ignored,
                other => {
                    case.unknown.push(other.to_string());
                    Sec::Ignored
                }
            };
            asm.push('\n');
            continue;
        }
        if sec == Sec::Asm {
            asm.push_str(full);
            asm.push('\n');
            continue;
        }
        asm.push('\n');
        let content = full.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let at = |e: String| format!("line {lineno}: {e}");
        match sec {
            Sec::Raw => {
                let out = raw.get_or_insert_with(Vec::new);
                for t in content.split_whitespace() {
                    if t.len() > 4 && t.starts_with("0x") {
                        out.extend_from_slice(&parse_u64(t).map_err(at)?.to_le_bytes());
                    } else {
                        out.push(hex_byte(t).map_err(at)?);
                    }
                }
            }
            Sec::Mem => {
                for t in content.split_whitespace() {
                    case.mem.push(hex_byte(t).map_err(at)?);
                }
            }
            Sec::Result => result_text = Some((lineno, content.to_string())),
            Sec::Error => {
                let e = case.error.get_or_insert_with(String::new);
                if !e.is_empty() {
                    e.push(' ');
                }
                e.push_str(content);
            }
            Sec::None => return Err(at(format!("text outside any section: `{content}`"))),
            Sec::Asm | Sec::Ignored => {}
        }
    }
    if let Some((lineno, t)) = result_text {
        case.result = Some(parse_u64(&t).map_err(|e| format!("line {lineno}: {e}"))?);
    }
    case.asm = has_asm.then_some(asm);
    case.raw = raw;
    Ok(case)
}

/// The helpers of the bpf_conformance suite: helper 5 is uBPF's "unwind": it returns its
/// argument, and when that is 0 the program stops with `r0 = 0`.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConformanceHelpers;

impl Helpers for ConformanceHelpers {
    fn call(&mut self, id: u64, args: [u64; 5]) -> Result<HelperReturn, HelperError> {
        match id {
            5 if args[0] == 0 => Ok(HelperReturn::Stop(0)),
            5 => Ok(HelperReturn::Value(args[0])),
            _ => Err(HelperError::Unknown),
        }
    }
}

/// What happened to a case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    /// Refused before running (test file, assembler, decoder or pre-run checks).
    Refused(String),
    /// Stopped by a fault.
    Faulted(String),
    /// Ran to `exit`.
    Returned(u64),
}

/// Builds the program of a case: assembles `asm`, else decodes `raw`.
pub fn program(case: &Case) -> Result<Program, String> {
    match (&case.asm, &case.raw) {
        (Some(text), _) => assemble(text).map_err(|e| format!("assembler: line {e}")),
        (None, Some(bytes)) => Program::decode(bytes).map_err(|e| format!("decoder: {e}")),
        (None, None) => Err("no program: the file has no asm or raw section".to_string()),
    }
}

/// Builds, checks and runs a case. `Err` is a skip reason.
pub fn observe(case: &Case, engine: ExecEngine) -> Result<Observed, String> {
    let prog = match program(case) {
        Ok(p) => p,
        Err(e) => return Ok(Observed::Refused(e)),
    };
    if let Some(name) = case.unknown.first() {
        return Err(format!("needs section `-- {name}`, which this runner does not provide"));
    }
    if case.result.is_none() && case.error.is_none() {
        return Ok(Observed::Refused(
            "test file has neither a result nor an error section".to_string(),
        ));
    }
    let compiled = match udf_runtime::prepare(&prog, &CheckConfig::for_type(ProgramType::Raw)) {
        Ok(c) => c,
        Err(e) => return Ok(Observed::Refused(format!("check: {e}"))),
    };
    let mut mem = case.mem.clone();
    match engine {
        ExecEngine::Interp => {
            let mut vm = Vm::new();
            let opts = RunOptions::default();
            match vm.run(&compiled, Context::ReadWrite(&mut mem), &mut ConformanceHelpers, &opts) {
                Ok(out) => Ok(Observed::Returned(out.r0)),
                Err(f) => Ok(Observed::Faulted(format!("fault: {f}"))),
            }
        }
        ExecEngine::Jit => {
            let exe = match crate::typed::jit_checked(&prog, ProgramType::Raw) {
                Ok(exe) => exe,
                Err(e) => return Ok(Observed::Refused(format!("jit: {e}"))),
            };
            let run = exe.run(
                &mut Vm::new(),
                Context::ReadWrite(&mut mem),
                &mut ConformanceHelpers,
                &RunOptions::default(),
            );
            match run {
                Ok(out) => Ok(Observed::Returned(out.r0)),
                Err(f) => Ok(Observed::Faulted(format!("fault: {f}"))),
            }
        }
    }
}

/// Judges a case: normally it passes when it meets its `result` or `error` expectation;
/// with `expect_failure` it passes when it is flagged: refused, faulted, or its result differs.
pub fn judge(text: &str, engine: ExecEngine, expect_failure: bool) -> Verdict {
    let (case, observed) = match parse(text) {
        Err(e) => (Case::default(), Observed::Refused(format!("test file: {e}"))),
        Ok(case) => match observe(&case, engine) {
            Ok(o) => (case, o),
            Err(skip) => return Verdict::Skip(skip),
        },
    };
    if expect_failure {
        return match observed {
            Observed::Refused(m) | Observed::Faulted(m) => Verdict::Pass(format!("flagged: {m}")),
            Observed::Returned(v) => match case.result {
                Some(want) if want != v => {
                    Verdict::Pass(format!("flagged: r0 = {v:#x}, the file says {want:#x}"))
                }
                _ => Verdict::Fail(format!("not flagged: ran and returned r0 = {v:#x}")),
            },
        };
    }
    match (&case.error, observed) {
        (Some(want), Observed::Refused(m) | Observed::Faulted(m)) => {
            if m.contains(want.as_str()) {
                Verdict::Pass(m)
            } else {
                Verdict::Fail(format!("refused as expected, but the message lacks `{want}`: {m}"))
            }
        }
        (Some(_), Observed::Returned(v)) => {
            Verdict::Fail(format!("expected a refusal, but it returned r0 = {v:#x}"))
        }
        (None, Observed::Refused(m) | Observed::Faulted(m)) => Verdict::Fail(m),
        (None, Observed::Returned(v)) => match case.result {
            Some(want) if want == v => Verdict::Pass(format!("r0 = {v:#x}")),
            Some(want) => Verdict::Fail(format!("r0 = {v:#x}, expected {want:#x}")),
            None => Verdict::Fail(format!("r0 = {v:#x}, but the file states no result")),
        },
    }
}
