//! The corpus's own test files, `.udft`: expectations for the entry points of a `.udf` program,
//! written by hand beside it, run by `udf test` on the engine it selects and by `cargo test` on
//! every engine.
//!
//! ```text
//! # ext2 inodes               (`#` starts a comment, to the end of the line; blank lines are ignored)
//! source ext2.udf             # the program, relative to this file; once, before the first case
//!
//! -- case: regular file       # starts a case; the name (after `case:`) is for messages
//! entry ext2_inode            # the entry point; may be left out when the source has only one
//! input 128                   # the context: 128 zero bytes...
//! put 0 u16le 0x81a4          # ...patched: u8, u16le, u32le, u64le, u16be, u32be, u64be
//! put 40 hex e8 03 00 00      # ...or bytes (tokens of hex digit pairs, `0x` allowed)
//! result 0                    # the expected r0 (all 64 bits)
//! extent 1000 1 0             # the expected extents START COUNT KIND, all of them, in order;
//!                             # no `extent` line: the run must emit none
//!
//! -- case: a packet
//! entry web
//! input file ../inputs/http_syn.bin   # a file's bytes (relative to this file)
//! wirelen 1514                # a filter's length on the wire (r3); default: the input's length
//! result 262144
//!
//! -- case: too short for the layout
//! entry ext2_inode
//! input hex 00 00 00 00       # these bytes
//! refused ctx-bounds          # instead of result/extents: the verifier refuses the entry for an
//!                             # object of this size, with this rule (`udf::verify::<rule>`)
//! ```
//!
//! Numbers are decimal, `0x` hex or `0b` binary, with `_` allowed between digits; a `put` value
//! must fit its type and its bytes must lie inside the input. A case needs `input` (before its
//! `put`s) and either `result` or `refused`.
//!
//! Running a case is what `udf run` does: the source is compiled once per file (a compile error
//! fails every case with the diagnostics), the entry point is verified for an object of the
//! input's size (the trusted-mode gate), then run on the interpreter or as trusted JIT code with
//! the verifier's instruction bound as its budget (`udf test --engine`); `cargo test` also runs
//! it on the checking interpreter and as hardened and checked native code ([`crate::every`]).
//! `r0` and the whole extent list must be as expected.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use udf_bytecode::ProgramType;
use udf_compiler::{Entry, Module};
use udf_runtime::{Compiled, Extent, Vm};

use crate::Verdict;
use crate::every::{Executor, Ran, run_on};
use crate::typed::{Runnable, TypedRun, run_code};

/// A parsed `.udft` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestFile {
    /// The program (resolved against the test file's folder).
    pub source: PathBuf,
    /// The cases, in order.
    pub cases: Vec<Case>,
}

/// One case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// Its name (may be empty).
    pub name: String,
    /// The line of its `--` header.
    pub line: usize,
    /// The entry point, when named.
    pub entry: Option<String>,
    /// The context bytes.
    pub input: Vec<u8>,
    /// A filter's length on the wire, when given.
    pub wire_len: Option<u64>,
    /// What must happen.
    pub expect: Expect,
}

/// What a case expects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The run returns `r0` and emits exactly these extents, in order.
    Run {
        /// `r0`.
        r0: u64,
        /// The extents.
        extents: Vec<Extent>,
    },
    /// The verifier refuses the entry point for this input's size, with this rule code.
    Refused(String),
}

fn number(t: &str) -> Result<u64, String> {
    let digits = t.replace('_', "");
    let (body, radix) =
        if let Some(h) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
            (h, 16)
        } else if let Some(b) = digits.strip_prefix("0b") {
            (b, 2)
        } else {
            (digits.as_str(), 10)
        };
    u64::from_str_radix(body, radix).map_err(|_| format!("`{t}` is not a number"))
}

fn hex_bytes(tokens: &[&str]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for t in tokens {
        let h = t.strip_prefix("0x").unwrap_or(t);
        if h.is_empty() || h.len() % 2 != 0 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("`{t}` is not hex bytes (pairs of hex digits)"));
        }
        for i in (0..h.len()).step_by(2) {
            out.push(u8::from_str_radix(&h[i..i + 2], 16).expect("checked hex"));
        }
    }
    Ok(out)
}

