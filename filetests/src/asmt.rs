//! udfkit's own bytecode cases, `.asmt`: an assembly program (the bytecode crate's assembler
//! syntax, `udf_bytecode::assemble`) with its expectations beside it, in `;` annotations.
//!
//! ```text
//! # A fixed-size object: the last word is readable, one byte further is not.
//! ; type: size                   (the program type: filter, owns, acl, size or raw)
//! ; ctx-size: 128                (the object size the verifier is told; no line: not given)
//! mov %r0, 0
//! jeq %r2, 0, +1
//! ldxw %r0, [%r1+124]
//! exit
//! ; run: 128 => r0 = 0           (the input: N zero bytes...)
//! ; run: hex 01 02 => fault      (...or these bytes; the run must fault)
//! ```
//!
//! `#` starts a comment, as in the assembler. `;` starts an annotation, to the end of the line:
//!
//! - `; type: T` and `; ctx-size: N`, before the program: how it is verified (`raw` programs are
//!   not verified; they run only where unverified code may);
//! - `; refused: RULE` on an instruction line: the verifier must refuse the program at this
//!   instruction, with this rule (the `RULE` of `udf::verify::RULE`, `Rule::code`). No such
//!   line: it must accept;
//! - `; run: INPUT => r0 = V` (or `=> fault`) after the program, any number of them: run on
//!   `INPUT` (`N` zero bytes, or `hex XX XX ...`), `r0` must be `V` (all 64 bits; decimal or
//!   `0x` hex).
//!
//! Each `run` is taken through every engine ([`crate::every::Executor`]); a refused program's runs
//! are skipped on the three that need the verifier's acceptance. With `UDF_BLESS=1`
//! ([`bless`]), the runner rewrites the `refused` and `run` expectations from what the
//! interpreter and verifier did instead of failing.

use std::path::Path;

use udf_bytecode::{ProgramType, assemble_with_lines};
use udf_verifier::{Config, Verified};

use crate::Verdict;
use crate::every::{Counts, Executor, Ran, run_on};

/// Most instructions a run of an unverified program may execute.
pub const UNVERIFIED_BUDGET: u64 = 1_000_000;

/// What a run must give.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunExpect {
    /// Return this `r0`.
    R0(u64),
    /// Fault.
    Fault,
}

/// One `; run:` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunLine {
    /// Its line, from 1.
    pub line: usize,
    /// The input as written (`N` or `hex ...`).
    pub input_text: String,
    /// The input bytes.
    pub input: Vec<u8>,
    /// What must happen.
    pub expect: RunExpect,
}

/// A parsed `.asmt` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFile {
    /// The program type.
    pub ty: ProgramType,
    /// The object size the verifier is told.
    pub ctx_size: Option<u32>,
    /// The assembly text, every annotation blanked (line numbers are the file's).
    pub asm: String,
    /// The expected refusal: its line and rule.
    pub refused: Option<(usize, String)>,
    /// The runs.
    pub runs: Vec<RunLine>,
}

fn number(t: &str) -> Result<u64, String> {
    let r = match t.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16),
        None => t.parse::<u64>().or_else(|_| t.parse::<i64>().map(|v| v as u64)),
    };
    r.map_err(|_| format!("`{t}` is not a number"))
}

fn input(text: &str) -> Result<Vec<u8>, String> {
    match text.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["hex", bytes @ ..] => bytes
            .iter()
            .map(|b| {
                u8::from_str_radix(b.strip_prefix("0x").unwrap_or(b), 16)
                    .map_err(|_| format!("`{b}` is not a hex byte"))
            })
            .collect(),
        [n] => {
            let n = number(n)?;
            if n > 1 << 20 {
                return Err(format!("{n} bytes is too large an input"));
            }
            Ok(vec![0; n as usize])
        }
        _ => Err(format!("`{text}`: expected `N` or `hex XX ...`")),
    }
}

