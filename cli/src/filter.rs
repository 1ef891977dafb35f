//! `udf filter`: a filter (`.udf`, ELF, pcap-filter expression or classic BPF) over every
//! packet of a capture, one return value per line, as libpcap's `filtertest -r`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use miette::miette;
use serde_json::json;
use udf_bytecode::ProgramType;

use crate::exec::{Runnable, run_code};
use crate::input::Failure;
use crate::input::{Loaded, is_elf_file, load, program_type, read, select_entry};
use crate::output::emit;
use crate::verify;
use udf_filetests::ExecEngine as Engine;
use udf_runtime::Vm;

/// Where `udf filter`'s program comes from.
pub enum FilterInput<'a> {
    /// A filter entry point of a `.udf` source.
    Source(&'a Path, Option<&'a str>),
    /// A pcap-filter(7) expression and the netmask `ip broadcast` uses.
    Pcap(&'a str, Option<u32>),
    /// A classic BPF program in a file.
    Cbpf(&'a Path),
}

/// A verified filter and the code the chosen engine runs.
struct Ready {
    /// The `.udf` entry point's name.
    name: Option<String>,
    /// The `.udf` packet views it reads (empty: raw access only, or not a `.udf` filter).
    views: Vec<&'static str>,
    facts: udf_verifier::Verified,
    interp: Option<udf_runtime::Compiled>,
    native: Option<udf_jit::Executable>,
}

impl Ready {
    /// Verifies `prog` as a filter (trusted mode, as for `udf run`: the verdict holds for
    /// packets of any length) and prepares it for `engine`. `report` renders a rejection.
    fn new(
        prog: &udf_bytecode::Program,
        engine: Engine,
        what: &str,
        report: impl FnOnce(&udf_verifier::Rejection) -> Failure,
    ) -> Result<Ready, Failure> {
        let ty = ProgramType::Filter;
        let conf = verify::config(ty, None, udf_verifier::DEFAULT_BUDGET);
        let facts = udf_verifier::verify(prog, &conf).map_err(|e| report(&e))?;
        let checks = |e: &dyn std::fmt::Display| {
            Failure::refused(miette!(code = "udf::check", "{what}: {e}"))
        };
        let (interp, native) = match engine {
            Engine::Interp => (
                Some(
                    udf_runtime::prepare(prog, &udf_runtime::pre_run_checks(ty, true))
                        .map_err(|e| checks(&e))?,
                ),
                None,
            ),
            Engine::Jit => (
                None,
                Some(
                    crate::exec::jit(prog, ty, udf_jit::Mode::Trusted(&facts))
                        .map_err(|e| checks(&e))?,
                ),
            ),
        };
        Ok(Ready { name: None, views: Vec::new(), facts, interp, native })
    }

    /// The code to run.
    fn code(&self) -> Runnable<'_> {
        match (&self.interp, &self.native) {
            (Some(c), _) => Runnable::Interp(c),
            (None, Some(e)) => Runnable::Native(e.native()),
            (None, None) => unreachable!("Ready::new prepares one engine's code"),
        }
    }
}

/// The filters of one `udf filter` run: one program for every packet (`.udf`, `--cbpf`), or a
/// pcap-filter expression compiled once for each link (link type, snap length) the capture's
/// packets come from.
enum Filters<'a> {
    One(Box<Ready>),
    Pcap {
        expr: &'a str,
        netmask: Option<u32>,
        engine: Engine,
        capture: &'a Path,
        compiled: Vec<(crate::capture::Link, Ready)>,
    },
}

impl Filters<'_> {
    /// The filter for packets of `link`, compiled on first use.
    fn for_link(&mut self, link: crate::capture::Link) -> Result<&Ready, Failure> {
        let (expr, netmask, engine, capture, compiled) = match self {
            Filters::One(ready) => return Ok(ready),
            Filters::Pcap { expr, netmask, engine, capture, compiled } => {
                (*expr, *netmask, *engine, *capture, compiled)
            }
        };
        if let Some(i) = compiled.iter().position(|(l, _)| *l == link) {
            return Ok(&compiled[i].1);
        }
        let ready = compile_pcap(expr, netmask, engine, capture, link)?;
        compiled.push((link, ready));
        Ok(&compiled.last().expect("pushed").1)
    }
}

/// The name pcap-filter diagnostics give the expression (it has no file).
const EXPRESSION: &str = "<expression>";

