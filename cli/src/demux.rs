//! `udf demux`: many filters, each with an owner name, installed in one merged demultiplexer
//! ([`udf_kernel_glue::demux`]), run over every packet of a capture.
//!
//! The filters file holds one filter a line, `#` starting a comment line (blank lines skipped):
//!
//! ```text
//! NAME pcap EXPR          a pcap-filter expression, compiled for the capture's link type
//! NAME udf PATH[:ENTRY]   a filter entry point of a .udf source (or an ELF object's function)
//! NAME cbpf PATH          classic BPF (tcpdump -dd / -ddd text or raw sock_filter records)
//! NAME EXPR               short for `NAME pcap EXPR`
//! ```
//!
//! Paths are relative to the filters file. A name may own several filters (its packets are
//! the union). Each filter is compiled and verified here, as `udf filter` does; the
//! demultiplexer takes the verified bytecode (a kernel never compiles).
//!
//! Engines: `interp` walks the merged trie (`Demux::run`); `jit` compiles the whole
//! demultiplexer into one verified eBPF program (`Demux::compile`: one table lookup through the
//! verified helper `demux_lookup` per shape of filter) run as native code, the owners its lookups
//! find completed with the filters kept whole, and walks the trie instead where that program
//! would pass 2,000,000 instructions; `program_insns` in the JSON document says which (null:
//! walked).
//!
//! Output: one line per packet, the names accepting it in file order, space-separated, or `-`;
//! with `--count`, one line `NAME COUNT` per name in file order. With `--json` one document:
//! `filters` (each `name`, `kind`, `merged`), `packets`, and `results` (per packet, the list of
//! names) or `counts` (`{name, count}` in file order).

use std::path::{Path, PathBuf};

use miette::miette;
use serde_json::json;

use crate::capture::{Capture, Link};
use crate::filter::{Ready, compile_pcap, load_cbpf, load_udf_filter};
use crate::input::{Failure, read};
use crate::output::emit;
use udf_filetests::ExecEngine as Engine;
use udf_kernel_glue::demux::{CodegenError, Demux, Merged, Owner, Scratch, Shape, WholeCode};
use udf_runtime::native::NativeRunner;
use udf_runtime::{Context, RunOptions};

/// One line of the filters file.
#[derive(Clone, Debug)]
enum Source {
    Pcap(String),
    Udf(PathBuf, Option<String>),
    Cbpf(PathBuf),
}

impl Source {
    fn kind(&self) -> &'static str {
        match self {
            Source::Pcap(_) => "pcap",
            Source::Udf(..) => "udf",
            Source::Cbpf(_) => "cbpf",
        }
    }
}

/// A filter of the file.
#[derive(Clone, Debug)]
struct Line {
    owner: Owner,
    line: usize,
    /// The line's text in the file (byte range, blanks around it left out).
    span: core::ops::Range<usize>,
    source: Source,
}

/// `message` located at `span` of the filters file `path` (its text `text`): the report's
/// first label, so that `--json` gives its file, line and column.
fn at_line(
    code: &'static str,
    help: Option<&'static str>,
    message: String,
    path: &Path,
    text: &str,
    span: core::ops::Range<usize>,
) -> miette::Report {
    let mut diag = miette::MietteDiagnostic::new(message)
        .with_code(code)
        .with_label(miette::LabeledSpan::at(span, "this line"));
    if let Some(h) = help {
        diag = diag.with_help(h);
    }
    miette::Report::new(diag)
        .with_source_code(miette::NamedSource::new(path.display().to_string(), text.to_string()))
}

