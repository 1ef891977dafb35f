//! `udf filter`: a filter (`.udf`, ELF, pcap-filter expression or classic BPF) over every
//! packet of a capture: one return value per line, as libpcap's `filtertest -r`; with `-w
//! OUT.pcap` the accepted packets (return value not 0) written to a pcap file, as `tcpdump -r
//! IN -w OUT EXPR` writes them; with `--count` only the number of accepted packets.
//!
//! The capture is memory-mapped and read in place ([`crate::capture`]); each run of the filter
//! goes through one reusable runner per compiled filter (the JIT's direct call where the
//! filter qualifies, else its `NativeRunner`, or one interpreter `Vm`), so a packet costs its
//! filter and a call.
//!
//! `-w`: a pcap file with the capture's link type and snap length. A pcap capture's file header
//! and accepted records are copied as the file holds them (byte order, time precision, time
//! stamps and both lengths unchanged); a pcapng capture gives a little-endian pcap file of the
//! first interface's link type and snap length, in nanoseconds when that interface's time
//! stamps are finer than microseconds, else microseconds (time stamps are cut, not rounded, to
//! that precision; seconds past 2106 wrap, as in libpcap). An accepted pcapng packet of another
//! link type than the first interface's is an error: a pcap file holds one link type. The file
//! is written beside OUT under a temporary name and renamed to OUT only when every packet was
//! read and filtered: a run that fails (a broken capture, a fault, a write error) leaves no OUT
//! and does not touch an existing one. `-w -` writes to stdout, and a path naming something
//! other than a regular file (`/dev/null`, a pipe) is written in place, as tcpdump does.
//!
//! With `--json`, the one document holds `entry` (the `.udf` entry point or null), `packets`
//! (packets read), `accepted` (how many returned non-zero), and: `results` (every return value,
//! in order) without `-w` and `--count`; `written` (OUT's path, or null when the run failed
//! and nothing was written) with `-w`. A capture that breaks off half-way gives the counts up to
//! there with the located error.
//!
//! Progress (packets read, share of the file) goes to stderr on a terminal, only when stdout is
//! a terminal too and carries no per-packet lines (`-w`, `--count`), never with `--json`, and
//! only once a run has lasted half a second.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use miette::miette;
use serde_json::json;
use udf_bytecode::ProgramType;

use crate::capture::{Capture, Link, Packet};
use crate::input::Failure;
use crate::input::{Loaded, is_elf_file, load, program_type, read, select_entry};
use crate::output::emit;
use crate::verify;
use udf_filetests::ExecEngine as Engine;
use udf_runtime::{Context, Fault, NoHelpers, RunOptions, Vm};

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
pub(crate) struct Ready {
    /// The `.udf` entry point's name.
    name: Option<String>,
    /// The `.udf` packet views it reads (empty: raw access only, or not a `.udf` filter).
    views: Vec<&'static str>,
    pub(crate) facts: udf_verifier::Verified,
    interp: Option<udf_runtime::Compiled>,
    /// Trusted native code: the direct call where the filter qualifies, else the region ABI.
    native: Option<udf_jit::TrustedFilter>,
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
            Engine::Jit => (None, Some(trusted_filter(prog, &facts).map_err(|e| checks(&e))?)),
        };
        Ok(Ready { name: None, views: Vec::new(), facts, interp, native })
    }

    /// A runner of the code, for many packets.
    fn runner<'r>(&'r self, vm: &'r mut Vm) -> Runner<'r> {
        match (&self.interp, &self.native) {
            (Some(c), _) => Runner::Interp(c, vm),
            (None, Some(f)) => Runner::Native(f.runner()),
            (None, None) => unreachable!("Ready::new prepares one engine's code"),
        }
    }
}

/// Trusted native code for a verified filter: the direct-call ABI (packet and lengths in
/// registers, `r0` returned) where it qualifies, else the region ABI (`udf_jit::TrustedFilter`).
pub(crate) fn trusted_filter(
    prog: &udf_bytecode::Program,
    facts: &udf_verifier::Verified,
) -> Result<udf_jit::TrustedFilter, udf_jit::JitError> {
    let target =
        udf_jit::Target::host().ok_or(udf_jit::JitError::NotHost(udf_jit::Target::X86_64))?;
    udf_jit::TrustedFilter::compile(&mut udf_jit::Jit::new(target)?, prog, facts)
}

/// Runs one filter on packet after packet: the interpreter with one `Vm`, or native code
/// through the direct call or one `NativeRunner` (its environment and stack set up once).
enum Runner<'r> {
    Interp(&'r udf_runtime::Compiled, &'r mut Vm),
    Native(udf_jit::FilterRunner<'r>),
}