/// The bytes of `value` as a `put` type says.
fn encode(ty: &str, value: u64) -> Result<Vec<u8>, String> {
    let (width, le) = match ty {
        "u8" => (1, true),
        "u16le" => (2, true),
        "u32le" => (4, true),
        "u64le" => (8, true),
        "u16be" => (2, false),
        "u32be" => (4, false),
        "u64be" => (8, false),
        _ => {
            return Err(format!(
                "`{ty}`: expected u8, u16le, u32le, u64le, u16be, u32be, u64be or hex"
            ));
        }
    };
    if width < 8 && value >> (8 * width) != 0 {
        return Err(format!("{value:#x} does not fit {ty}"));
    }
    let bytes = if le {
        value.to_le_bytes()[..width].to_vec()
    } else {
        value.to_be_bytes()[8 - width..].to_vec()
    };
    Ok(bytes)
}

/// A case being read.
struct Draft {
    name: String,
    line: usize,
    entry: Option<String>,
    input: Option<Vec<u8>>,
    wire_len: Option<u64>,
    r0: Option<u64>,
    extents: Vec<Extent>,
    refused: Option<String>,
}

impl Draft {
    fn finish(self) -> Result<Case, String> {
        let at = format!("case at line {}", self.line);
        let input = self.input.ok_or(format!("{at}: no `input`"))?;
        let expect = match (self.r0, self.refused) {
            (Some(r0), None) => Expect::Run { r0, extents: self.extents },
            (None, Some(rule)) if self.extents.is_empty() => Expect::Refused(rule),
            (None, Some(_)) => return Err(format!("{at}: `refused` with `extent` lines")),
            (Some(_), Some(_)) => return Err(format!("{at}: both `result` and `refused`")),
            (None, None) => return Err(format!("{at}: no `result` (or `refused`)")),
        };
        Ok(Case {
            name: self.name,
            line: self.line,
            entry: self.entry,
            input,
            wire_len: self.wire_len,
            expect,
        })
    }
}