/// The filters file, parsed: the owner names in file order and the filters.
fn parse(path: &Path) -> Result<(Vec<String>, Vec<Line>, String), Failure> {
    let bytes = read(path)?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Failure::usage(miette!(code = "udf::demux::filters", "{}: not UTF-8 text", path.display()))
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut names: Vec<String> = Vec::new();
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let at = start;
        start += raw.len();
        let untrimmed = raw.trim_end_matches(['\n', '\r']);
        let l = untrimmed.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let first = at + (untrimmed.len() - untrimmed.trim_start().len());
        let span = first..first + l.len();
        let bad = |why: &str| {
            Failure::usage(at_line(
                "udf::demux::filters",
                Some(
                    "one filter a line: `NAME pcap EXPR`, `NAME udf PATH[:ENTRY]`, `NAME cbpf PATH` or `NAME EXPR`",
                ),
                format!("{}:{}: {why}", path.display(), i + 1),
                path,
                &text,
                span.clone(),
            ))
        };
        let (name, rest) =
            l.split_once(char::is_whitespace).ok_or_else(|| bad("a name without a filter"))?;
        let rest = rest.trim();
        let (kind, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let arg = arg.trim();
        let source = match kind {
            "pcap" if arg.is_empty() => return Err(bad("`pcap` without an expression")),
            "pcap" => Source::Pcap(arg.to_string()),
            "udf" | "cbpf" if arg.is_empty() => return Err(bad("a path is missing")),
            "udf" => {
                // `PATH:ENTRY` when the part after the last colon names no existing file.
                let (p, entry) = match arg.rsplit_once(':') {
                    Some((p, e)) if !dir.join(arg).exists() && !e.is_empty() => {
                        (p, Some(e.to_string()))
                    }
                    _ => (arg, None),
                };
                Source::Udf(dir.join(p), entry)
            }
            "cbpf" => Source::Cbpf(dir.join(arg)),
            _ => Source::Pcap(rest.to_string()),
        };
        let owner = match names.iter().position(|n| n == name) {
            Some(o) => o,
            None => {
                names.push(name.to_string());
                names.len() - 1
            }
        };
        lines.push(Line { owner: owner as Owner, line: i + 1, span, source });
    }
    Ok((names, lines, text))
}

/// Compiles (`.udf`, classic BPF: once; pcap expressions: per link) and verifies filters.
struct Compiler<'a> {
    file: &'a Path,
    /// The filters file's text.
    text: &'a str,
    capture: &'a Path,
    /// Link-independent filters, by line index.
    fixed: Vec<Option<Ready>>,
}

impl Compiler<'_> {
    fn ready(&mut self, i: usize, l: &Line, link: Link) -> Result<Ready, Failure> {
        let r = match &l.source {
            Source::Pcap(e) => compile_pcap(e, None, Engine::Interp, self.capture, link),
            Source::Udf(p, entry) => {
                let r = match self.fixed[i].take() {
                    Some(r) => Ok(r),
                    None => load_udf_filter(p, entry.as_deref(), Engine::Interp),
                };
                r.and_then(|r| {
                    crate::filter::check_views(&r, link, self.capture, "the capture's ")?;
                    Ok(r)
                })
            }
            Source::Cbpf(p) => match self.fixed[i].take() {
                Some(r) => Ok(r),
                None => load_cbpf(p, Engine::Interp),
            },
        };
        r.map_err(|mut f| {
            f.reports.insert(
                0,
                at_line(
                    "udf::demux::filter",
                    None,
                    format!(
                        "{}:{}: the {} filter of this line is not installed:",
                        self.file.display(),
                        l.line,
                        l.source.kind()
                    ),
                    self.file,
                    self.text,
                    l.span.clone(),
                ),
            );
            f
        })
    }
}

/// A demultiplexer built for one link.
fn build(c: &mut Compiler<'_>, lines: &[Line], link: Link) -> Result<(Demux, Vec<bool>), Failure> {
    let mut d = Demux::new();
    let mut merged = Vec::with_capacity(lines.len());
    for (i, l) in lines.iter().enumerate() {
        let r = c.ready(i, l, link)?;
        let (_, shape) = d.insert(l.owner, &r.facts).map_err(|e| {
            Failure::refused(miette!(
                code = "udf::demux::filter",
                "{}:{}: not installed: {e}",
                c.file.display(),
                l.line
            ))
        })?;
        merged.push(matches!(shape, Shape::Merged { .. }));
        if !matches!(l.source, Source::Pcap(_)) {
            c.fixed[i] = Some(r);
        }
    }
    Ok((d, merged))
}

/// Most instructions of the merged program `--engine jit` makes.
const LIMIT: usize = 2_000_000;