/// Parses an `.asmt` file. Errors are located `line N: ...`.
pub fn parse(text: &str) -> Result<CaseFile, String> {
    let mut ty = None;
    let mut ctx_size = None;
    let mut asm = String::new();
    let mut refused = None;
    let mut runs = Vec::new();
    let mut seen_code = false;
    for (i, full) in text.lines().enumerate() {
        let lineno = i + 1;
        let err = |m: String| format!("line {lineno}: {m}");
        // A `;` after a `#` is part of the comment, not an annotation.
        let comment = full.find('#');
        let (code, note) = match full.split_once(';') {
            Some((c, n)) if comment.is_none_or(|h| h > c.len()) => (c, Some(n.trim())),
            _ => (full, None),
        };
        asm.push_str(code);
        asm.push('\n');
        let is_code = !code.split('#').next().unwrap_or("").trim().is_empty();
        seen_code |= is_code;
        let Some(note) = note else { continue };
        let (key, value) = note
            .split_once(':')
            .map(|(k, v)| (k.trim(), v.trim()))
            .ok_or_else(|| err(format!("`; {note}`: expected `; KEY: VALUE`")))?;
        match key {
            "type" | "ctx-size" if seen_code => {
                return Err(err(format!("`; {key}:` belongs before the program")));
            }
            "type" => {
                ty = Some(
                    value
                        .parse::<ProgramType>()
                        .map_err(|_| err(format!("unknown program type `{value}`")))?,
                );
            }
            "ctx-size" => {
                let n = number(value).map_err(&err)?;
                ctx_size =
                    Some(u32::try_from(n).map_err(|_| err(format!("{n} does not fit 32 bits")))?);
            }
            "refused" if !is_code => {
                return Err(err("`; refused:` belongs on the refused instruction".into()));
            }
            "refused" => {
                if refused.is_some() {
                    return Err(err("a second `; refused:`".into()));
                }
                refused = Some((lineno, value.to_string()));
            }
            "run" => {
                let (inp, want) = value
                    .split_once("=>")
                    .ok_or_else(|| err("expected `; run: INPUT => r0 = V`".into()))?;
                let want = want.trim();
                let expect = if want == "fault" {
                    RunExpect::Fault
                } else {
                    let v = want
                        .strip_prefix("r0")
                        .and_then(|w| w.trim().strip_prefix('='))
                        .ok_or_else(|| err(format!("`{want}`: expected `r0 = V` or `fault`")))?;
                    RunExpect::R0(number(v.trim()).map_err(&err)?)
                };
                runs.push(RunLine {
                    line: lineno,
                    input_text: inp.trim().to_string(),
                    input: input(inp.trim()).map_err(&err)?,
                    expect,
                });
            }
            _ => {
                return Err(err(format!(
                    "unknown annotation `; {key}:` (type, ctx-size, refused, run)"
                )));
            }
        }
    }
    Ok(CaseFile { ty: ty.ok_or("no `; type: T` line")?, ctx_size, asm, refused, runs })
}

/// What happened to a file's program: its verdict and each run on the interpreter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Happened {
    /// The refusal: line and rule.
    pub refused: Option<(usize, String)>,
    /// Per run line, what the interpreter did.
    pub runs: Vec<RunExpect>,
}

fn expect_of(ran: &Ran) -> RunExpect {
    match ran {
        Ran::Returned(t) => RunExpect::R0(t.outcome.r0),
        Ran::Faulted(_) => RunExpect::Fault,
    }
}

fn show(e: &RunExpect) -> String {
    match e {
        RunExpect::R0(v) => format!("r0 = {v}"),
        RunExpect::Fault => "fault".to_string(),
    }
}

/// A verdict of the verifier (`None`) or of an engine.
pub type Judged = (Option<Executor>, Verdict);