/// Parses a `.udft` file; `dir` is its folder (paths in it are relative to it). Errors are
/// located `line N: ...`.
pub fn parse(text: &str, dir: &Path) -> Result<TestFile, String> {
    let mut source = None;
    let mut cases = Vec::new();
    let mut draft: Option<Draft> = None;
    for (i, full) in text.lines().enumerate() {
        let lineno = i + 1;
        let err = |m: String| format!("line {lineno}: {m}");
        let line = full.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(head) = line.strip_prefix("--") {
            if let Some(d) = draft.take() {
                cases.push(d.finish()?);
            }
            let head = head.trim();
            let name = head
                .strip_prefix("case")
                .map(|n| n.trim_start_matches(':').trim())
                .ok_or_else(|| err(format!("`-- {head}`: expected `-- case: NAME`")))?;
            draft = Some(Draft {
                name: name.to_string(),
                line: lineno,
                entry: None,
                input: None,
                wire_len: None,
                r0: None,
                extents: Vec::new(),
                refused: None,
            });
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (word, args) = (words[0], &words[1..]);
        if word == "source" {
            if source.is_some() || draft.is_some() || !cases.is_empty() {
                return Err(err("`source` once, before the first case".into()));
            }
            let [p] = args else {
                return Err(err("expected `source PATH`".into()));
            };
            source = Some(dir.join(p));
            continue;
        }
        let Some(d) = draft.as_mut() else {
            return Err(err(format!("`{word}` outside a case: start one with `-- case: NAME`")));
        };
        let one = |what: &str| -> Result<u64, String> {
            match args {
                [v] => number(v).map_err(&err),
                _ => Err(err(format!("expected `{word} {what}`"))),
            }
        };
        match word {
            "entry" => match args {
                [n] => d.entry = Some(n.to_string()),
                _ => return Err(err("expected `entry NAME`".into())),
            },
            "input" => {
                if d.input.is_some() {
                    return Err(err("a second `input` in this case".into()));
                }
                let bytes = match args {
                    ["hex", rest @ ..] => hex_bytes(rest).map_err(&err)?,
                    ["file", p] => {
                        let path = dir.join(p);
                        std::fs::read(&path)
                            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?
                    }
                    [n] => {
                        let n = number(n).map_err(&err)?;
                        if n > 1 << 24 {
                            return Err(err(format!("{n} bytes is too large an input")));
                        }
                        vec![0; n as usize]
                    }
                    _ => {
                        return Err(err(
                            "expected `input N`, `input hex XX ...` or `input file PATH`".into(),
                        ));
                    }
                };
                d.input = Some(bytes);
            }
            "put" => {
                let Some(input) = d.input.as_mut() else {
                    return Err(err("`put` before `input`".into()));
                };
                let (off, bytes) = match args {
                    [off, "hex", rest @ ..] => (number(off), hex_bytes(rest).map_err(&err)?),
                    [off, ty, v] => {
                        (number(off), encode(ty, number(v).map_err(&err)?).map_err(&err)?)
                    }
                    _ => {
                        return Err(err(
                            "expected `put OFFSET TYPE VALUE` or `put OFFSET hex XX ...`".into(),
                        ));
                    }
                };
                let off = off.map_err(&err)?;
                let end = off.saturating_add(bytes.len() as u64);
                if end > input.len() as u64 {
                    return Err(err(format!(
                        "bytes {off}..{end} are past the input's {} bytes",
                        input.len()
                    )));
                }
                input[off as usize..end as usize].copy_from_slice(&bytes);
            }
            "wirelen" => d.wire_len = Some(one("N")?),
            "result" => {
                if d.r0.is_some() {
                    return Err(err("a second `result` in this case".into()));
                }
                d.r0 = Some(one("VALUE")?);
            }
            "extent" => match args {
                [s, c, k] => {
                    let kind = number(k).map_err(&err)?;
                    d.extents.push(Extent {
                        start: number(s).map_err(&err)?,
                        count: number(c).map_err(&err)?,
                        kind: u32::try_from(kind)
                            .map_err(|_| err(format!("kind {kind} does not fit 32 bits")))?,
                    });
                }
                _ => return Err(err("expected `extent START COUNT KIND`".into())),
            },
            "refused" => match args {
                [rule] => d.refused = Some(rule.to_string()),
                _ => return Err(err("expected `refused RULE`".into())),
            },
            _ => {
                return Err(err(format!(
                    "unknown directive `{word}` (source, entry, input, put, wirelen, result, extent, refused)"
                )));
            }
        }
    }
    if let Some(d) = draft.take() {
        cases.push(d.finish()?);
    }
    let source = source.ok_or("no `source PATH` line")?;
    Ok(TestFile { source, cases })
}

/// Extents as text, `START COUNT KIND` each, at most `max` of them.
fn extents_text(e: &[Extent], max: usize) -> String {
    let mut s: Vec<String> =
        e.iter().take(max).map(|x| format!("{} {} {}", x.start, x.count, x.kind)).collect();
    if e.len() > max {
        s.push(format!("... ({} in all)", e.len()));
    }
    if s.is_empty() { "none".to_string() } else { s.join(", ") }
}

/// Compiled programs, verdicts and code, each made once per entry point (and object size).
struct Runner<'m> {
    module: &'m Module,
    executor: Executor,
    vm: Vm,
    interp: HashMap<usize, Compiled>,
    verdicts:
        HashMap<(usize, Option<u32>), Result<udf_verifier::Verified, Box<udf_verifier::Rejection>>>,
    native: HashMap<(usize, Option<u32>), udf_jit::Executable>,
}