/// Compiles a pcap-filter expression for packets of `link`: libpcap's meaning for that link
/// type, accepting packets with the snap length (what libpcap's `filtertest -r` returns).
fn compile_pcap(
    expr: &str,
    netmask: Option<u32>,
    engine: Engine,
    capture: &Path,
    link: crate::capture::Link,
) -> Result<Ready, Failure> {
    use udf_pcap::{CompileOptions, LinkType};
    let Some(lt) = LinkType::from_linktype(link.linktype) else {
        return Err(Failure::refused(miette!(
            code = "udf::pcap::linktype",
            help = "the pcap-filter front end compiles for Ethernet (EN10MB) and raw IP (RAW) captures",
            "{}: link type {} is not supported",
            capture.display(),
            link.name()
        )));
    };
    let opts = CompileOptions { link: lt, snaplen: link.snaplen, netmask };
    let compiled = udf_pcap::compile(expr, &opts).map_err(|d| {
        Failure::compile(&udf_compiler::Diagnostics::new(EXPRESSION, expr, vec![d]))
    })?;
    Ready::new(&compiled.prog, engine, EXPRESSION, |e| {
        // Over the instruction budget is a limit of the input; anything else a defect.
        if let udf_verifier::Rule::BudgetExceeded { budget, .. } = e.rule {
            return Failure::refused(miette!(
                code = "udf::pcap::too_large",
                help = "split it into several filters",
                "{EXPRESSION}: expression too large: its program may run more than {budget} instructions"
            ));
        }
        Failure::refused(miette!(
            code = "udf::compiler_bug",
            "{EXPRESSION}: the verifier rejects the program compiled for `{expr}`: {e}"
        ))
    })
}

/// Reads a classic BPF program (`tcpdump -dd` or `-ddd` text, or raw `struct sock_filter`
/// bytes), translates it to eBPF and prepares it.
fn load_cbpf(path: &Path, engine: Engine) -> Result<Ready, Failure> {
    let bytes = read(path)?;
    let what = path.display().to_string();
    let insns = udf_pcap::cbpf::parse_any(&bytes)
        .map_err(|e| Failure::refused(cbpf_report(&what, &bytes, &e, true)))?;
    let (prog, _facts) = udf_pcap::cbpf::compile(&insns)
        .map_err(|e| Failure::refused(cbpf_report(&what, &bytes, &e, false)))?;
    Ready::new(&prog, engine, &what, |e| {
        // Over the instruction budget is a limit of the input; anything else a defect.
        if let udf_verifier::Rule::BudgetExceeded { budget, .. } = e.rule {
            return Failure::refused(miette!(
                code = "udf::cbpf::too_large",
                "{what}: its translation may run more than {budget} instructions"
            ));
        }
        Failure::refused(miette!(
            code = "udf::compiler_bug",
            "{what}: the verifier rejects the translation of this classic BPF program: {e}"
        ))
    })
}

/// A classic BPF error as a diagnostic: pointing into the file when it is text and the error
/// has a line, else naming the instruction; `unread` (the file could not be read as classic
/// BPF) adds the formats accepted.
fn cbpf_report(
    what: &str,
    bytes: &[u8],
    e: &udf_pcap::cbpf::CbpfError,
    unread: bool,
) -> miette::Report {
    // The translator's own failures (its output refused by the verifier or by the bytecode
    // checks) are defects of udfkit, not of the program: `udf::compiler_bug`, as elsewhere.
    let code =
        if e.message.starts_with("translator bug") { "udf::compiler_bug" } else { "udf::cbpf" };
    let mut diag = miette::MietteDiagnostic::new(format!("{what}: {e}")).with_code(code);
    if unread {
        diag = diag.with_help(
            "give `tcpdump -dd` or `tcpdump -ddd` output, or raw little-endian 8-byte struct \
             sock_filter records",
        );
    }
    let (Some((line, col)), Ok(src)) = (e.line, std::str::from_utf8(bytes)) else {
        return miette::Report::new(diag);
    };
    let at = crate::input::offset_of(src, line, col);
    let len = src[at..].chars().next().map_or(0, char::len_utf8);
    diag.message = format!("{what}:{line}:{col}: {}", e.message);
    miette::Report::new(diag.with_label(miette::LabeledSpan::at(at..at + len, "here")))
        .with_source_code(miette::NamedSource::new(what, src.to_string()))
}

/// Compiles a `.udf` source's filter entry point, or reads a filter function of an ELF object,
/// and prepares it.
fn load_udf_filter(input: &Path, entry: Option<&str>, engine: Engine) -> Result<Ready, Failure> {
    if is_elf_file(input) {
        let loaded = load(input, entry)?;
        if let Some(c) = &loaded.c
            && let Some(t) = c.ty.filter(|&t| t != ProgramType::Filter)
        {
            return Err(Failure::usage(miette!(
                code = "udf::usage",
                "{}: `udf filter` runs filters: function `{}` is in section `{}`, of type {t}",
                input.display(),
                c.name,
                c.section
            )));
        }
        program_type(input, &loaded, Some(ProgramType::Filter), None)?;
        let what = input.display().to_string();
        return Ready::new(&loaded.prog, engine, &what, |e| {
            Failure::refused(verify::report(input, &loaded, e))
        });
    }
    let (src, module) = crate::input::compile_source_only(
        input,
        "`udf filter` takes a .udf source or an ELF object (or --pcap EXPR, --cbpf FILE)",
    )?;
    let entry = select_entry(input, module, entry, Some(ProgramType::Filter))?;
    let loaded = Loaded {
        prog: entry.prog.clone(),
        src: Some(src),
        lines: Vec::new(),
        entry: Some(entry),
        c: None,
    };
    let what = input.display().to_string();
    let mut ready = Ready::new(&loaded.prog, engine, &what, |e| {
        Failure::refused(verify::report(input, &loaded, e))
    })?;
    if let Some(e) = &loaded.entry {
        ready.name = Some(e.name.clone());
        ready.views = e.views.clone();
    }
    Ok(ready)
}