/// Verifies (unless `raw`) and runs every case of `file` on every engine; returns what happened
/// (for [`bless`]) and every verdict. `Err` when the program does not assemble.
pub fn run(file: &CaseFile) -> Result<(Happened, Vec<Judged>), String> {
    let mut judged = Vec::new();
    let (prog, lines) = assemble_with_lines(&file.asm)
        .map_err(|e| format!("assembler: line {}: {}", e.line, e.kind))?;
    let verdict: Option<Result<Verified, (usize, String)>> =
        (file.ty != ProgramType::Raw).then(|| {
            let mut conf = Config::new(file.ty);
            conf.ctx_size = file.ctx_size;
            conf.record_states = true;
            udf_verifier::verify(&prog, &conf).map_err(|e| {
                let line = lines.get(e.index).copied().unwrap_or(0);
                (line, format!("{}: {}", e.rule.code(), e.to_string().lines().next().unwrap_or("")))
            })
        });
    let refused = match &verdict {
        Some(Err((line, msg))) => Some((*line, msg.split(':').next().unwrap_or("").to_string())),
        _ => None,
    };
    let verifier_verdict = match (&verdict, &file.refused) {
        (None, None) => Verdict::Pass("raw: not verified".into()),
        (None, Some(_)) => Verdict::Fail("a `raw` program is not verified: no `refused`".into()),
        (Some(Ok(_)), None) => Verdict::Pass("accepted".into()),
        (Some(Ok(_)), Some((l, r))) => {
            Verdict::Fail(format!("accepted, expected a `{r}` refusal at line {l}"))
        }
        (Some(Err((line, msg))), None) => Verdict::Fail(format!("refused at line {line}: {msg}")),
        (Some(Err((line, msg))), Some((l, r))) => {
            if refused.as_ref() == Some(&(*l, r.clone())) {
                Verdict::Pass(msg.clone())
            } else {
                Verdict::Fail(format!("refused at line {line} ({msg}), expected `{r}` at line {l}"))
            }
        }
    };
    judged.push((None, verifier_verdict));
    let verified = match &verdict {
        Some(Ok(v)) => Some(v),
        _ => None,
    };
    let budget = verified.map_or(UNVERIFIED_BUDGET, |v| v.max_insns);
    let mut happened = Happened { refused, runs: Vec::new() };
    for r in &file.runs {
        let at = format!("run at line {} ({})", r.line, r.input_text);
        let admitted = verified.is_none_or(|v| v.admits(r.input.len()));
        if !admitted {
            // Nothing runs: blessing keeps what the file says.
            happened.runs.push(r.expect.clone());
        }
        for ex in Executor::ALL {
            let v = if !admitted {
                Verdict::Fail(format!(
                    "{at}: {} byte(s) is not a context the program was verified for",
                    r.input.len()
                ))
            } else {
                match run_on(ex, &prog, file.ty, verified, &r.input, None, budget) {
                    Err(skip) => Verdict::Skip(format!("{at}: {skip}")),
                    Ok(ran) => {
                        let got = expect_of(&ran);
                        if ex == Executor::Interpreter {
                            happened.runs.push(got.clone());
                        }
                        let detail = match &ran {
                            Ran::Faulted(m) => format!(" ({m})"),
                            Ran::Returned(_) => String::new(),
                        };
                        if got == r.expect {
                            Verdict::Pass(format!("{at}: {}", show(&got)))
                        } else {
                            Verdict::Fail(format!(
                                "{at}: {}{detail}, expected {}",
                                show(&got),
                                show(&r.expect)
                            ))
                        }
                    }
                }
            };
            judged.push((Some(ex), v));
        }
    }
    Ok((happened, judged))
}