impl Runner<'_> {
    /// The entry point a case names (or the only one).
    fn entry(&self, case: &Case) -> Result<usize, String> {
        let m = self.module;
        match &case.entry {
            Some(n) => m.entries.iter().position(|e| &e.name == n).ok_or_else(|| {
                let names: Vec<&str> = m.entries.iter().map(|e| e.name.as_str()).collect();
                format!("no entry point `{n}` (there are: {})", names.join(", "))
            }),
            None if m.entries.len() == 1 => Ok(0),
            None => Err(format!("{} entry points: name one with `entry NAME`", m.entries.len())),
        }
    }

    /// Runs one case; `Ok` with what happened when it is as expected.
    fn judge(&mut self, case: &Case) -> Result<String, String> {
        let i = self.entry(case)?;
        let module = self.module;
        let entry: &Entry = &module.entries[i];
        let ty = entry.ty;
        let size = ty.template_object_size(case.input.len());
        let checking = self.executor == Executor::CheckingInterpreter;
        let verdict = self.verdicts.entry((i, size)).or_insert_with(|| {
            let mut conf = udf_verifier::Config::new(ty);
            conf.ctx_size = size;
            conf.record_states = checking;
            udf_verifier::verify(&entry.prog, &conf).map_err(Box::new)
        });
        let facts = match (verdict, &case.expect) {
            (Err(e), Expect::Refused(rule)) if e.rule.code() == rule => {
                return Ok(format!("refused: {e}"));
            }
            (Err(e), _) => return Err(format!("refused by the verifier: {e}")),
            (Ok(_), Expect::Refused(rule)) => {
                return Err(format!("accepted, expected a `{rule}` refusal"));
            }
            (Ok(f), Expect::Run { .. }) => f.clone(),
        };
        if !facts.admits(case.input.len()) {
            return Err(format!(
                "a context of {} byte(s) is refused: the program was verified for {}; nothing ran",
                case.input.len(),
                udf_runtime::LenRange(facts.ctx_len.0, facts.ctx_len.1)
            ));
        }
        let code = match self.executor {
            Executor::Interpreter => {
                if let std::collections::hash_map::Entry::Vacant(v) = self.interp.entry(i) {
                    let c =
                        udf_runtime::prepare(&entry.prog, &udf_runtime::pre_run_checks(ty, true))
                            .map_err(|e| format!("pre-run checks: {e}"))?;
                    v.insert(c);
                }
                Runnable::Interp(&self.interp[&i])
            }
            Executor::JitTrusted => {
                if let std::collections::hash_map::Entry::Vacant(v) = self.native.entry((i, size)) {
                    let exe = crate::typed::jit(&entry.prog, ty, udf_jit::Mode::Trusted(&facts))
                        .map_err(|e| format!("JIT: {e}"))?;
                    v.insert(exe);
                }
                Runnable::Native(self.native[&(i, size)].native())
            }
            other => {
                return match run_on(
                    other,
                    &entry.prog,
                    ty,
                    Some(&facts),
                    &case.input,
                    case.wire_len,
                    facts.max_insns,
                )? {
                    Ran::Returned(run) => expected(ty, &case.expect, run),
                    Ran::Faulted(f) => Err(f),
                };
            }
        };
        let TypedRun { outcome, extents } =
            run_code(&mut self.vm, code, ty, &case.input, case.wire_len, facts.max_insns)
                .map_err(|f| format!("fault: {f}"))?;
        expected(ty, &case.expect, TypedRun { outcome, extents })
    }
}

/// Judges a run against what the case expects; `Ok` with what happened when it is as expected.
fn expected(ty: ProgramType, expect: &Expect, run: TypedRun) -> Result<String, String> {
    let TypedRun { outcome, extents } = run;
    let Expect::Run { r0, extents: want } = expect else {
        unreachable!("refusals are judged above")
    };
    let mut why = Vec::new();
    if outcome.r0 != *r0 {
        why.push(format!("r0 = {}, expected {r0}", outcome.r0));
    }
    if extents != *want {
        let first = extents
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(extents.len().min(want.len()));
        why.push(format!(
            "extents differ from #{first} on: got {}; expected {}",
            extents_text(&extents[first..], 8),
            extents_text(&want[first..], 8)
        ));
    }
    if why.is_empty() {
        let ty_name = if ty == ProgramType::Owns {
            format!(", {} extent(s)", extents.len())
        } else {
            String::new()
        };
        Ok(format!("r0 = {}{ty_name}", outcome.r0))
    } else {
        Err(why.join("; "))
    }
}