/// The merged program and a runner of its native code (one per demultiplexer built: its
/// environment and stack set up once, not per packet).
type Program = (Merged, NativeRunner<'static>);

/// With the JIT: the demultiplexer as one verified program, compiled to native code; `None`
/// when it would be larger than [`LIMIT`] (then the trie is walked, as with `interp`). The
/// filters kept whole are compiled to native code as well.
fn program(d: &mut Demux, engine: Engine) -> Result<Option<Program>, Failure> {
    if engine != Engine::Jit {
        return Ok(None);
    }
    d.compile_whole(|v| {
        Some(match crate::filter::trusted_filter(v.program(), v).ok()? {
            udf_jit::TrustedFilter::Direct(f) => WholeCode::Filter(f),
            udf_jit::TrustedFilter::Regions { exe, .. } => WholeCode::Program(exe.into_native()),
        })
    });
    let bug = |what: String| {
        Failure::refused(miette!(code = "udf::compiler_bug", "the merged demultiplexer: {what}"))
    };
    let m = match d.compile(LIMIT) {
        Ok(m) => m,
        Err(CodegenError::TooLarge) => return Ok(None),
        Err(e) => return Err(bug(format!("{e:?}"))),
    };
    let exe = crate::exec::jit(
        m.verified.program(),
        udf_bytecode::ProgramType::Filter,
        udf_jit::Mode::Trusted(&m.verified),
    )
    .map_err(|e| bug(e.to_string()))?;
    // The code lives as long as the command (one per link type of the capture, a handful at
    // most): leaked, so that its runner can be kept beside the demultiplexer it serves.
    let exe: &'static udf_jit::Executable = Box::leak(Box::new(exe));
    Ok(Some((m, exe.runner())))
}

/// Runs the command.
pub fn command(
    json: bool,
    filters: &Path,
    capture: &Path,
    engine: Engine,
    count: bool,
) -> Result<(), Failure> {
    let (names, lines, text) = parse(filters)?;
    let unreadable = |why: String| {
        Failure::usage(miette!(code = "udf::capture", "{}: {why}", capture.display()))
    };
    let mut cap = Capture::open(capture).map_err(unreadable)?;
    let mut c = Compiler {
        file: filters,
        text: &text,
        capture,
        fixed: (0..lines.len()).map(|_| None).collect(),
    };
    let first = cap.link().unwrap_or(Link::new(1, crate::capture::MAX_SNAPLEN));
    let mut built: Vec<(Link, Demux, Option<Program>)> = Vec::new();
    let (mut d, merged) = build(&mut c, &lines, first)?;
    let prog = program(&mut d, engine)?;
    let insns = prog.as_ref().map(|p| p.0.verified.program().len());
    built.push((first, d, prog));
    let mut s = Scratch::new();
    let mut got: Vec<Owner> = Vec::new();
    let mut counts = vec![0u64; names.len()];
    let mut results: Vec<Vec<&str>> = Vec::new();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut packets = cap.packets();
    let outcome = loop {
        let p = match packets.next_packet() {
            None => break Ok(()),
            Some(Err(why)) => break Err(unreadable(why)),
            Some(Ok(p)) => p,
        };
        let k = match built.iter().position(|(l, _, _)| *l == p.link) {
            Some(k) => k,
            None => match build(&mut c, &lines, p.link).and_then(|(mut d, _)| {
                let prog = program(&mut d, engine)?;
                Ok((d, prog))
            }) {
                Ok((d, prog)) => {
                    built.push((p.link, d, prog));
                    built.len() - 1
                }
                Err(f) => break Err(f),
            },
        };
        let (_, d, prog) = &mut built[k];
        let ran = match prog {
            Some((m, runner)) => {
                let opts =
                    RunOptions { budget: m.verified.facts().max_insns, r3: u64::from(p.wire_len) };
                got.clear();
                runner
                    .run_with(Context::ReadOnly(p.data), &mut d.lookup(&mut got), &opts)
                    .and_then(|_| d.finish_merged(m, &mut s, p.data, p.wire_len, &mut got))
            }
            None => d.run(&mut s, p.data, p.wire_len, &mut got),
        };
        if let Err(f) = ran {
            break Err(Failure::refused(miette!(
                code = "udf::fault",
                "{}: packet {}: {f}",
                capture.display(),
                packets.count()
            )));
        }
        for &o in &got {
            counts[o as usize] += 1;
        }
        if !count {
            let these: Vec<&str> = got.iter().map(|&o| names[o as usize].as_str()).collect();
            if json {
                results.push(these);
            } else {
                use std::io::Write;
                let line = if these.is_empty() { "-".to_string() } else { these.join(" ") };
                if let Err(e) = writeln!(out, "{line}") {
                    break Err(Failure::usage(miette!(code = "udf::io", "stdout: {e}")));
                }
            }
        }
    };
    let n = packets.count();
    {
        use std::io::Write;
        let _ = out.flush();
    }
    drop(out);
    if json {
        let fl: Vec<_> = lines
            .iter()
            .zip(&merged)
            .map(|(l, m)| json!({"name": names[l.owner as usize], "kind": l.source.kind(), "merged": m}))
            .collect();
        let mut doc = json!({"filters": fl, "packets": n, "program_insns": insns});
        if count {
            doc["counts"] = json!(
                names
                    .iter()
                    .zip(&counts)
                    .map(|(n, c)| json!({"name": n, "count": c}))
                    .collect::<Vec<_>>()
            );
        } else {
            doc["results"] = json!(results);
        }
        emit(doc);
    } else if count && outcome.is_ok() {
        for (name, c) in names.iter().zip(&counts) {
            println!("{name} {c}");
        }
    }
    outcome
}