/// The text of `text` with its expectations replaced by `happened`: the `; refused:`
/// annotation moved to the refused line (or removed), each `; run:` result rewritten.
pub fn bless(text: &str, happened: &Happened) -> String {
    let mut out = String::new();
    let mut run_i = 0;
    for (i, full) in text.lines().enumerate() {
        let lineno = i + 1;
        // A `;` after a `#` is part of the comment, not an annotation.
        let comment = full.find('#');
        let (code, note) = match full.split_once(';') {
            Some((c, n)) if comment.is_none_or(|h| h > c.len()) => (c, Some(n.trim())),
            _ => (full, None),
        };
        let mut line = match note {
            Some(n) if n.starts_with("refused") => code.trim_end().to_string(),
            Some(n) if n.starts_with("run") => {
                let inp = n
                    .split_once(':')
                    .map_or("", |(_, v)| v)
                    .split("=>")
                    .next()
                    .unwrap_or("")
                    .trim();
                let got = happened.runs.get(run_i).cloned();
                run_i += 1;
                match got {
                    Some(g) => format!("{code}; run: {inp} => {}", show(&g)),
                    None => full.to_string(),
                }
            }
            _ => full.to_string(),
        };
        if let Some((l, rule)) = &happened.refused
            && *l == lineno
        {
            line = format!("{}  ; refused: {rule}", line.trim_end());
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Runs the `.asmt` file at `path` on every engine; with `bless_it`, first rewrites the file
/// from what happened (when that differs) and runs it again. A file that does not read, parse or
/// assemble is one verifier failure.
pub fn judge_file(path: &Path, bless_it: bool) -> Vec<Judged> {
    let fail = |e: String| vec![(None, Verdict::Fail(e))];
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read: {e}")),
    };
    let (happened, judged) = match parse(&text).and_then(|f| run(&f)) {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    if !bless_it {
        return judged;
    }
    let blessed = bless(&text, &happened);
    if blessed == text {
        return judged;
    }
    if let Err(e) = std::fs::write(path, &blessed) {
        return fail(format!("cannot bless: {e}"));
    }
    match parse(&blessed).and_then(|f| run(&f)) {
        Ok((_, judged)) => judged,
        Err(e) => fail(e),
    }
}

/// [`judge_file`] counted into `counts`.
pub fn run_file(path: &Path, bless_it: bool, counts: &mut Counts) {
    for (ex, v) in judge_file(path, bless_it) {
        match ex {
            None => counts.verifier.record(path, v),
            Some(ex) => counts.engine_mut(ex).record(path, v),
        }
    }
}

/// Whether `UDF_BLESS=1` asks for blessing.
pub fn bless_requested() -> bool {
    std::env::var("UDF_BLESS").is_ok_and(|v| v == "1")
}

/// What `udf test` reports for the `.asmt` file at `path`: the verifier's verdict, then each run
/// on `engine` (the JIT: trusted code for an accepted program, checked code otherwise); with
/// `expect_failure` a verdict passes when it fails.
pub fn verdicts(path: &Path, engine: crate::ExecEngine, expect_failure: bool) -> Vec<Verdict> {
    let judged = judge_file(path, false);
    let trusted_ran = judged
        .iter()
        .any(|(ex, v)| *ex == Some(Executor::JitTrusted) && !matches!(v, Verdict::Skip(_)));
    let ex = match engine {
        crate::ExecEngine::Interp => Executor::Interpreter,
        crate::ExecEngine::Jit if trusted_ran => Executor::JitTrusted,
        crate::ExecEngine::Jit => Executor::JitChecked,
    };
    judged
        .into_iter()
        .filter(|(e, _)| e.is_none() || *e == Some(ex))
        .map(|(_, v)| flip(v, expect_failure))
        .collect()
}

fn flip(v: Verdict, expect_failure: bool) -> Verdict {
    match (v, expect_failure) {
        (v, false) | (v @ Verdict::Skip(_), true) => v,
        (Verdict::Pass(m), true) => Verdict::Fail(format!("not flagged: {m}")),
        (Verdict::Fail(m), true) => Verdict::Pass(format!("flagged: {m}")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    /// A `;` inside a `#` comment is comment text: no annotation is read from it, and the
    /// annotations of the lines around it still are.
    #[test]
    fn semicolon_in_a_comment() {
        let f = parse(
            "# a comment; with `; run: 1 => r0 = 9` inside\n; type: filter\nmov %r0, 1 # r0; one\nexit\n; run: 1 => r0 = 1\n",
        )
        .expect("parses");
        assert_eq!(f.runs.len(), 1);
        assert_eq!(f.runs[0].line, 5);
        let e = parse("; type: filter\nmov %r0, 1 ; nonsense\nexit\n").expect_err("an annotation");
        assert!(e.starts_with("line 2:"), "{e}");
    }
}