/// One verdict per case of the `.udft` file at `path` (one failing verdict when the file cannot
/// be read or parsed); with `expect_failure` a case passes when it fails.
pub fn verdicts(path: &Path, executor: Executor, expect_failure: bool) -> Vec<Verdict> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return vec![Verdict::Fail(format!("cannot read: {e}"))],
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    let file = match parse(&text, dir) {
        Ok(f) => f,
        Err(e) => return vec![Verdict::Fail(e)],
    };
    let label = |c: &Case| {
        if c.name.is_empty() {
            format!("case at line {}", c.line)
        } else {
            format!("case `{}` (line {})", c.name, c.line)
        }
    };
    let module = match std::fs::read_to_string(&file.source) {
        Err(e) => Err(format!("cannot read {}: {e}", file.source.display())),
        Ok(src) => udf_compiler::compile(&file.source.display().to_string(), &src)
            .map_err(|d| format!("{} does not compile:\n{d}", file.source.display())),
    };
    let module = match module {
        Ok(m) => m,
        Err(why) => {
            return file
                .cases
                .iter()
                .map(|c| {
                    let why = format!("{}: {}", label(c), why.trim_end());
                    if expect_failure { Verdict::Pass(why) } else { Verdict::Fail(why) }
                })
                .collect();
        }
    };
    let mut runner = Runner {
        module: &module,
        executor,
        vm: Vm::new(),
        interp: HashMap::new(),
        verdicts: HashMap::new(),
        native: HashMap::new(),
    };
    file.cases
        .iter()
        .map(|c| {
            let what = label(c);
            match (runner.judge(c), expect_failure) {
                (Ok(how), false) => Verdict::Pass(format!("{what}: {how}")),
                (Ok(how), true) => Verdict::Fail(format!("{what}: {how}")),
                (Err(why), false) => Verdict::Fail(format!("{what}: {why}")),
                (Err(why), true) => Verdict::Pass(format!("{what}: {why}")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cases_with_patches_and_expectations() {
        let text = "# c\nsource a.udf\n-- case: one\nentry e\ninput 8\nput 0 u16le 0x81a4\n\
                    put 2 u32be 1\nput 6 hex 0a0B\nresult 0\nextent 1 2 3\n\
                    -- case\ninput hex 01 0x02\nwirelen 60\nrefused ctx-bounds\n";
        let f = parse(text, Path::new("d")).expect("parses");
        assert_eq!(f.source, Path::new("d/a.udf"));
        assert_eq!(f.cases.len(), 2);
        assert_eq!(f.cases[0].input, [0xa4, 0x81, 0, 0, 0, 1, 0x0a, 0x0b]);
        assert_eq!(
            f.cases[0].expect,
            Expect::Run { r0: 0, extents: vec![Extent { start: 1, count: 2, kind: 3 }] }
        );
        assert_eq!(f.cases[1].name, "");
        assert_eq!(f.cases[1].input, [1, 2]);
        assert_eq!(f.cases[1].wire_len, Some(60));
        assert_eq!(f.cases[1].expect, Expect::Refused("ctx-bounds".into()));
    }

    #[test]
    fn errors_are_located() {
        for (text, want) in [
            ("-- case\ninput 4\nresult 0\n", "no `source"),
            ("source a.udf\nentry x\n", "line 2: `entry` outside a case"),
            ("source a.udf\n-- case\ninput 4\nput 3 u16le 1\n", "line 4: bytes 3..5"),
            ("source a.udf\n-- case\ninput 4\nput 0 u8 256\n", "line 4: 0x100 does not fit"),
            ("source a.udf\n-- case\ninput 4\n", "case at line 2: no `result`"),
            ("source a.udf\n-- case\nresult 1\n", "no `input`"),
            ("source a.udf\n-- case\ninput 1\nfrob 2\n", "line 4: unknown directive"),
        ] {
            let e = parse(text, Path::new("")).expect_err(text);
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