/// The link type the `.udf` packet views assume: Ethernet.
const EN10MB: u32 = 1;

/// Refuses a `.udf` filter on packets of a link type its packet views do not fit (they read an
/// Ethernet frame: `p.ether` at 0, `p.ipv4` at 14, ...); raw access fits any link type.
fn check_views(
    ready: &Ready,
    link: crate::capture::Link,
    capture: &Path,
    at: &str,
) -> Result<(), Failure> {
    if ready.views.is_empty() || link.linktype == EN10MB {
        return Ok(());
    }
    let name = ready.name.as_deref().unwrap_or("the filter");
    Err(Failure::refused(miette!(
        code = "udf::filter::linktype",
        help = "the packet views read Ethernet frames (link type 1, EN10MB); a filter that reads \
                only p.u8[i], p.u16be[i], p.u32be[i], p.len and p.wirelen fits any link type, and \
                --pcap EXPR compiles for the capture's link type",
        "{}: {at}link type {}: filter `{name}` reads the packet views {} (Ethernet frames); nothing ran on it",
        capture.display(),
        link.name(),
        ready.views.iter().map(|v| format!("p.{v}")).collect::<Vec<_>>().join(", ")
    )))
}

/// `udf filter`: a filter over every packet of a capture, one return value per line.
pub fn command(
    json: bool,
    input: FilterInput<'_>,
    capture: &Path,
    engine: Engine,
) -> Result<(), Failure> {
    let unreadable = |why: String| {
        Failure::usage(miette!(code = "udf::capture", "{}: {why}", capture.display()))
    };
    let (mut filters, entry) = match input {
        FilterInput::Source(input, entry) => {
            let ready = load_udf_filter(input, entry, engine)?;
            let name = ready.name.clone().or(entry.map(str::to_string));
            (Filters::One(Box::new(ready)), name)
        }
        FilterInput::Cbpf(path) => (Filters::One(Box::new(load_cbpf(path, engine)?)), None),
        FilterInput::Pcap(expr, netmask) => {
            (Filters::Pcap { expr, netmask, engine, capture, compiled: Vec::new() }, None)
        }
    };
    let mut cap = crate::capture::Capture::open(capture).map_err(unreadable)?;
    // An expression is compiled before the first packet is read, so its errors show even for a
    // capture with no packets (for the capture's first link; Ethernet when it names none).
    let first = cap.link().unwrap_or(crate::capture::Link::new(1, crate::capture::MAX_SNAPLEN));
    let ready = filters.for_link(first)?;
    if cap.link().is_some() {
        check_views(ready, first, capture, "the capture's ")?;
    }
    let progress = std::io::stderr().is_terminal() && !std::io::stdout().is_terminal();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut results = Vec::new();
    let mut vm = Vm::new();
    let mut n = 0u64;
    let outcome = loop {
        let packet = match cap.next_packet() {
            None => break Ok(()),
            Some(Err(why)) => break Err(unreadable(why)),
            Some(Ok(p)) => p,
        };
        n += 1;
        let ready = match filters.for_link(packet.link) {
            Ok(r) => r,
            Err(f) => break Err(f),
        };
        if let Err(f) = check_views(ready, packet.link, capture, &format!("packet {n}: ")) {
            break Err(f);
        }
        if !ready.facts.admits(packet.data.len()) {
            break Err(Failure::refused(miette!(
                code = "udf::context",
                "{}: packet {n}: {} bytes, a length the filter was not verified for; nothing ran",
                capture.display(),
                packet.data.len()
            )));
        }
        let run = run_code(
            &mut vm,
            ready.code(),
            ProgramType::Filter,
            packet.data,
            Some(u64::from(packet.wire_len)),
            ready.facts.max_insns,
        );
        let r0 = match run {
            Ok(run) => run.outcome.r0,
            Err(f) => {
                break Err(Failure::refused(miette!(
                    code = "udf::fault",
                    "{}: packet {n}: {f}",
                    capture.display()
                )));
            }
        };
        if json {
            results.push(r0);
        } else {
            let _ = writeln!(stdout, "{r0}");
        }
        if progress && n.is_multiple_of(4096) {
            eprint!("\r{}: {n} packets\x1b[K", capture.display());
        }
    };
    if progress {
        eprint!("\r\x1b[K");
    }
    if json {
        let accepted = results.iter().filter(|&&r| r != 0).count();
        // With the error after them when the capture breaks off: one document.
        emit(json!({"entry": entry, "packets": n, "accepted": accepted, "results": results}));
    }
    let _ = stdout.flush();
    outcome
}