impl Runner<'_> {
    /// The filter's return value on `data` (`r3` the wire length).
    #[inline]
    fn run(&mut self, data: &[u8], wire_len: u32, budget: u64) -> Result<u64, Fault> {
        let opts = RunOptions { budget, r3: u64::from(wire_len) };
        match self {
            Runner::Interp(c, vm) => {
                vm.run(c, Context::ReadOnly(data), &mut NoHelpers, &opts).map(|o| o.r0)
            }
            Runner::Native(r) => r.run(data, wire_len),
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
        compiled: Vec<(Link, Ready)>,
    },
}

impl Filters<'_> {
    /// The filter for packets of `link`, compiled on first use.
    fn for_link(&mut self, link: Link) -> Result<&Ready, Failure> {
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
pub(crate) fn compile_pcap(
    expr: &str,
    netmask: Option<u32>,
    engine: Engine,
    capture: &Path,
    link: Link,
) -> Result<Ready, Failure> {
    use udf_pcap::{CompileOptions, LinkType};
    let Some(lt) = LinkType::for_capture(link.linktype, link.big_endian) else {
        return Err(Failure::refused(miette!(
            code = "udf::pcap::linktype",
            help = "the pcap-filter front end compiles for the link types docs/pcap-filter.md lists \
                    (EN10MB, RAW, IPV4, IPV6, LINUX_SLL, LINUX_SLL2, NULL, LOOP, PPP, PPP_SERIAL, \
                    PPP_ETHER, C_HDLC, FRELAY, SLIP, ARCNET_LINUX, IEEE802_11, \
                    IEEE802_11_RADIO, PPI, PRISM_HEADER)",
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
pub(crate) fn load_cbpf(path: &Path, engine: Engine) -> Result<Ready, Failure> {
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
pub(crate) fn load_udf_filter(
    input: &Path,
    entry: Option<&str>,
    engine: Engine,
) -> Result<Ready, Failure> {
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
pub(crate) fn check_views(
    ready: &Ready,
    link: Link,
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

/// What `udf filter` prints or writes besides the filter's verdicts.
#[derive(Clone, Copy, Default)]
pub struct Output<'a> {
    /// `-w`: write the accepted packets to this pcap file.
    pub write: Option<&'a Path>,
    /// `--count`: print only the number of accepted packets.
    pub count: bool,
}

/// The per-packet lines, formatted into a buffer that goes to stdout in large writes.
struct Lines {
    buf: Vec<u8>,
}

impl Lines {
    const FLUSH_AT: usize = 1 << 16;

    fn new() -> Lines {
        Lines { buf: Vec::with_capacity(Lines::FLUSH_AT + 32) }
    }

    /// Adds `v` and a newline.
    #[inline]
    fn push(&mut self, mut v: u64) -> Result<(), Failure> {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[i..]);
        self.buf.push(b'\n');
        if self.buf.len() >= Lines::FLUSH_AT { self.flush() } else { Ok(()) }
    }

    /// Writes out what is buffered. A reader that stopped reading (`udf filter ... | head`)
    /// ends the process quietly with a shell's status for SIGPIPE (141), as `main` does.
    fn flush(&mut self) -> Result<(), Failure> {
        let mut out = std::io::stdout().lock();
        let r = out.write_all(&self.buf).and_then(|()| out.flush());
        self.buf.clear();
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
            Err(e) => Err(Failure::usage(miette!(code = "udf::io", "cannot write to stdout: {e}"))),
        }
    }
}

/// `-w`: the pcap file being written, under a temporary name until [`PcapWriter::finish`]
/// (`-w -`: stdout; a path that names something other than a regular file, `/dev/null` or a
/// pipe: written in place).
struct PcapWriter {
    dest: PathBuf,
    /// The temporary file renamed to `dest` when finished (`None`: written in place).
    tmp: Option<PathBuf>,
    out: Option<std::io::BufWriter<Box<dyn Write>>>,
    /// Copy pcap records as they are (the output's header is the capture's).
    verbatim: bool,
    /// The output's link type (pcapng input).
    linktype: u32,
    /// Time stamps in nanoseconds (pcapng input).
    nanos: bool,
}

impl PcapWriter {
    /// Creates the temporary file beside `dest` and writes the file header: `cap`'s own for a
    /// pcap file, else one for `link` (the first interface's).
    fn create(dest: &Path, cap: &Capture, link: Link) -> Result<PcapWriter, Failure> {
        let cannot = |e: std::io::Error| {
            Failure::usage(miette!(code = "udf::io", "cannot write {}: {e}", dest.display()))
        };
        let in_place = std::fs::metadata(dest).is_ok_and(|m| !m.is_file());
        let (file, tmp): (Box<dyn Write>, _) = if dest.as_os_str() == "-" {
            (Box::new(std::io::stdout()), None)
        } else if in_place {
            (Box::new(std::fs::OpenOptions::new().write(true).open(dest).map_err(cannot)?), None)
        } else {
            let name = dest.file_name().map_or("out".into(), |n| n.to_string_lossy().into_owned());
            let tmp = dest.with_file_name(format!(".{name}.udf-{}.tmp", std::process::id()));
            (Box::new(std::fs::File::create(&tmp).map_err(cannot)?), Some(tmp))
        };
        let mut w = PcapWriter {
            dest: dest.to_path_buf(),
            tmp,
            out: Some(std::io::BufWriter::with_capacity(1 << 20, file)),
            verbatim: cap.pcap_header().is_some(),
            linktype: link.linktype,
            nanos: cap.nanosecond(),
        };
        let header = match cap.pcap_header() {
            Some(h) => h.to_vec(),
            None => {
                let magic: u32 = if w.nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
                let mut h = Vec::with_capacity(24);
                h.extend(magic.to_le_bytes());
                h.extend(2u16.to_le_bytes());
                h.extend(4u16.to_le_bytes());
                h.extend([0u8; 8]);
                h.extend(link.snaplen.to_le_bytes());
                h.extend(link.linktype.to_le_bytes());
                h
            }
        };
        w.write(&header)?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        let out = self.out.as_mut().expect("open until finished");
        out.write_all(bytes).map_err(|e| {
            // A reader of `-w -` or of a pipe that stopped reading: as for the lines.
            if e.kind() == std::io::ErrorKind::BrokenPipe && self.tmp.is_none() {
                std::process::exit(141);
            }
            Failure::usage(miette!(code = "udf::io", "cannot write {}: {e}", self.dest.display()))
        })
    }

    /// Adds packet `n` of `capture`.
    #[inline]
    fn packet(&mut self, p: &Packet<'_>, n: u64, capture: &Path) -> Result<(), Failure> {
        if self.verbatim
            && let Some(record) = p.record
        {
            return self.write(record);
        }
        if p.link.linktype != self.linktype {
            return Err(Failure::refused(miette!(
                code = "udf::filter::linktype",
                "{}: packet {n} (block at byte {}): link type {}, not the first interface's \
                 ({}): a pcap file holds packets of one link type; nothing was written",
                capture.display(),
                p.offset,
                p.link.name(),
                Link::new(self.linktype, 0).name()
            )));
        }
        let frac = if self.nanos { p.time.nanos } else { p.time.nanos / 1000 };
        let mut h = [0u8; 16];
        h[..4].copy_from_slice(&(p.time.secs as u32).to_le_bytes());
        h[4..8].copy_from_slice(&frac.to_le_bytes());
        h[8..12].copy_from_slice(&(p.data.len() as u32).to_le_bytes());
        h[12..].copy_from_slice(&p.wire_len.to_le_bytes());
        self.write(&h)?;
        self.write(p.data)
    }

    /// Flushes the file and gives it its name.
    fn finish(mut self) -> Result<(), Failure> {
        let io = |e: std::io::Error, dest: &Path| {
            Failure::usage(miette!(code = "udf::io", "cannot write {}: {e}", dest.display()))
        };
        let out = self.out.as_mut().expect("open until finished");
        out.flush().map_err(|e| io(e, &self.dest))?;
        self.out = None;
        match self.tmp.take() {
            Some(tmp) => std::fs::rename(&tmp, &self.dest).map_err(|e| {
                let _ = std::fs::remove_file(&tmp);
                io(e, &self.dest)
            }),
            None => Ok(()),
        }
    }
}

impl Drop for PcapWriter {
    /// A writer not finished leaves nothing behind.
    fn drop(&mut self) {
        if self.out.take().is_some()
            && let Some(tmp) = &self.tmp
        {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Progress on a terminal: packets read and the share of the file, once a run is long.
struct Progress<'a> {
    on: bool,
    capture: &'a Path,
    start: std::time::Instant,
    /// When it was last shown (since `start`).
    last: std::time::Duration,
    shown: bool,
}

impl Progress<'_> {
    /// Packets between looks at the clock.
    const EVERY: u64 = 1 << 16;

    #[cold]
    fn show(&mut self, n: u64, (at, size): (u64, u64)) {
        // From half a second on, at most ten times a second.
        let now = self.start.elapsed();
        if now < std::time::Duration::from_millis(500)
            || now < self.last + std::time::Duration::from_millis(100)
        {
            return;
        }
        self.last = now;
        let pct = (at * 100).checked_div(size).unwrap_or(100);
        eprint!("\r{}: {n} packets ({pct}%)\x1b[K", self.capture.display());
        self.shown = true;
    }

    fn done(&self) {
        if self.shown {
            eprint!("\r\x1b[K");
        }
    }
}

/// `udf filter`: a filter over every packet of a capture: one return value per line, or (`out`)
/// the accepted packets written to a pcap file, or their number.
pub fn command(
    json: bool,
    input: FilterInput<'_>,
    capture: &Path,
    engine: Engine,
    out: Output<'_>,
) -> Result<(), Failure> {
    let unreadable = |why: String| {
        Failure::usage(miette!(code = "udf::capture", "{}: {why}", capture.display()))
    };
    if out.write.is_some_and(|w| w.as_os_str() == "-") && (json || out.count) {
        return Err(Failure::usage(miette!(
            code = "udf::usage",
            "-w - writes the packets to stdout: it does not go with --count or --json"
        )));
    }
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
    let mut cap = Capture::open(capture).map_err(unreadable)?;
    // An expression is compiled before the first packet is read, so its errors show even for a
    // capture with no packets (for the capture's first link; Ethernet when it names none).
    let first = cap.link().unwrap_or(Link::new(1, crate::capture::MAX_SNAPLEN));
    let ready = filters.for_link(first)?;
    if cap.link().is_some() {
        check_views(ready, first, capture, "the capture's ")?;
    }
    let mut writer = match out.write {
        Some(dest) => Some(PcapWriter::create(dest, &cap, first)?),
        None => None,
    };
    let lines = !out.count && out.write.is_none();
    let mut progress = Progress {
        on: !json && !lines && std::io::stderr().is_terminal() && std::io::stdout().is_terminal(),
        capture,
        start: std::time::Instant::now(),
        last: std::time::Duration::ZERO,
        shown: false,
    };
    let mut text = (!json && lines).then(Lines::new);
    let mut results = Vec::new();
    let keep_results = json && lines;
    let mut vm = Vm::new();
    let mut accepted = 0u64;
    let mut packets = cap.packets();
    let mut pending: Option<Packet<'_>> = None;
    // One pass per run of packets of the same link: its filter and runner stay put.
    let outcome = 'links: loop {
        let mut packet = match pending.take().map(Ok).or_else(|| packets.next_packet()) {
            None => break Ok(()),
            Some(Err(why)) => break Err(unreadable(why)),
            Some(Ok(p)) => p,
        };
        let link = packet.link;
        let n = packets.count();
        let ready = match filters.for_link(link) {
            Ok(r) => r,
            Err(f) => break Err(f),
        };
        if let Err(f) = check_views(ready, link, capture, &format!("packet {n}: ")) {
            break Err(f);
        }
        let budget = ready.facts.max_insns;
        let mut runner = ready.runner(&mut vm);
        loop {
            let n = packets.count();
            if !ready.facts.admits(packet.data.len()) {
                break 'links Err(Failure::refused(miette!(
                    code = "udf::context",
                    "{}: packet {n}: {} bytes, a length the filter was not verified for; nothing ran",
                    capture.display(),
                    packet.data.len()
                )));
            }
            let r0 = match runner.run(packet.data, packet.wire_len, budget) {
                Ok(r0) => r0,
                Err(f) => {
                    break 'links Err(Failure::refused(miette!(
                        code = "udf::fault",
                        "{}: packet {n}: {f}",
                        capture.display()
                    )));
                }
            };
            if r0 != 0 {
                accepted += 1;
                if let Some(w) = &mut writer
                    && let Err(f) = w.packet(&packet, n, capture)
                {
                    break 'links Err(f);
                }
            }
            if let Some(t) = &mut text
                && let Err(f) = t.push(r0)
            {
                break 'links Err(f);
            }
            if keep_results {
                results.push(r0);
            }
            if progress.on && n.is_multiple_of(Progress::EVERY) {
                progress.show(n, packets.progress());
            }
            packet = match packets.next_packet() {
                None => break 'links Ok(()),
                Some(Err(why)) => break 'links Err(unreadable(why)),
                Some(Ok(p)) if p.link == link => p,
                Some(Ok(p)) => {
                    pending = Some(p);
                    continue 'links;
                }
            };
        }
    };
    progress.done();
    let n = packets.count();
    let mut outcome = outcome;
    if let Some(t) = &mut text {
        outcome = outcome.and(t.flush());
    }
    let written = match (writer, &outcome) {
        (Some(w), Ok(())) => match w.finish() {
            Ok(()) => out.write,
            Err(f) => {
                outcome = Err(f);
                None
            }
        },
        // Dropped: the temporary file goes.
        _ => None,
    };
    if json {
        // With the error after them when the capture breaks off: one document.
        let mut doc = json!({"entry": entry, "packets": n, "accepted": accepted});
        if keep_results {
            doc["results"] = json!(results);
        }
        if out.write.is_some() {
            doc["written"] = json!(written.map(|p| p.display().to_string()));
        }
        emit(doc);
    } else if out.count && outcome.is_ok() {
        let mut t = Lines::new();
        t.push(accepted)?;
        t.flush()?;
    }
    outcome
}
