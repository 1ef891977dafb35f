//! Checking and lowering one entry point to bytecode, in one pass that keeps going after errors.
//!
//! Registers: `r9` holds the context pointer for the whole run; filters keep the captured length
//! in `r8`, the wire length in `r7` and the transport-header offset in `r6`; other entries give
//! `r6`-`r8` to variables (the rest live in 8-byte stack slots). Expressions are evaluated on a
//! stack of temporaries `r1`..`r5`, `r0`, so `emit`'s arguments land in `r1`..`r3` directly.
//! Values are kept canonical in 64 bits: zero-extended for unsigned types, sign-extended for
//! signed ones, so comparisons are plain 64-bit jumps.
//!
//! Filters: a packet read past the captured bytes jumps to the reject exit. The lowering keeps,
//! per path, how many bytes are already known to be captured (and how many past the transport
//! header), so a covered read is not tested again; for the filter's result it first tests, once,
//! the furthest byte that every accepting evaluation reads (hoisting is sound there because a
//! failed test and a false result both reject).

use std::collections::BTreeMap;

use udf_bytecode::builder::{BuildError, Label, ProgramBuilder};
use udf_bytecode::{
    AluOp, Endian, Insn, JmpCond, Program, ProgramType, Reg, Size, Source, SwapBits, Width,
};

use crate::Entry;
use crate::ast::{
    BinOp, Block, EntryBody, EntryDef, EntryKind, Expr, ExprKind, Order, Stmt, TypeExpr, UnOp,
};
use crate::diag::Diagnostic;
use crate::items::{FieldTy, Items, Scalar, apply, unify};
use crate::limits::{MAX_DEPTH, MAX_INSNS, MAX_LOWERED};
use crate::packet::{self, IPV4, ViewBase};
use crate::srcmap::{SourceMap, Span};

/// The levels of [`MAX_DEPTH`] an inlined helper's body counts for, besides its expressions.
pub const INLINE_LEVELS: usize = 4;

const TEMPS: [Reg; 6] = [Reg::R1, Reg::R2, Reg::R3, Reg::R4, Reg::R5, Reg::R0];
const CTX: Reg = Reg::R9;
const LEN: Reg = Reg::R8;
const WIRE: Reg = Reg::R7;
const TBASE: Reg = Reg::R6;
/// What an accepting filter returns: tcpdump's snap length.
pub const ACCEPT_LEN: i32 = 262_144;

/// A failure already reported.
struct Reported;
type R<T> = Result<T, Reported>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Home {
    Reg(Reg),
    Stack(i16),
}

#[derive(Clone, Copy, Debug)]
enum Opnd {
    Imm(u64),
    Reg(Reg),
}

/// A value: where it is, its type (`None`: an untyped literal) and what is known of its range
/// (unsigned, inclusive), for index proofs.
#[derive(Clone, Copy, Debug)]
struct Val {
    op: Opnd,
    ty: Option<Scalar>,
    range: Option<(u64, u64)>,
    /// The range comes from an enclosing guard, which the verifier may not see.
    guarded: bool,
}

#[derive(Clone, Debug)]
enum VarKind {
    Scalar {
        home: Home,
        ty: Scalar,
        mutable: bool,
    },
    /// A layout parameter at this context offset.
    Object {
        layout: usize,
        offset: u32,
    },
    Packet,
}

#[derive(Clone, Debug)]
struct Var {
    name: String,
    kind: VarKind,
    range: Option<(u64, u64)>,
    guarded: bool,
}

/// A variable's range before a guard narrowed it: (variable, range, guarded).
type SavedGuard = (usize, Option<(u64, u64)>, bool);

/// Packet bytes known to be captured on the current path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
struct Pkt {
    fixed: u64,
    /// The transport base is in `r6` (computed by instruction `.0`) and `.1` bytes past it are
    /// captured.
    transport: Option<(usize, u64)>,
}

impl Pkt {
    fn meet(self, o: Pkt) -> Pkt {
        Pkt {
            fixed: self.fixed.min(o.fixed),
            transport: match (self.transport, o.transport) {
                (Some((a, x)), Some((b, y))) if a == b => Some((a, x.min(y))),
                _ => None,
            },
        }
    }
}

struct Frame {
    /// Where `return` jumps, and the temporary the value goes to (`None`: the entry itself).
    ret: Option<(Label, Reg, Option<Scalar>)>,
    loops_base: usize,
    base_depth: usize,
}

struct Lower<'a, 'd> {
    items: &'a Items<'a>,
    kind: EntryKind,
    /// The code so far; each instruction records the span it comes from.
    code: ProgramBuilder<Span>,
    span: Span,
    diags: &'d mut Vec<Diagnostic>,
    vars: Vec<Var>,
    free_regs: Vec<Reg>,
    loops: Vec<(Label, Label)>,
    frames: Vec<Frame>,
    inlining: Vec<String>,
    pkt: Pkt,
    accept: Label,
    reject: Label,
    views: BTreeMap<&'static str, (usize, ViewBase)>,
    /// The views the code reads (for [`Entry::views`]).
    used_views: std::collections::BTreeSet<&'static str>,
    layouts: Vec<crate::items::Layout>,
    /// The call sites of the helpers being inlined, outermost first (with `inlining`).
    call_spans: Vec<Span>,
    /// How deeply the lowering recurses now (expressions, statements, conditions, inlined
    /// bodies together): at most [`MAX_DEPTH`].
    nest: usize,
    /// Statements and expressions lowered so far, helpers once per call: at most
    /// [`MAX_LOWERED`].
    lowered: u64,
    /// A failure was reported elsewhere (recursion, a syntax error) or is reported by the
    /// caller: the entry point is not finished.
    poisoned: bool,
    /// A `udf::limit::*` error was reported for this entry point (one is enough).
    limit_reported: bool,
    /// Where a limit was first crossed inside inlined helpers: the innermost call.
    crossed_in: Option<(Span, String)>,
    /// Every `for` loop: its span and how many times it may run, to name a loop the
    /// verifier's budget does not cover.
    fors: Vec<(Span, u64)>,
    /// [`stack_position`] when the lowering began.
    stack_base: usize,
    /// How many errors the file had when the lowering began.
    diags_base: usize,
}

/// The errors one entry point may add before its lowering stops: an error in a helper is
/// reported again at every copy inlined (the copies are merged at the end), and there may be
/// millions of them.
const MAX_ENTRY_ERRORS: usize = 1000;

/// The most stack the lowering of one entry point may take, in bytes: three quarters of the
/// smallest stack a Rust thread gets by default (2 MiB). [`MAX_DEPTH`] keeps it far below in a
/// release build, and about at it in a debug build.
const STACK_GUARD: usize = 3 << 19;

/// An address on the current stack (of a local, never read through): how deep the lowering's
/// recursion is, in bytes, is the distance between two of them.
#[inline(never)]
fn stack_position() -> usize {
    let here = 0u8;
    std::hint::black_box(&here) as *const u8 as usize
}

/// `filter NAME = pcap "EXPR";`: the pcap-filter front end (Ethernet, tcpdump's snap length).
/// Its errors point into the string literal.
fn pcap_entry(
    def: &EntryDef,
    text: &str,
    span: Span,
    diags: &mut Vec<Diagnostic>,
) -> Option<Entry> {
    if def.kind != EntryKind::Filter {
        diags.push(
            Diagnostic::new(
                "udf::type::mismatch",
                "only a filter can be written as a pcap-filter expression",
            )
            .label(span, "a pcap-filter(7) expression"),
        );
        return None;
    }
    let opts = crate::pcap::Options {
        snaplen: ACCEPT_LEN as u32,
        ..crate::pcap::Options::default()
    };
    match crate::pcap::compile(text, &opts) {
        Ok(c) => Some(Entry {
            name: def.name.name.clone(),
            ty: ProgramType::Filter,
            map: SourceMap {
                spans: vec![span; c.prog.insns().len()],
            },
            prog: c.prog,
            ctx_size: None,
            // Compiled for Ethernet (the pcap front end's default link type).
            views: vec!["ether"],
            facts: c.facts,
            span: def.span,
        }),
        Err(mut d) => {
            // Expression offsets to source offsets: after the opening quote (exact when the
            // literal has no escapes), kept inside the literal.
            let inside = |o: u32| (span.start + 1 + o).min(span.end.saturating_sub(1));
            for l in &mut d.labels {
                l.span = Span {
                    start: inside(l.span.start),
                    end: inside(l.span.end).max(inside(l.span.start)),
                };
            }
            if d.labels.is_empty() {
                d.labels.push(crate::diag::Label {
                    span,
                    text: "this expression".into(),
                });
            }
            diags.push(d);
            None
        }
    }
}

/// Compiles one entry point; errors go to `diags`.
pub(crate) fn entry(
    items: &Items<'_>,
    def: &EntryDef,
    diags: &mut Vec<Diagnostic>,
) -> Option<Entry> {
    let block = match &def.body {
        EntryBody::Block(b) => b,
        EntryBody::Pcap(text, span) => return pcap_entry(def, text, *span, diags),
    };
    let before = diags.len();
    let mut layouts = items.layouts.clone();
    let mut views = BTreeMap::new();
    for (name, base, fields) in packet::VIEWS {
        views.insert(*name, (layouts.len(), *base));
        layouts.push(packet::view_layout(name, fields));
    }
    let request = layouts.len();
    layouts.push(packet::request_layout());
    let mut code = ProgramBuilder::with_origin(def.name.span);
    let accept = code.label();
    let reject = code.label();
    let mut l = Lower {
        items,
        kind: def.kind,
        code,
        span: def.name.span,
        diags,
        vars: Vec::new(),
        free_regs: Vec::new(),
        loops: Vec::new(),
        frames: vec![Frame {
            ret: None,
            loops_base: 0,
            base_depth: 0,
        }],
        inlining: Vec::new(),
        pkt: Pkt::default(),
        accept,
        reject,
        views,
        used_views: Default::default(),
        layouts,
        call_spans: Vec::new(),
        nest: 0,
        lowered: 0,
        poisoned: false,
        limit_reported: false,
        crossed_in: None,
        fors: Vec::new(),
        stack_base: stack_position(),
        diags_base: 0,
    };
    l.diags_base = l.diags.len();
    let ctx_size = l.params(def, request);
    l.emit(mov(CTX, Source::Reg(Reg::R1)));
    if def.kind == EntryKind::Filter {
        l.emit(mov(LEN, Source::Reg(Reg::R2)));
        l.emit(mov(WIRE, Source::Reg(Reg::R3)));
    } else {
        l.free_regs = vec![Reg::R8, Reg::R7, Reg::R6];
    }
    l.body(def, block);
    if l.over() && !l.limit_reported {
        let d = l.size_error(def.name.span, "this entry point grows past the limit");
        l.diags.push(d);
    }
    if l.diags.len() > before || l.poisoned {
        return None;
    }
    let (prog, map) = match l.finish() {
        Ok(x) => x,
        Err(d) => {
            l.diags.push(d.label(def.span, "in this entry point"));
            return None;
        }
    };
    let ty = match def.kind {
        EntryKind::Filter => ProgramType::Filter,
        EntryKind::Owns => ProgramType::Owns,
        EntryKind::Acl => ProgramType::Acl,
        EntryKind::Size => ProgramType::Size,
    };
    let mut conf = udf_verifier::Config::new(ty);
    conf.ctx_size = ctx_size;
    match udf_verifier::verify(&prog, &conf) {
        Ok(facts) => Some(Entry {
            name: def.name.name.clone(),
            ty,
            prog,
            ctx_size,
            facts,
            map,
            span: def.span,
            views: l.used_views.iter().copied().collect(),
        }),
        Err(e) => {
            if let Some(d) = user_limit(&e, &map, &l.fors, def, prog.insns().get(e.index)) {
                l.diags.push(d);
                return None;
            }
            let at = map.span(e.index).unwrap_or(def.name.span);
            let insn = prog
                .insns()
                .get(e.index)
                .map(|i| i.to_string())
                .unwrap_or_default();
            let regs: Vec<String> = e.regs.iter().map(|(r, v)| format!("{r} = {v}")).collect();
            l.diags.push(
                Diagnostic::new(
                    "udf::compiler_bug",
                    format!(
                        "the verifier rejected the compiled `{}` at instruction {} (`{insn}`): {}",
                        def.name.name, e.index, e.rule
                    ),
                )
                .label(at, "this produced the instruction")
                .label(def.name.span, "in this entry point")
                .help(format!(
                    "this is a bug in udfkit's compiler, not in your program; state before it: {}",
                    regs.join(", ")
                )),
            );
            None
        }
    }
}

/// A verifier rejection of compiled code that the program can avoid (a loop that runs too long
/// for the budget, loops nested too deep): a user error naming the loop, not a compiler bug.
fn user_limit(
    e: &udf_verifier::Rejection,
    map: &SourceMap,
    fors: &[(Span, u64)],
    def: &EntryDef,
    insn: Option<&Insn>,
) -> Option<Diagnostic> {
    use udf_verifier::Rule;
    // The `for` loop that produced the instructions `head..=tail`: the smallest one whose span
    // holds both of theirs.
    let loop_of = |head: usize, tail: usize| -> Option<(Span, u64)> {
        let (h, t) = (map.span(head)?, map.span(tail)?);
        let inside = |o: Span, i: Span| o.start <= i.start && i.end <= o.end;
        fors.iter()
            .filter(|(s, _)| inside(*s, h) && inside(*s, t))
            .min_by_key(|(s, _)| s.end - s.start)
            .copied()
            .or(Some((h, 0)))
    };
    let name = &def.name.name;
    match &e.rule {
        Rule::BudgetExceeded { budget, in_loop } => {
            let d = Diagnostic::new(
                "udf::budget",
                format!(
                    "the worst case of `{name}` runs more than the verifier's budget of {budget} instructions"
                ),
            );
            Some(
                match in_loop.and_then(|(h, t, k)| Some((loop_of(h, t)?, k))) {
                    Some(((span, runs), k)) => {
                        let runs = if runs > 0 {
                            format!(" (it may run {runs} times)")
                        } else {
                            String::new()
                        };
                        d.label(
                            span,
                            format!("the budget runs out in iteration {k} of this loop{runs}"),
                        )
                        .label(def.name.span, "in this entry point")
                        .help(format!(
                            "every path of a program must finish within {budget} instructions \
                             (udf_verifier::DEFAULT_BUDGET), counting every iteration of its \
                             loops: lower this loop's `max` (or its constant bound) below {k}, \
                             or do less in each iteration"
                        ))
                    }
                    None => d
                        .label(
                            map.span(e.index).unwrap_or(def.name.span),
                            "the budget runs out here",
                        )
                        .label(def.name.span, "in this entry point")
                        .help(format!(
                            "every path of a program must finish within {budget} instructions \
                         (udf_verifier::DEFAULT_BUDGET): lower the loops' bounds or do less"
                        )),
                },
            )
        }
        Rule::NoLoopBound { head, tail, .. } => {
            let (span, _) = loop_of(*head, *tail)?;
            Some(
                Diagnostic::new(
                    "udf::loop::bound",
                    format!("the verifier cannot prove that a loop of `{name}` ends"),
                )
                .label(span, "this loop")
                .label(def.name.span, "in this entry point")
                .help("bound it with a constant: `for k in 0..EXPR max N`"),
            )
        }
        // `emit(start, count, kind)` with a start and count whose sum may overflow: the
        // language leaves their ranges to the program.
        Rule::HelperArg { reg: Reg::R2, .. } if matches!(insn, Some(Insn::Call { imm: 1 })) => {
            Some(
                Diagnostic::new(
                    "udf::emit::range",
                    "`emit`'s start plus count may overflow 64 bits",
                )
                .label(
                    map.span(e.index).unwrap_or(def.name.span),
                    "this extent may wrap around",
                )
                .label(def.name.span, "in this entry point")
                .help(
                    "bound them so that their sum fits 64 bits: bind the value with `let` and \
                     guard it (`let s = x.start; if s < 1 << 48 { emit(s, 1, 0); }`), or mask \
                     it, or read it from a narrower field",
                ),
            )
        }
        Rule::LoopNesting { depth, max } => Some(
            Diagnostic::new(
                "udf::limit::loops",
                format!("`{name}` nests loops {depth} deep; the verifier analyses at most {max}"),
            )
            .label(
                map.span(e.index).unwrap_or(def.name.span),
                "this loop is too deep",
            )
            .label(def.name.span, "in this entry point")
            .help(format!(
                "nest at most {max} loops, e.g. by merging two loops into one"
            )),
        ),
        _ => None,
    }
}

fn mov(dst: Reg, src: Source) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst,
        src,
    }
}

fn alu(width: Width, op: AluOp, dst: Reg, src: Source) -> Insn {
    Insn::Alu {
        width,
        op,
        dst,
        src,
    }
}

fn imm_fits(v: u64) -> Option<i32> {
    let s = v as i64;
    (s >= i32::MIN as i64 && s <= i32::MAX as i64).then_some(s as i32)
}

fn size_of_bytes(n: u32) -> Size {
    match n {
        1 => Size::B,
        2 => Size::H,
        4 => Size::W,
        _ => Size::DW,
    }
}

impl<'a> Lower<'a, '_> {
    // ---- emission -------------------------------------------------------------------------

    fn emit(&mut self, i: Insn) {
        self.code.set_origin(self.span);
        self.code.emit(i);
    }

    fn label(&mut self) -> Label {
        self.code.label()
    }

    fn bind(&mut self, l: Label) {
        self.code.bind(l);
    }

    /// `goto l`, unless control cannot reach here (code after `return` or `break` is not given
    /// a useless jump).
    fn ja(&mut self, l: Label) {
        if self.code.reachable() {
            self.code.set_origin(self.span);
            self.code.ja(l);
        }
    }

    fn jump(&mut self, cond: JmpCond, dst: Reg, src: Source, l: Label) {
        self.code.set_origin(self.span);
        self.code.jump_if(Width::W64, cond, dst, src, l);
    }

    fn error(&mut self, d: Diagnostic) -> Reported {
        self.diags.push(d);
        Reported
    }

    fn finish(&mut self) -> Result<(Program, SourceMap), Diagnostic> {
        // Accept and reject exits (used by filters; harmless, unreachable, elsewhere).
        if self.kind == EntryKind::Filter {
            self.bind(self.accept);
            self.emit(mov(Reg::R0, Source::Imm(ACCEPT_LEN)));
            self.emit(Insn::Exit);
            self.bind(self.reject);
            self.emit(mov(Reg::R0, Source::Imm(0)));
            self.emit(Insn::Exit);
        }
        self.code.drop_jumps_to_next();
        match self.code.finish() {
            Ok((prog, spans)) => Ok((prog, SourceMap { spans })),
            Err(BuildError::TooFar { at, .. }) => Err(Diagnostic::new(
                "udf::unsupported::size",
                "the program is too large for a 16-bit jump",
            )
            .label(
                self.code.origin_of(at).copied().unwrap_or(self.span),
                "this jump",
            )),
            Err(e) => Err(Diagnostic::new("udf::compiler_bug", format!("{e}"))),
        }
    }

    // ---- limits ---------------------------------------------------------------------------

    /// Whether the entry point has grown past a size limit.
    fn over(&self) -> bool {
        self.code.len() > MAX_INSNS || self.lowered > MAX_LOWERED
    }

    fn size_error(&self, at: Span, label: &str) -> Diagnostic {
        let what = if self.code.len() > MAX_INSNS {
            format!("more than {MAX_INSNS} instructions")
        } else {
            format!("more than {MAX_LOWERED} statements and expressions, helpers inlined")
        };
        Diagnostic::new(
            "udf::limit::size",
            format!("this makes the entry point compile to {what}"),
        )
        .label(at, label.to_string())
        .help("split the work over several entry points, or write less code in it")
    }

    /// Enters one level of the lowering's recursion (an expression, a statement, a condition):
    /// refused past [`MAX_DEPTH`] levels, or once the entry point is too large.
    fn enter(&mut self, span: Span) -> R<()> {
        if self.diags.len() > self.diags_base + MAX_ENTRY_ERRORS {
            self.poisoned = true;
            return Err(Reported);
        }
        if self.over() {
            if self.crossed_in.is_none()
                && let (Some(s), Some(n)) = (self.call_spans.last(), self.inlining.last())
            {
                self.crossed_in = Some((*s, n.clone()));
            }
            self.poisoned = true;
            return Err(Reported);
        }
        // The levels bound the stack the lowering needs; the stack itself is measured too, as
        // a last guard (it differs between builds, so it is not the limit programs meet).
        let used = self.stack_base.abs_diff(stack_position());
        if self.nest >= MAX_DEPTH || used > STACK_GUARD {
            if self.limit_reported {
                self.poisoned = true;
                return Err(Reported);
            }
            self.limit_reported = true;
            let mut d = Diagnostic::new(
                "udf::limit::depth",
                format!("this nests deeper than the compiler's limit of {MAX_DEPTH} levels"),
            )
            .label(span, "the limit is reached here");
            // The outermost call first: that is what the entry point's author wrote.
            for (s, n) in self.call_spans.iter().zip(&self.inlining).take(4) {
                d = d.label(*s, format!("inside `{n}`, inlined here"));
            }
            return Err(self.error(d.help(format!(
                "helpers are inlined, so their bodies nest inside the expression that calls \
                 them; split the expression with `let`, or call fewer helpers inside each \
                 other (at most {MAX_DEPTH} levels)"
            ))));
        }
        self.nest += 1;
        self.lowered += 1;
        Ok(())
    }

    // ---- variables ------------------------------------------------------------------------

    fn params(&mut self, def: &EntryDef, request: usize) -> Option<u32> {
        let want: &[&str] = match def.kind {
            EntryKind::Filter => &["packet"],
            EntryKind::Owns | EntryKind::Size => &["layout"],
            EntryKind::Acl => &["layout", "request"],
        };
        let shape = match def.kind {
            EntryKind::Filter => "filter NAME(p: packet)",
            EntryKind::Owns => "owns NAME(x: LAYOUT)",
            EntryKind::Acl => "acl NAME(x: LAYOUT, req: request) -> bool",
            EntryKind::Size => "size NAME(x: LAYOUT) -> u64",
        };
        let expect_ret = match def.kind {
            EntryKind::Acl => Some("bool"),
            EntryKind::Size => Some("u64"),
            _ => None,
        };
        let ret_name = match &def.ret {
            Some(TypeExpr::Named(n)) => Some(n.name.as_str()),
            Some(_) => Some("?"),
            None => None,
        };
        if ret_name != expect_ret {
            let span = def.ret.as_ref().map_or(def.name.span, TypeExpr::span);
            self.diags.push(
                Diagnostic::new(
                    "udf::entry::result",
                    format!(
                        "`{}` entry points have this form: {shape}",
                        def.kind.keyword()
                    ),
                )
                .label(span, "wrong result type")
                .help(format!("write `{shape}`")),
            );
        }
        if def.params.len() != want.len() {
            self.diags.push(
                Diagnostic::new(
                    "udf::entry::params",
                    format!("`{}` takes {} parameter(s)", def.kind.keyword(), want.len()),
                )
                .label(def.name.span, format!("{} given", def.params.len()))
                .help(format!("write `{shape}`")),
            );
            return None;
        }
        let mut size = None;
        for (p, w) in def.params.iter().zip(want) {
            let tname = match &p.ty {
                TypeExpr::Named(n) => n.name.as_str(),
                _ => "",
            };
            let kind = match *w {
                "packet" if tname == "packet" => Some(VarKind::Packet),
                "request" if tname == "request" => Some(VarKind::Object {
                    layout: request,
                    offset: 0,
                }),
                "layout" => match self.items.layout_index.get(tname) {
                    Some(&i) => {
                        let offset = if def.kind == EntryKind::Acl { 16 } else { 0 };
                        size = Some(self.items.layouts[i].size);
                        Some(VarKind::Object { layout: i, offset })
                    }
                    None => None,
                },
                _ => None,
            };
            match kind {
                Some(kind) => self.vars.push(Var {
                    name: p.name.name.clone(),
                    kind,
                    range: None,
                    guarded: false,
                }),
                None => {
                    self.diags.push(
                        Diagnostic::new(
                            "udf::entry::params",
                            format!("this parameter must be a {w}"),
                        )
                        .label(p.ty.span(), format!("expected a {w}"))
                        .help(format!("write `{shape}`")),
                    );
                }
            }
        }
        size
    }

    fn lookup(&self, name: &str) -> Option<usize> {
        self.vars.iter().rposition(|v| v.name == name)
    }

    fn alloc_home(&mut self, span: Span) -> R<Home> {
        if let Some(r) = self.free_regs.pop() {
            return Ok(Home::Reg(r));
        }
        match self.code.alloc_slot(8) {
            Ok(off) => Ok(Home::Stack(off)),
            Err(_) => Err(self.error(
                Diagnostic::new(
                    "udf::unsupported::stack",
                    "too many variables live at once for the 512-byte stack",
                )
                .label(span, "this one does not fit"),
            )),
        }
    }

    /// Ends a scope: variables declared since `mark` go, their homes are freed.
    fn pop_scope(&mut self, mark: usize) {
        while self.vars.len() > mark {
            let v = self.vars.pop().expect("nonempty");
            if let VarKind::Scalar { home, .. } = v.kind {
                match home {
                    Home::Reg(r) => self.free_regs.push(r),
                    Home::Stack(_) => self.code.free_slot(8),
                }
            }
        }
    }

    fn store(&mut self, home: Home, op: Opnd, depth: usize) -> R<()> {
        match (home, op) {
            (Home::Reg(r), Opnd::Reg(s)) => {
                if r != s {
                    self.emit(mov(r, Source::Reg(s)));
                }
            }
            (Home::Reg(r), Opnd::Imm(v)) => self.load_const(r, v),
            (Home::Stack(off), _) => {
                let r = self.materialize(op, depth)?;
                self.emit(Insn::Store {
                    size: Size::DW,
                    base: Reg::R10,
                    off,
                    src: Source::Reg(r),
                });
            }
        }
        Ok(())
    }

    fn load_const(&mut self, r: Reg, v: u64) {
        if let Some(i) = imm_fits(v) {
            self.emit(mov(r, Source::Imm(i)));
        } else if v <= u32::MAX as u64 {
            self.emit(alu(Width::W32, AluOp::Mov, r, Source::Imm(v as u32 as i32)));
        } else {
            self.emit(Insn::LoadImm64 { dst: r, imm: v });
        }
    }

    fn temp(&mut self, depth: usize) -> R<Reg> {
        match TEMPS.get(depth) {
            Some(r) => Ok(*r),
            None => Err(self.error(
                Diagnostic::new(
                    "udf::unsupported::depth",
                    "this expression nests too deeply for the registers",
                )
                .label(self.span, "too deep")
                .help("split it with `let`"),
            )),
        }
    }

    /// The value in the temporary of `depth` (a copy, free to change).
    fn materialize(&mut self, op: Opnd, depth: usize) -> R<Reg> {
        let t = self.temp(depth)?;
        match op {
            Opnd::Reg(r) if r == t => {}
            Opnd::Reg(r) => self.emit(mov(t, Source::Reg(r))),
            Opnd::Imm(v) => self.load_const(t, v),
        }
        Ok(t)
    }

    // ---- bodies and statements -------------------------------------------------------------

    fn body(&mut self, def: &EntryDef, block: &Block) {
        let _ = self.block_inner(block, 0, true);
        self.span = block.span;
        let has_result = tail_of(block).is_some() || ends_in_return(block);
        match def.kind {
            EntryKind::Owns => {
                self.emit(mov(Reg::R0, Source::Imm(0)));
                self.emit(Insn::Exit);
            }
            EntryKind::Filter if !has_result => self.diags.push(
                Diagnostic::new(
                    "udf::type::expected_bool",
                    "a filter's body must end in a bool: true accepts the packet",
                )
                .label(block.span, "this block has no value"),
            ),
            EntryKind::Acl | EntryKind::Size if !has_result => self.diags.push(
                Diagnostic::new(
                    "udf::type::mismatch",
                    format!("a `{}` body must end in its result", def.kind.keyword()),
                )
                .label(block.span, "this block has no value"),
            ),
            _ => {}
        }
    }

    /// Lowers a block for its value (`None` when it has none).
    fn block(&mut self, b: &Block, depth: usize) -> R<Option<Val>> {
        self.block_inner(b, depth, false)
    }

    /// Lowers a block for its effects: a trailing `if` is a statement.
    fn block_effect(&mut self, b: &Block, depth: usize) -> R<()> {
        let mark = self.vars.len();
        let guards = self
            .vars
            .iter()
            .map(|v| (v.range, v.guarded))
            .collect::<Vec<_>>();
        let mut failed = false;
        for s in &b.stmts {
            failed |= self.stmt(s, depth).is_err();
        }
        if let Some(t) = &b.tail {
            failed |= self.effect(t, depth).is_err();
        }
        self.pop_scope(mark);
        for (v, g) in self.vars.iter_mut().zip(guards) {
            v.range = g.0;
            v.guarded = g.1;
        }
        if failed { Err(Reported) } else { Ok(()) }
    }

    /// `top`: the entry's own block, whose value (except for `owns`) is the program's result.
    fn block_inner(&mut self, b: &Block, depth: usize, top: bool) -> R<Option<Val>> {
        let mark = self.vars.len();
        let guards = self
            .vars
            .iter()
            .map(|v| (v.range, v.guarded))
            .collect::<Vec<_>>();
        let result = top && self.kind != EntryKind::Owns;
        let n = b.stmts.len();
        let mut failed = false;
        let mut value = Ok(None);
        for (k, s) in b.stmts.iter().enumerate() {
            // A final block-like statement without `;` is the block's value.
            if k + 1 == n
                && b.tail.is_none()
                && let Stmt::Expr { expr, semi: false } = s
                && expr.is_block_like()
                && (result || !top)
            {
                value = if result {
                    self.ret_entry(expr).map(|()| None)
                } else {
                    self.eval(expr, depth).map(Some)
                };
                break;
            }
            if self.stmt(s, depth).is_err() {
                failed = true;
            }
        }
        if let Some(t) = &b.tail {
            value = if result {
                self.ret_entry(t).map(|()| None)
            } else {
                self.eval(t, depth).map(Some)
            };
        }
        self.pop_scope(mark);
        for (v, g) in self.vars.iter_mut().zip(guards) {
            v.range = g.0;
            v.guarded = g.1;
        }
        if failed { Err(Reported) } else { value }
    }

    fn ret_entry(&mut self, e: &Expr) -> R<()> {
        let span = self.span;
        self.span = e.span;
        let r = match self.kind {
            EntryKind::Filter => {
                self.hoist_checks(e, 0)?;
                self.cond(e, false, self.reject, 0)?;
                self.ja(self.accept);
                Ok(())
            }
            EntryKind::Acl => {
                let v = self.eval(e, 0)?;
                self.expect(v, Scalar::Bool, e.span)?;
                self.emit_ret(v)
            }
            EntryKind::Size | EntryKind::Owns => {
                let v = self.eval(e, 0)?;
                self.expect(v, Scalar::U64, e.span)?;
                self.emit_ret(v)
            }
        };
        self.span = span;
        r
    }

    fn emit_ret(&mut self, v: Val) -> R<()> {
        match v.op {
            Opnd::Reg(r) if r == Reg::R0 => {}
            Opnd::Reg(r) => self.emit(mov(Reg::R0, Source::Reg(r))),
            Opnd::Imm(x) => self.load_const(Reg::R0, x),
        }
        self.emit(Insn::Exit);
        Ok(())
    }

    fn stmt(&mut self, s: &Stmt, depth: usize) -> R<()> {
        self.enter(stmt_span(s))?;
        let saved = self.span;
        let r = self.stmt_inner(s, depth);
        self.span = saved;
        self.nest -= 1;
        if self.over() && !self.limit_reported && self.inlining.is_empty() {
            self.limit_reported = true;
            let d = self.size_error(stmt_span(s), "this statement crosses the limit");
            return Err(self.error(d));
        }
        r
    }

    fn stmt_inner(&mut self, s: &Stmt, depth: usize) -> R<()> {
        match s {
            Stmt::Let {
                mutable,
                name,
                ty,
                value,
                span,
            } => {
                self.span = *span;
                let declared = match ty {
                    Some(t) => Some(self.scalar_type(t)?),
                    None => None,
                };
                let v = self.eval(value, depth);
                let (ty, v) = match (declared, v) {
                    // A value of the wrong type is reported, and the name is still bound at
                    // its declared type so later uses do not cascade into more errors.
                    (Some(t), Ok(v)) => match self.expect(v, t, value.span) {
                        Ok(()) => (t, Some(v)),
                        Err(Reported) => (t, None),
                    },
                    (None, Ok(v)) => (v.ty.unwrap_or(Scalar::U64), Some(v)),
                    (Some(t), Err(_)) => (t, None),
                    (None, Err(_)) => (Scalar::U64, None),
                };
                let home = self.alloc_home(*span)?;
                if let Some(v) = v {
                    let op = match (v.op, ty) {
                        (Opnd::Imm(x), t) => Opnd::Imm(t.normalize(x)),
                        (o, _) => o,
                    };
                    self.store(home, op, depth)?;
                }
                self.vars.push(Var {
                    name: name.name.clone(),
                    kind: VarKind::Scalar {
                        home,
                        ty,
                        mutable: *mutable,
                    },
                    range: if *mutable {
                        None
                    } else {
                        v.and_then(|v| v.range)
                    },
                    guarded: !*mutable && v.is_some_and(|v| v.guarded),
                });
                if v.is_none() {
                    return Err(Reported);
                }
                Ok(())
            }
            Stmt::Assign {
                target,
                op,
                value,
                span,
            } => {
                self.span = *span;
                let Some(i) = self.lookup(&target.name) else {
                    return Err(self.unknown(&target.name, target.span));
                };
                let (home, ty, mutable) = match self.vars[i].kind {
                    VarKind::Scalar { home, ty, mutable } => (home, ty, mutable),
                    _ => {
                        return Err(self.error(
                            Diagnostic::new(
                                "udf::assign::immutable",
                                format!("`{}` is a parameter and cannot be assigned", target.name),
                            )
                            .label(target.span, "not a variable"),
                        ));
                    }
                };
                if !mutable {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::assign::immutable",
                            format!("`{}` is not mutable", target.name),
                        )
                        .label(target.span, "assigned here")
                        .help(format!("declare it with `let mut {}`", target.name)),
                    ));
                }
                let v = match op {
                    None => {
                        let v = self.eval(value, depth)?;
                        self.expect(v, ty, value.span)?;
                        match v.op {
                            Opnd::Imm(x) => Val {
                                op: Opnd::Imm(ty.normalize(x)),
                                ..v
                            },
                            _ => v,
                        }
                    }
                    Some(op) => {
                        let cur = self.read_var(i, depth)?;
                        self.binary_vals(*op, cur, value, depth, *span)?
                    }
                };
                self.store(home, v.op, depth)
            }
            Stmt::Expr { expr, .. } => {
                self.span = expr.span;
                self.effect(expr, depth)
            }
            Stmt::For {
                var,
                start,
                end,
                max,
                body,
                span,
            } => {
                self.span = *span;
                self.for_loop(var, start, end, max.as_ref(), body, depth)
            }
            Stmt::Return(e, span) => {
                self.span = *span;
                self.ret(e.as_ref(), *span, depth)
            }
            Stmt::Break(span) | Stmt::Continue(span) => {
                self.span = *span;
                let base = self.frames.last().expect("a frame").loops_base;
                let Some(&(brk, cont)) = self.loops.get(base..).and_then(|l| l.last()) else {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::loop::outside",
                            "`break` and `continue` belong inside a loop",
                        )
                        .label(*span, "not in a loop"),
                    ));
                };
                self.ja(if matches!(s, Stmt::Break(_)) {
                    brk
                } else {
                    cont
                });
                Ok(())
            }
            Stmt::Error(_) => {
                // A syntax error, reported by the parser.
                self.poisoned = true;
                Err(Reported)
            }
        }
    }

    fn ret(&mut self, e: Option<&Expr>, span: Span, depth: usize) -> R<()> {
        let frame = self.frames.last().expect("a frame");
        if let Some((label, reg, ty)) = frame.ret {
            // Inside an inlined helper.
            match (e, ty) {
                (Some(e), Some(t)) => {
                    let v = self.eval(e, depth)?;
                    self.expect(v, t, e.span)?;
                    let v = self.normalize_imm(v, t);
                    self.store(Home::Reg(reg), v.op, depth)?;
                }
                (None, None) => {}
                (Some(e), None) => {
                    return Err(self.error(
                        Diagnostic::new("udf::type::mismatch", "this function returns nothing")
                            .label(e.span, "a value"),
                    ));
                }
                (None, Some(t)) => {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::type::mismatch",
                            format!("this function returns `{}`", t.name()),
                        )
                        .label(span, "no value"),
                    ));
                }
            }
            self.ja(label);
            return Ok(());
        }
        match (self.kind, e) {
            (EntryKind::Owns, None) => {
                self.emit(mov(Reg::R0, Source::Imm(0)));
                self.emit(Insn::Exit);
                Ok(())
            }
            (_, Some(e)) => self.ret_entry(e),
            (_, None) => Err(self.error(
                Diagnostic::new(
                    "udf::type::mismatch",
                    format!("a `{}` entry returns a value", self.kind.keyword()),
                )
                .label(span, "no value"),
            )),
        }
    }

    fn normalize_imm(&self, v: Val, t: Scalar) -> Val {
        match v.op {
            Opnd::Imm(x) => Val {
                op: Opnd::Imm(t.normalize(x)),
                ty: Some(t),
                ..v
            },
            _ => Val { ty: Some(t), ..v },
        }
    }

    fn for_loop(
        &mut self,
        var: &crate::ast::Ident,
        start: &Expr,
        end: &Expr,
        max: Option<&Expr>,
        body: &Block,
        depth: usize,
    ) -> R<()> {
        let lo = self.const_count(start, "a loop's start")?;
        let mark = self.vars.len();
        // Bound: a constant end, or a run-time end capped by `max`.
        let (limit, hi) = match max {
            None => match self.const_value(end) {
                Some(v) => (None, v),
                None => {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::loop::bound",
                            "a loop's end must be a constant, or bounded with `max`",
                        )
                        .label(end.span, "not known when compiling")
                        .help("write `for k in 0..EXPR max N` to run at most N times"),
                    ));
                }
            },
            Some(m) => {
                let n = self.const_count(m, "a loop's `max`")?;
                let v = self.eval(end, depth)?;
                self.expect(v, Scalar::U64, end.span)?;
                let home = self.alloc_home(end.span)?;
                self.store(home, v.op, depth)?;
                self.vars.push(Var {
                    name: String::from(" limit"),
                    kind: VarKind::Scalar {
                        home,
                        ty: Scalar::U64,
                        mutable: false,
                    },
                    range: None,
                    guarded: false,
                });
                (Some(self.vars.len() - 1), lo.saturating_add(n))
            }
        };
        let home = self.alloc_home(var.span)?;
        self.store(home, Opnd::Imm(lo), depth)?;
        self.fors.push((self.span, hi.saturating_sub(lo)));
        let counter = self.vars.len();
        self.vars.push(Var {
            name: var.name.clone(),
            kind: VarKind::Scalar {
                home,
                ty: Scalar::U64,
                mutable: false,
            },
            range: (hi > lo).then(|| (lo, hi - 1)),
            guarded: false,
        });
        let head = self.label();
        let cont = self.label();
        let exit = self.label();
        let pkt = self.pkt;
        self.bind(head);
        let k = self.read_var(counter, depth)?;
        let Opnd::Reg(kr) = k.op else {
            unreachable!("a variable is in a register")
        };
        if let Some(hi) = imm_fits(hi) {
            self.jump(JmpCond::Ge, kr, Source::Imm(hi), exit);
        } else {
            let t = self.temp(depth + 1)?;
            self.load_const(t, hi);
            self.jump(JmpCond::Ge, kr, Source::Reg(t), exit);
        }
        if let Some(li) = limit {
            let l = self.read_var(li, depth + 1)?;
            let Opnd::Reg(lr) = l.op else {
                unreachable!("a variable is in a register")
            };
            self.jump(JmpCond::Ge, kr, Source::Reg(lr), exit);
        }
        self.loops.push((exit, cont));
        let r = self.block_effect(body, depth);
        self.loops.pop();
        self.bind(cont);
        self.span = var.span;
        match home {
            Home::Reg(r) => self.emit(alu(Width::W64, AluOp::Add, r, Source::Imm(1))),
            Home::Stack(_) => {
                let k = self.read_var(counter, depth)?;
                let t = self.materialize(k.op, depth)?;
                self.emit(alu(Width::W64, AluOp::Add, t, Source::Imm(1)));
                self.store(home, Opnd::Reg(t), depth)?;
            }
        }
        self.ja(head);
        self.bind(exit);
        self.pkt = pkt;
        self.pop_scope(mark);
        r.map(|_| ())
    }

    fn const_value(&mut self, e: &Expr) -> Option<u64> {
        let n = self.diags.len();
        let v = self.eval_const(e);
        self.diags.truncate(n);
        v
    }

    /// Evaluates `e` if it is a compile-time constant (no code is emitted).
    fn eval_const(&mut self, e: &Expr) -> Option<u64> {
        match &e.kind {
            ExprKind::Int(v) => Some(*v),
            ExprKind::Paren(x) => self.eval_const(x),
            ExprKind::Name(n) if self.lookup(&n.name).is_none() => {
                self.items.consts.get(&n.name).map(|c| c.1)
            }
            ExprKind::Binary(op, a, b) if !op.is_compare() => {
                let a = self.eval_const(a)?;
                let b = self.eval_const(b)?;
                Some(apply(*op, Scalar::U64, a, b))
            }
            _ => None,
        }
    }

    fn const_count(&mut self, e: &Expr, what: &str) -> R<u64> {
        match self.const_value(e) {
            Some(v) if v <= 1 << 24 => Ok(v),
            _ => Err(self.error(
                Diagnostic::new(
                    "udf::loop::bound",
                    format!("{what} must be a constant of at most 2^24"),
                )
                .label(e.span, "not a small constant"),
            )),
        }
    }

    fn scalar_type(&mut self, t: &TypeExpr) -> R<Scalar> {
        match t {
            TypeExpr::Named(n) => match Scalar::from_name(&n.name) {
                Some(s) => Ok(s),
                None => Err(self.error(
                    Diagnostic::new(
                        "udf::type::mismatch",
                        format!("`{}` is not a scalar type", n.name),
                    )
                    .label(n.span, "expected u8..u64, i8..i64 or bool"),
                )),
            },
            TypeExpr::Array(_, _, s) => Err(self.error(
                Diagnostic::new("udf::type::mismatch", "variables hold scalars, not arrays")
                    .label(*s, "an array type"),
            )),
        }
    }

    fn unknown(&mut self, name: &str, span: Span) -> Reported {
        self.error(
            Diagnostic::new(
                "udf::name::unknown",
                format!("no variable or constant `{name}`"),
            )
            .label(span, "not defined here"),
        )
    }

    /// Whether `v` may be used where `t` is wanted; reports a mismatch.
    fn expect(&mut self, v: Val, t: Scalar, span: Span) -> R<()> {
        match v.ty {
            None => {
                let Opnd::Imm(x) = v.op else { return Ok(()) };
                if t.is_int() && (t.fits(x) || (t.signed() && t.normalize(x) == x)) {
                    Ok(())
                } else if t == Scalar::Bool {
                    Err(self.error(
                        Diagnostic::new(
                            "udf::type::expected_bool",
                            "expected `bool`, found an integer",
                        )
                        .label(span, "an integer")
                        .help("compare it: `... != 0`"),
                    ))
                } else {
                    Err(self.error(
                        Diagnostic::new(
                            "udf::type::literal",
                            format!("{x} does not fit `{}`", t.name()),
                        )
                        .label(span, "too large"),
                    ))
                }
            }
            Some(s) if s.widens_to(t) => Ok(()),
            Some(s) => {
                let help = if t == Scalar::Bool {
                    "compare it: `... != 0`".to_string()
                } else {
                    format!("convert it: `(...) as {}`", t.name())
                };
                Err(self.error(
                    Diagnostic::new(
                        "udf::type::mismatch",
                        format!("expected `{}`, found `{}`", t.name(), s.name()),
                    )
                    .label(span, format!("this is `{}`", s.name()))
                    .help(help),
                ))
            }
        }
    }

    // ---- expressions -------------------------------------------------------------------------

    fn read_var(&mut self, i: usize, depth: usize) -> R<Val> {
        let v = &self.vars[i];
        let (range, guarded) = (v.range, v.guarded);
        match v.kind {
            VarKind::Scalar { home, ty, .. } => {
                let op = match home {
                    Home::Reg(r) => Opnd::Reg(r),
                    Home::Stack(off) => {
                        let t = self.temp(depth)?;
                        self.emit(Insn::Load {
                            size: Size::DW,
                            signed: false,
                            dst: t,
                            base: Reg::R10,
                            off,
                        });
                        Opnd::Reg(t)
                    }
                };
                Ok(Val {
                    op,
                    ty: Some(ty),
                    range: range.or_else(|| type_range(ty)),
                    guarded,
                })
            }
            _ => Err(Reported),
        }
    }

    /// `if c { then } else { els }`: the condition as jumps, the guards it proves applied in the
    /// then-branch, and the packet bytes known after it those both branches know.
    fn if_else<T, U>(
        &mut self,
        c: &Expr,
        depth: usize,
        then: impl FnOnce(&mut Self) -> R<T>,
        els: impl FnOnce(&mut Self) -> R<U>,
    ) -> R<(R<T>, R<U>)> {
        let else_l = self.label();
        let end = self.label();
        let guards = self.guards_of(c);
        self.cond(c, false, else_l, depth)?;
        let pkt = self.pkt;
        let saved = self.apply_guards(&guards);
        let rt = then(self);
        self.restore_guards(saved);
        let pkt_then = self.pkt;
        self.ja(end);
        self.bind(else_l);
        self.pkt = pkt;
        let re = els(self);
        self.bind(end);
        self.pkt = self.pkt.meet(pkt_then);
        Ok((rt, re))
    }

    /// An expression evaluated for its effect (calls, `if` statements, blocks).
    fn effect(&mut self, e: &Expr, depth: usize) -> R<()> {
        match &e.kind {
            ExprKind::If(c, t, els) => {
                let (rt, re) = self.if_else(
                    c,
                    depth,
                    |l| l.block_effect(t, depth),
                    |l| match els {
                        Some(x) => l.effect(x, depth),
                        None => Ok(()),
                    },
                )?;
                rt?;
                re
            }
            ExprKind::Block(b) => self.block_effect(b, depth),
            ExprKind::Call(f, args) if f.name == "emit" => self.emit_call(e, args, depth),
            ExprKind::Call(..) => self.eval(e, depth).map(|_| ()),
            _ => {
                self.eval(e, depth)?;
                Ok(())
            }
        }
    }

    fn emit_call(&mut self, e: &Expr, args: &[Expr], depth: usize) -> R<()> {
        if !self.may_emit() {
            return Err(self.error(
                Diagnostic::new("udf::entry::emit", "`emit` is only for `owns` entry points")
                    .label(
                        e.span,
                        format!("in a `{}` entry point", self.kind.keyword()),
                    ),
            ));
        }
        if args.len() != 3 {
            return Err(self.error(
                Diagnostic::new(
                    "udf::fn::arity",
                    format!("`emit` takes 3 arguments, {} given", args.len()),
                )
                .label(e.span, "emit(start, count, kind)"),
            ));
        }
        let tys = [Scalar::U64, Scalar::U64, Scalar::U32];
        let mut ok = true;
        for (k, (a, t)) in args.iter().zip(tys).enumerate() {
            let r = self.eval(a, depth + k).and_then(|v| {
                self.expect(v, t, a.span)?;
                let v = self.normalize_imm(v, t);
                self.materialize(v.op, depth + k).map(|_| ())
            });
            ok &= r.is_ok();
        }
        if !ok {
            return Err(Reported);
        }
        for (k, &to) in TEMPS.iter().enumerate().take(3) {
            let from = self.temp(depth + k)?;
            if from != to {
                self.emit(mov(to, Source::Reg(from)));
            }
        }
        self.span = e.span;
        self.emit(Insn::Call { imm: 1 });
        Ok(())
    }

    fn may_emit(&self) -> bool {
        self.kind == EntryKind::Owns
    }

    /// Evaluates an expression to a value.
    fn eval(&mut self, e: &Expr, depth: usize) -> R<Val> {
        self.enter(e.span)?;
        let saved = self.span;
        self.span = e.span;
        let r = self.eval_inner(e, depth);
        self.span = saved;
        self.nest -= 1;
        r
    }

    fn eval_inner(&mut self, e: &Expr, depth: usize) -> R<Val> {
        match &e.kind {
            ExprKind::Int(v) => Ok(Val {
                op: Opnd::Imm(*v),
                ty: None,
                range: Some((*v, *v)),
                guarded: false,
            }),
            ExprKind::Bool(b) => Ok(Val {
                op: Opnd::Imm(*b as u64),
                ty: Some(Scalar::Bool),
                range: None,
                guarded: false,
            }),
            ExprKind::Paren(x) => self.eval(x, depth),
            ExprKind::Name(n) => {
                if let Some(i) = self.lookup(&n.name) {
                    if !matches!(self.vars[i].kind, VarKind::Scalar { .. }) {
                        return Err(self.error(
                            Diagnostic::new(
                                "udf::type::mismatch",
                                format!("`{}` is not a value", n.name),
                            )
                            .label(n.span, "read one of its fields"),
                        ));
                    }
                    return self.read_var(i, depth);
                }
                match self.items.consts.get(&n.name) {
                    Some(&(t, v)) => Ok(Val {
                        op: Opnd::Imm(v),
                        ty: Some(t),
                        range: Some((v, v)),
                        guarded: false,
                    }),
                    None => Err(self.unknown(&n.name, n.span)),
                }
            }
            ExprKind::Field(..) | ExprKind::Index(..) => self.read_place(e, depth),
            ExprKind::Unary(op, x) => {
                let v = self.eval(x, depth)?;
                let t = v.ty.unwrap_or(Scalar::U64);
                match (op, v.ty) {
                    (UnOp::Not, Some(Scalar::Bool)) => self.bool_value(e, depth),
                    (UnOp::Neg, Some(Scalar::Bool)) => Err(self.error(
                        Diagnostic::new("udf::type::mismatch", "`-` on a bool")
                            .label(e.span, "a bool"),
                    )),
                    (_, _) => {
                        if let Opnd::Imm(x) = v.op {
                            let r = match op {
                                UnOp::Neg => x.wrapping_neg(),
                                UnOp::Not => !x,
                            };
                            let r = if v.ty.is_some() { t.normalize(r) } else { r };
                            return Ok(Val {
                                op: Opnd::Imm(r),
                                ty: v.ty,
                                range: Some((r, r)),
                                guarded: false,
                            });
                        }
                        let d = self.materialize(v.op, depth)?;
                        match op {
                            UnOp::Neg => self.emit(Insn::Neg {
                                width: Width::W64,
                                dst: d,
                            }),
                            UnOp::Not => self.emit(alu(Width::W64, AluOp::Xor, d, Source::Imm(-1))),
                        }
                        self.normalize(d, t);
                        Ok(Val {
                            op: Opnd::Reg(d),
                            ty: Some(t),
                            range: type_range(t),
                            guarded: false,
                        })
                    }
                }
            }
            ExprKind::Binary(op, a, b) => {
                if op.is_compare() || matches!(op, BinOp::AndAnd | BinOp::OrOr) {
                    return self.bool_value(e, depth);
                }
                let va = self.eval(a, depth)?;
                self.binary_vals(*op, va, b, depth, e.span)
            }
            ExprKind::Cast(x, t) => {
                let to = self.scalar_type(t)?;
                let v = self.eval(x, depth)?;
                self.cast(v, to, e.span, depth)
            }
            ExprKind::Call(f, args) => {
                if f.name == "emit" {
                    return Err(self.error(
                        Diagnostic::new("udf::type::mismatch", "`emit` has no value")
                            .label(e.span, "call it as a statement"),
                    ));
                }
                self.inline_call(f, args, depth, e.span)
            }
            ExprKind::If(c, t, els) => {
                let Some(els) = els else {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::type::mismatch",
                            "an `if` used as a value needs an `else`",
                        )
                        .label(e.span, "no else branch"),
                    ));
                };
                let dst = self.temp(depth)?;
                let (vt, ve) = self.if_else(
                    c,
                    depth,
                    |l| l.block_value(t, depth),
                    |l| {
                        let v = l.eval(els, depth)?;
                        l.materialize(v.op, depth).map(|r| Val {
                            op: Opnd::Reg(r),
                            ..v
                        })
                    },
                )?;
                let (vt, ve) = (vt?, ve?);
                let ty = match unify(vt.ty, ve.ty) {
                    Ok(t) => t,
                    Err(()) => {
                        return Err(self.error(
                            Diagnostic::new(
                                "udf::type::mismatch",
                                "the branches of this `if` have different types",
                            )
                            .label(t.span, type_label(vt.ty))
                            .label(els.span, type_label(ve.ty)),
                        ));
                    }
                };
                // Both branches left their value in `dst`.
                Ok(Val {
                    op: Opnd::Reg(dst),
                    ty: Some(ty.unwrap_or(Scalar::U64)),
                    range: None,
                    guarded: false,
                })
            }
            ExprKind::Block(b) => self.block_value(b, depth),
        }
    }

    /// A block's value, left in the temporary of `depth`.
    fn block_value(&mut self, b: &Block, depth: usize) -> R<Val> {
        let v = self.block(b, depth)?;
        let Some(v) = v else {
            return Err(self.error(
                Diagnostic::new("udf::type::mismatch", "this block has no value")
                    .label(b.span, "expected a value"),
            ));
        };
        let dst = self.materialize(v.op, depth)?;
        Ok(Val {
            op: Opnd::Reg(dst),
            ..v
        })
    }

    /// Evaluates the right operand of `op` with the left one, `va`, already evaluated at
    /// `depth`, and finds their common type (untyped literals must fit it).
    fn operands(
        &mut self,
        op: BinOp,
        va: Val,
        b: &Expr,
        depth: usize,
        span: Span,
        what: &str,
    ) -> R<(Val, Val, Option<Scalar>)> {
        // Keep `va` safe from `b`'s evaluation: a variable register is only read, a temporary
        // at `depth` is below `b`'s.
        let va = match va.op {
            Opnd::Reg(r) if TEMPS[depth..].contains(&r) && r != TEMPS[depth] => {
                let t = self.materialize(va.op, depth)?;
                Val {
                    op: Opnd::Reg(t),
                    ..va
                }
            }
            _ => va,
        };
        let vb = self.eval(b, depth + 1)?;
        let ty = match unify(va.ty, vb.ty) {
            Ok(t) if op.is_compare() || t != Some(Scalar::Bool) => t,
            _ => {
                return Err(self.error(
                    Diagnostic::new(
                        "udf::type::mismatch",
                        format!(
                            "`{}` between {} and {}",
                            op.symbol(),
                            type_label(va.ty),
                            type_label(vb.ty)
                        ),
                    )
                    .label(span, what.to_string())
                    .help("convert one side with `as`"),
                ));
            }
        };
        if let Some(t) = ty {
            for v in [va, vb] {
                if v.ty.is_none() {
                    self.expect(v, t, span)?;
                }
            }
        }
        Ok((va, vb, ty))
    }

    fn binary_vals(&mut self, op: BinOp, va: Val, b: &Expr, depth: usize, span: Span) -> R<Val> {
        let (va, vb, ty) = self.operands(op, va, b, depth, span, "these types do not mix")?;
        let t = ty.unwrap_or(Scalar::U64);
        let range = range_of(op, va.range, vb.range, t);
        if let (Opnd::Imm(x), Opnd::Imm(y)) = (va.op, vb.op) {
            let r = apply(op, t, t.normalize(x), t.normalize(y));
            return Ok(Val {
                op: Opnd::Imm(r),
                ty,
                range: Some((r, r)),
                guarded: false,
            });
        }
        let d = self.materialize(va.op, depth)?;
        let src = match vb.op {
            Opnd::Imm(y) => {
                let y = t.normalize(y);
                let y = if matches!(op, BinOp::Shl | BinOp::Shr) {
                    y % t.bits() as u64
                } else {
                    y
                };
                match imm_fits(y) {
                    Some(i) => Source::Imm(i),
                    None => {
                        let r = self.temp(depth + 1)?;
                        self.load_const(r, y);
                        Source::Reg(r)
                    }
                }
            }
            Opnd::Reg(r) => {
                if matches!(op, BinOp::Shl | BinOp::Shr) && t.bits() < 32 {
                    // The shift amount is taken modulo the width.
                    let m = self.materialize(Opnd::Reg(r), depth + 1)?;
                    self.emit(alu(
                        Width::W64,
                        AluOp::And,
                        m,
                        Source::Imm(t.bits() as i32 - 1),
                    ));
                    Source::Reg(m)
                } else {
                    Source::Reg(r)
                }
            }
        };
        let w32 = t.bits() == 32;
        let width = if w32 { Width::W32 } else { Width::W64 };
        let aop = match op {
            BinOp::Add => AluOp::Add,
            BinOp::Sub => AluOp::Sub,
            BinOp::Mul => AluOp::Mul,
            BinOp::Div if t.signed() => AluOp::SDiv,
            BinOp::Div => AluOp::Div,
            BinOp::Rem if t.signed() => AluOp::SMod,
            BinOp::Rem => AluOp::Mod,
            BinOp::And => AluOp::And,
            BinOp::Or => AluOp::Or,
            BinOp::Xor => AluOp::Xor,
            BinOp::Shl => AluOp::Lsh,
            BinOp::Shr if t.signed() => AluOp::Arsh,
            BinOp::Shr => AluOp::Rsh,
            _ => unreachable!("comparisons are lowered as conditions"),
        };
        // Signed division and right shifts work on the sign-extended 64-bit form.
        let width = if t.signed() && matches!(aop, AluOp::SDiv | AluOp::SMod | AluOp::Arsh) {
            Width::W64
        } else {
            width
        };
        self.emit(alu(width, aop, d, src));
        let exact = matches!(op, BinOp::And | BinOp::Or | BinOp::Xor)
            || (!t.signed() && matches!(op, BinOp::Div | BinOp::Rem | BinOp::Shr))
            || (t.signed() && op == BinOp::Shr);
        if !exact && (!w32 || t.signed()) {
            self.normalize(d, t);
        }
        Ok(Val {
            op: Opnd::Reg(d),
            ty,
            range,
            guarded: va.guarded || vb.guarded,
        })
    }

    /// Brings a register holding any 64 bits to `t`'s canonical form.
    fn normalize(&mut self, d: Reg, t: Scalar) {
        match t {
            Scalar::U8 => self.emit(alu(Width::W64, AluOp::And, d, Source::Imm(0xff))),
            Scalar::U16 => self.emit(alu(Width::W64, AluOp::And, d, Source::Imm(0xffff))),
            Scalar::U32 => self.emit(alu(Width::W32, AluOp::Mov, d, Source::Reg(d))),
            Scalar::I8 => self.emit(alu(Width::W64, AluOp::MovSx8, d, Source::Reg(d))),
            Scalar::I16 => self.emit(alu(Width::W64, AluOp::MovSx16, d, Source::Reg(d))),
            Scalar::I32 => self.emit(alu(Width::W64, AluOp::MovSx32, d, Source::Reg(d))),
            Scalar::U64 | Scalar::I64 | Scalar::Bool => {}
        }
    }

    fn cast(&mut self, v: Val, to: Scalar, span: Span, depth: usize) -> R<Val> {
        let from = v.ty;
        if to == Scalar::Bool && from != Some(Scalar::Bool) {
            return Err(self.error(
                Diagnostic::new("udf::type::mismatch", "integers do not cast to bool")
                    .label(span, "cast to bool")
                    .help("compare instead: `... != 0`"),
            ));
        }
        if let Opnd::Imm(x) = v.op {
            let r = to.normalize(x);
            return Ok(Val {
                op: Opnd::Imm(r),
                ty: Some(to),
                range: Some((r, r)),
                guarded: false,
            });
        }
        let from = from.unwrap_or(Scalar::U64);
        let keep = from == Scalar::Bool
            || from.bits() < to.bits() && (from.signed() == to.signed() || !from.signed())
            || from == to;
        let keep = keep || (from.bits() == to.bits() && from.signed() == to.signed());
        if keep {
            return Ok(Val {
                ty: Some(to),
                range: if to.signed() { None } else { v.range },
                ..v
            });
        }
        let d = self.materialize(v.op, depth)?;
        self.normalize(d, to);
        let range = match (v.range, to.signed()) {
            (Some((lo, hi)), false) if hi <= type_range(to).map_or(0, |r| r.1) => Some((lo, hi)),
            (_, false) => type_range(to),
            _ => None,
        };
        Ok(Val {
            op: Opnd::Reg(d),
            ty: Some(to),
            range,
            guarded: v.guarded,
        })
    }

    /// Inlines a call: its arguments and body take more stack than a level of an expression,
    /// so it counts for [`INLINE_LEVELS`] levels.
    fn inline_call(
        &mut self,
        f: &crate::ast::Ident,
        args: &[Expr],
        depth: usize,
        span: Span,
    ) -> R<Val> {
        self.nest += INLINE_LEVELS - 1;
        let r = self.enter(span).and_then(|()| {
            let r = self.inline_call_inner(f, args, depth, span);
            self.nest -= 1;
            r
        });
        self.nest -= INLINE_LEVELS - 1;
        r
    }

    fn inline_call_inner(
        &mut self,
        f: &crate::ast::Ident,
        args: &[Expr],
        depth: usize,
        span: Span,
    ) -> R<Val> {
        let Some(def) = self.items.fns.get(&f.name).copied() else {
            return Err(self.error(
                Diagnostic::new("udf::name::unknown", format!("no function `{}`", f.name))
                    .label(f.span, "not defined"),
            ));
        };
        if self.inlining.contains(&f.name) {
            // Reported once as udf::fn::recursion; the entry point is not finished, so no
            // second error follows.
            self.poisoned = true;
            return Err(Reported);
        }
        if self.over() {
            self.poisoned = true;
            return Err(Reported); // reported by the outermost call
        }
        if def.params.len() != args.len() {
            return Err(self.error(
                Diagnostic::new(
                    "udf::fn::arity",
                    format!(
                        "`{}` takes {} argument(s), {} given",
                        f.name,
                        def.params.len(),
                        args.len()
                    ),
                )
                .label(span, "this call")
                .label(def.name.span, "defined here"),
            ));
        }
        if self.items.emitting.contains(&f.name) {
            if !self.may_emit() {
                return Err(self.error(
                    Diagnostic::new(
                        "udf::entry::emit",
                        format!(
                            "`{}` calls `emit`, which only `owns` entry points may",
                            f.name
                        ),
                    )
                    .label(span, "called here"),
                ));
            }
            if depth > self.frames.last().expect("a frame").base_depth {
                return Err(self.error(
                    Diagnostic::new(
                        "udf::entry::emit",
                        format!("`{}` calls `emit`, so it must be called on its own", f.name),
                    )
                    .label(span, "inside a larger expression")
                    .help("call it as a statement, or bind its result first: `let v = f(...);`"),
                ));
            }
        }
        let ret = match &def.ret {
            Some(t) => Some(self.scalar_type(t)?),
            None => None,
        };
        // Arguments, evaluated in order into fresh variables.
        let mark = self.vars.len();
        let mut ok = true;
        let mut new_vars = Vec::new();
        for (p, a) in def.params.iter().zip(args) {
            let r = (|| {
                let t = self.scalar_type(&p.ty)?;
                let v = self.eval(a, depth)?;
                self.expect(v, t, a.span)?;
                let v = self.normalize_imm(v, t);
                let home = self.alloc_home(a.span)?;
                self.store(home, v.op, depth)?;
                Ok(Var {
                    name: p.name.name.clone(),
                    kind: VarKind::Scalar {
                        home,
                        ty: t,
                        mutable: false,
                    },
                    range: v.range,
                    guarded: v.guarded,
                })
            })();
            match r {
                Ok(v) => {
                    self.vars.push(v.clone());
                    new_vars.push(v);
                }
                Err(Reported) => ok = false,
            }
        }
        if !ok {
            self.pop_scope(mark);
            return Err(Reported);
        }
        // The body sees only its parameters (and constants): hide the caller's variables.
        let hidden: Vec<Var> = self.vars.drain(..mark).collect();
        let dst = self.temp(depth)?;
        let end = self.label();
        self.frames.push(Frame {
            ret: Some((end, dst, ret)),
            loops_base: self.loops.len(),
            base_depth: depth,
        });
        self.inlining.push(f.name.clone());
        self.call_spans.push(span);
        let pkt = self.pkt;
        let v = if ret.is_some() {
            self.block(&def.body, depth)
        } else {
            self.block_effect(&def.body, depth).map(|()| None)
        };
        if self.over() && self.crossed_in.is_none() {
            self.crossed_in = Some((span, f.name.clone()));
        }
        self.call_spans.pop();
        self.inlining.pop();
        self.frames.pop();
        if self.over() && self.inlining.is_empty() && !self.limit_reported {
            // Report at the call the entry point makes, and name where the limit was crossed.
            self.limit_reported = true;
            let what = if self.code.len() > MAX_INSNS {
                format!("more than {MAX_INSNS} instructions")
            } else {
                format!("more than {MAX_LOWERED} inlined statements and expressions")
            };
            let mut d = Diagnostic::new(
                "udf::limit::inline",
                format!("inlining `{}` here makes the entry point {what}", f.name),
            )
            .label(span, "this call");
            if let Some((s, n)) = self.crossed_in.take()
                && s != span
            {
                d = d.label(s, format!("the limit is crossed inlining `{n}` here"));
            }
            d = d.help(
                "helpers are inlined at every call, so helpers that call others more than \
                 once grow exponentially: call each one once and reuse the result, or use a \
                 loop",
            );
            self.diags.push(d);
        }
        let r = match (v, ret) {
            (Ok(Some(v)), Some(t)) => {
                self.span = def.body.tail.as_ref().map_or(def.body.span, |t| t.span);
                let tail_span = self.span;
                self.expect(v, t, tail_span).and_then(|()| {
                    let v = self.normalize_imm(v, t);
                    self.materialize(v.op, depth).map(|_| ())
                })
            }
            (Ok(None), Some(_)) if !ends_in_return(&def.body) => Err(self.error(
                Diagnostic::new(
                    "udf::type::mismatch",
                    format!("`{}` must end in its result", f.name),
                )
                .label(def.body.span, "no value at the end"),
            )),
            (Ok(_), _) => Ok(()),
            (Err(e), _) => Err(e),
        };
        self.bind(end);
        self.pkt = self.pkt.meet(pkt);
        let n = self.vars.len();
        let mut restored = hidden;
        restored.extend(self.vars.drain(..n));
        self.vars = restored;
        self.pop_scope(mark);
        r?;
        Ok(Val {
            op: Opnd::Reg(dst),
            ty: ret.or(Some(Scalar::U64)),
            range: ret.and_then(type_range),
            guarded: false,
        })
    }

    /// A bool-valued expression as 0 or 1 in the temporary of `depth`.
    fn bool_value(&mut self, e: &Expr, depth: usize) -> R<Val> {
        let t = self.temp(depth)?;
        let yes = self.label();
        let end = self.label();
        let pkt = self.pkt;
        self.cond(e, true, yes, depth)?;
        self.emit(mov(t, Source::Imm(0)));
        self.ja(end);
        self.bind(yes);
        self.emit(mov(t, Source::Imm(1)));
        self.bind(end);
        self.pkt = self.pkt.meet(pkt);
        Ok(Val {
            op: Opnd::Reg(t),
            ty: Some(Scalar::Bool),
            range: Some((0, 1)),
            guarded: false,
        })
    }

    /// Jumps to `target` when `e` (a bool) equals `when`, else falls through.
    fn cond(&mut self, e: &Expr, when: bool, target: Label, depth: usize) -> R<()> {
        self.enter(e.span)?;
        let saved = self.span;
        self.span = e.span;
        let r = self.cond_inner(e, when, target, depth);
        self.span = saved;
        self.nest -= 1;
        r
    }

    fn cond_inner(&mut self, e: &Expr, when: bool, target: Label, depth: usize) -> R<()> {
        match &e.kind {
            ExprKind::Paren(x) => self.cond(x, when, target, depth),
            ExprKind::Unary(UnOp::Not, x) if self.is_bool(x) => self.cond(x, !when, target, depth),
            ExprKind::Bool(b) => {
                if *b == when {
                    self.ja(target);
                }
                Ok(())
            }
            ExprKind::Binary(op @ (BinOp::AndAnd | BinOp::OrOr), a, b) => {
                let is_and = *op == BinOp::AndAnd;
                if is_and != when {
                    // (a && b) == false: either false; (a || b) == true: either true.
                    let pkt = self.pkt;
                    let ra = self.cond(a, when, target, depth);
                    let guards = if is_and {
                        self.guards_of(a)
                    } else {
                        Vec::new()
                    };
                    let saved = self.apply_guards(&guards);
                    let rb = self.cond(b, when, target, depth);
                    self.restore_guards(saved);
                    self.pkt = self.pkt.meet(pkt).max_fixed(pkt);
                    ra.and(rb)
                } else {
                    let skip = self.label();
                    let pkt = self.pkt;
                    let ra = self.cond(a, !when, skip, depth);
                    let guards = if is_and {
                        self.guards_of(a)
                    } else {
                        Vec::new()
                    };
                    let saved = self.apply_guards(&guards);
                    let rb = self.cond(b, when, target, depth);
                    self.restore_guards(saved);
                    self.bind(skip);
                    self.pkt = self.pkt.meet(pkt).max_fixed(pkt);
                    ra.and(rb)
                }
            }
            ExprKind::Binary(op, a, b) if op.is_compare() => {
                let va = self.eval(a, depth)?;
                let (va, vb, ty) =
                    self.operands(*op, va, b, depth, e.span, "these types do not compare")?;
                let t = ty.unwrap_or(Scalar::U64);
                if t == Scalar::Bool && !matches!(op, BinOp::Eq | BinOp::Ne) {
                    return Err(self.error(
                        Diagnostic::new("udf::type::mismatch", "bools compare only with == and !=")
                            .label(e.span, "here"),
                    ));
                }
                let mut op = *op;
                let (mut x, mut y) = (va.op, vb.op);
                if let (Opnd::Imm(p), Opnd::Imm(q)) = (x, y) {
                    if (apply(op, t, t.normalize(p), t.normalize(q)) != 0) == when {
                        self.ja(target);
                    }
                    return Ok(());
                }
                if let Opnd::Imm(_) = x {
                    std::mem::swap(&mut x, &mut y);
                    op = mirror(op);
                }
                let Opnd::Reg(xr) = x else {
                    unreachable!("swapped")
                };
                let src = match y {
                    Opnd::Reg(r) => Source::Reg(r),
                    Opnd::Imm(q) => match imm_fits(t.normalize(q)) {
                        Some(i) => Source::Imm(i),
                        None => {
                            let r = self.temp(depth + 1)?;
                            self.load_const(r, t.normalize(q));
                            Source::Reg(r)
                        }
                    },
                };
                let op = if when { op } else { negate(op) };
                self.jump(jcond(op, t.signed()), xr, src, target);
                Ok(())
            }
            _ => {
                let v = self.eval(e, depth)?;
                self.expect(v, Scalar::Bool, e.span)?;
                match v.op {
                    Opnd::Imm(x) => {
                        if (x != 0) == when {
                            self.ja(target);
                        }
                    }
                    Opnd::Reg(r) => {
                        let c = if when { JmpCond::Ne } else { JmpCond::Eq };
                        self.jump(c, r, Source::Imm(0), target);
                    }
                }
                Ok(())
            }
        }
    }

    fn is_bool(&self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Bool(_) => true,
            ExprKind::Binary(op, ..) => {
                op.is_compare() || matches!(op, BinOp::AndAnd | BinOp::OrOr)
            }
            ExprKind::Unary(UnOp::Not, x) | ExprKind::Paren(x) => self.is_bool(x),
            ExprKind::Name(n) => match self.lookup(&n.name).map(|i| &self.vars[i].kind) {
                Some(VarKind::Scalar { ty, .. }) => *ty == Scalar::Bool,
                _ => self
                    .items
                    .consts
                    .get(&n.name)
                    .is_some_and(|c| c.0 == Scalar::Bool),
            },
            _ => false,
        }
    }

    // ---- guards: ranges an `if` proves for immutable variables ------------------------------

    fn guards_of(&self, c: &Expr) -> Vec<(usize, (u64, u64))> {
        let mut out = Vec::new();
        self.collect_guards(c, &mut out);
        out
    }

    fn collect_guards(&self, c: &Expr, out: &mut Vec<(usize, (u64, u64))>) {
        match &c.kind {
            ExprKind::Paren(x) => self.collect_guards(x, out),
            ExprKind::Binary(BinOp::AndAnd, a, b) => {
                self.collect_guards(a, out);
                self.collect_guards(b, out);
            }
            ExprKind::Binary(op, a, b) if op.is_compare() => {
                let (var, k, op) = match (&a.kind, &b.kind) {
                    (ExprKind::Name(n), _) => match self.eval_const_pure(b) {
                        Some(k) => (n, k, *op),
                        None => return,
                    },
                    (_, ExprKind::Name(n)) => match self.eval_const_pure(a) {
                        Some(k) => (n, k, mirror(*op)),
                        None => return,
                    },
                    _ => return,
                };
                let Some(i) = self.lookup(&var.name) else {
                    return;
                };
                let VarKind::Scalar {
                    ty, mutable: false, ..
                } = self.vars[i].kind
                else {
                    return;
                };
                if ty.signed() || !ty.is_int() {
                    return;
                }
                let (lo, hi) = self.vars[i]
                    .range
                    .or_else(|| type_range(ty))
                    .unwrap_or((0, u64::MAX));
                let r = match op {
                    BinOp::Lt if k > 0 => (lo, hi.min(k - 1)),
                    BinOp::Le => (lo, hi.min(k)),
                    BinOp::Gt => (lo.max(k.saturating_add(1)), hi),
                    BinOp::Ge => (lo.max(k), hi),
                    BinOp::Eq => (k, k),
                    _ => return,
                };
                out.push((i, r));
            }
            _ => {}
        }
    }

    fn eval_const_pure(&self, e: &Expr) -> Option<u64> {
        match &e.kind {
            ExprKind::Int(v) => Some(*v),
            ExprKind::Paren(x) => self.eval_const_pure(x),
            ExprKind::Name(n) if self.lookup(&n.name).is_none() => {
                self.items.consts.get(&n.name).map(|c| c.1)
            }
            _ => None,
        }
    }

    fn apply_guards(&mut self, g: &[(usize, (u64, u64))]) -> Vec<SavedGuard> {
        let mut saved = Vec::new();
        for &(i, r) in g {
            saved.push((i, self.vars[i].range, self.vars[i].guarded));
            self.vars[i].range = Some(r);
            self.vars[i].guarded = true;
        }
        saved
    }

    fn restore_guards(&mut self, saved: Vec<SavedGuard>) {
        for (i, r, g) in saved.into_iter().rev() {
            if let Some(v) = self.vars.get_mut(i) {
                v.range = r;
                v.guarded = g;
            }
        }
    }

    // ---- places: fields, array elements, packet bytes -------------------------------------

    fn read_place(&mut self, e: &Expr, depth: usize) -> R<Val> {
        let p = self.place(e, depth)?;
        let PTy::Scalar(s) = p.ty else {
            return Err(self.error(
                Diagnostic::new("udf::type::mismatch", "this is not a scalar")
                    .label(e.span, "read a field or element of it"),
            ));
        };
        let dst = self.temp(depth)?;
        let range = type_range(s);
        match p.base {
            Base::Len => {
                return Ok(Val {
                    op: Opnd::Reg(LEN),
                    ty: Some(Scalar::U32),
                    range: None,
                    guarded: false,
                });
            }
            Base::Wire => {
                return Ok(Val {
                    op: Opnd::Reg(WIRE),
                    ty: Some(Scalar::U32),
                    range: None,
                    guarded: false,
                });
            }
            Base::Ctx | Base::Pkt => {
                let (base, off) = match p.index {
                    None => (CTX, p.off),
                    Some(r) => {
                        self.emit(alu(Width::W64, AluOp::Add, r, Source::Reg(CTX)));
                        (r, p.off)
                    }
                };
                self.load(dst, base, off, s, p.order)?;
            }
            Base::Transport => {
                let r = match p.index {
                    Some(r) => r,
                    None => {
                        let r = self.temp(depth + 1)?;
                        self.emit(mov(r, Source::Reg(TBASE)));
                        r
                    }
                };
                self.emit(alu(Width::W64, AluOp::Add, r, Source::Reg(CTX)));
                self.load(dst, r, p.off + IPV4 as u64, s, p.order)?;
            }
        }
        Ok(Val {
            op: Opnd::Reg(dst),
            ty: Some(s),
            range,
            guarded: false,
        })
    }

    fn load(&mut self, dst: Reg, base: Reg, off: u64, s: Scalar, order: Order) -> R<()> {
        let off = match i16::try_from(off) {
            Ok(o) => o,
            Err(_) => {
                let Ok(step) = i32::try_from(off) else {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::layout::out_of_range",
                            format!("this reads byte {off} of the object, past the largest offset an instruction reaches (2^31 - 1)"),
                        )
                        .label(self.span, "this read")
                        .help("keep layouts below 2^31 bytes (an `acl`'s object starts after its 16-byte request)"),
                    ));
                };
                // Far fields: move the base first.
                if base == CTX {
                    self.emit(mov(dst, Source::Reg(CTX)));
                }
                let b = if base == CTX { dst } else { base };
                self.emit(alu(Width::W64, AluOp::Add, b, Source::Imm(step)));
                return self.load(dst, b, 0, s, order);
            }
        };
        let size = size_of_bytes(s.bytes());
        let swap = order == Order::Be && s.bytes() > 1;
        self.emit(Insn::Load {
            size,
            signed: s.signed() && !swap && s.bits() < 64,
            dst,
            base,
            off,
        });
        if swap {
            let bits = match s.bytes() {
                2 => SwapBits::B16,
                4 => SwapBits::B32,
                _ => SwapBits::B64,
            };
            self.emit(Insn::End {
                kind: Endian::Be,
                bits,
                dst,
            });
            if s.signed() {
                self.normalize(dst, s);
            }
        }
        if s == Scalar::Bool {
            self.emit(alu(Width::W64, AluOp::And, dst, Source::Imm(1)));
        }
        Ok(())
    }

    /// Resolves a field/index chain to a place. Dynamic indexes leave a byte offset in a
    /// temporary above `depth`; packet places are length-checked on the way.
    fn place(&mut self, e: &Expr, depth: usize) -> R<Place> {
        self.enter(e.span)?;
        let r = self.place_inner(e, depth);
        self.nest -= 1;
        r
    }

    fn place_inner(&mut self, e: &Expr, depth: usize) -> R<Place> {
        match &e.kind {
            ExprKind::Paren(x) => self.place(x, depth),
            ExprKind::Name(n) => {
                let Some(i) = self.lookup(&n.name) else {
                    return Err(self.unknown(&n.name, n.span));
                };
                match self.vars[i].kind {
                    VarKind::Object { layout, offset } => Ok(Place {
                        base: Base::Ctx,
                        off: offset as u64,
                        index: None,
                        ty: PTy::Layout(layout),
                        order: Order::Le,
                    }),
                    VarKind::Packet => Ok(Place {
                        base: Base::Pkt,
                        off: 0,
                        index: None,
                        ty: PTy::Packet,
                        order: Order::Be,
                    }),
                    VarKind::Scalar { .. } => Err(self.error(
                        Diagnostic::new(
                            "udf::type::mismatch",
                            format!("`{}` has no fields", n.name),
                        )
                        .label(n.span, "a scalar"),
                    )),
                }
            }
            ExprKind::Field(b, f) => {
                let p = self.place(b, depth)?;
                match p.ty {
                    PTy::Packet => self.packet_member(f, e.span),
                    PTy::Layout(l) => {
                        let layout = &self.layouts[l];
                        let Some(field) = layout.fields.iter().find(|x| x.name == f.name) else {
                            let names: Vec<&str> =
                                layout.fields.iter().map(|x| x.name.as_str()).collect();
                            let lname = layout.name.clone();
                            return Err(self.error(
                                Diagnostic::new(
                                    "udf::name::unknown",
                                    format!("`{lname}` has no field `{}`", f.name),
                                )
                                .label(f.span, "no such field")
                                .help(format!("its fields: {}", names.join(", "))),
                            ));
                        };
                        let ty = match &field.ty {
                            FieldTy::Scalar(s) => PTy::Scalar(*s),
                            FieldTy::Layout(i) => PTy::Layout(*i),
                            FieldTy::Array(el, n) => PTy::Array((**el).clone(), *n),
                        };
                        let p = Place {
                            off: p.off + field.offset as u64,
                            ty,
                            order: field.order,
                            ..p
                        };
                        self.check_packet(&p, e.span, depth)?;
                        Ok(p)
                    }
                    _ => Err(self.error(
                        Diagnostic::new("udf::type::mismatch", "this has no fields")
                            .label(b.span, "not a layout"),
                    )),
                }
            }
            ExprKind::Index(b, idx) => {
                let p = self.place(b, depth)?;
                let (elem, n) = match &p.ty {
                    PTy::Array(el, n) => (el.clone(), Some(*n)),
                    PTy::Raw(s) => (FieldTy::Scalar(*s), None),
                    _ => {
                        return Err(self.error(
                            Diagnostic::new("udf::type::mismatch", "only arrays can be indexed")
                                .label(b.span, "not an array"),
                        ));
                    }
                };
                let esize = self.items.size_of(&elem).max(match &elem {
                    FieldTy::Layout(i) => self.layouts[*i].size as u64,
                    _ => 0,
                });
                let ty = match &elem {
                    FieldTy::Scalar(s) => PTy::Scalar(*s),
                    FieldTy::Layout(i) => PTy::Layout(*i),
                    FieldTy::Array(el, n) => PTy::Array((**el).clone(), *n),
                };
                let slot = depth + 1 + usize::from(p.index.is_some());
                let v = self.eval(idx, slot)?;
                if let Some(t) = v.ty
                    && (!t.is_int() || t.signed())
                {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::type::mismatch",
                            format!("an index is an unsigned integer, not `{}`", t.name()),
                        )
                        .label(idx.span, "this index"),
                    ));
                }
                if n.is_none() {
                    // Raw packet bytes: any offset, checked against the captured length.
                    return self.raw_packet(p, v, ty, idx.span, slot, depth);
                }
                let n = n.expect("arrays have a length") as u64;
                if let Opnd::Imm(k) = v.op {
                    if k >= n {
                        return Err(self.error(
                            Diagnostic::new(
                                "udf::index::out_of_range",
                                format!("index {k} is past the end of an array of {n}"),
                            )
                            .label(idx.span, format!("valid indexes are 0..{n}")),
                        ));
                    }
                    let p = Place {
                        off: p.off + k * esize,
                        ty,
                        ..p
                    };
                    self.check_packet(&p, e.span, depth)?;
                    return Ok(p);
                }
                match v.range {
                    Some((_, hi)) if hi < n => {}
                    _ => {
                        let name = expr_text(idx);
                        return Err(self.error(
                            Diagnostic::new(
                                "udf::index::unproven",
                                format!("cannot prove this index is below {n}"),
                            )
                            .label(idx.span, "may be out of range")
                            .help(format!(
                                "guard the access: `if {name} < {n} {{ ... }}`, or mask it"
                            )),
                        ));
                    }
                }
                // The byte offset of the element, in a temporary the place owns.
                let r = self.materialize(v.op, slot)?;
                if v.guarded {
                    // The bound came from a guard the verifier may not have seen on this
                    // register: restate it (a no-op for every value the guard lets through).
                    let ok = self.label();
                    self.jump(JmpCond::Le, r, Source::Imm((n - 1) as i32), ok);
                    self.emit(mov(r, Source::Imm((n - 1) as i32)));
                    self.bind(ok);
                }
                if esize.is_power_of_two() {
                    if esize > 1 {
                        self.emit(alu(
                            Width::W64,
                            AluOp::Lsh,
                            r,
                            Source::Imm(esize.trailing_zeros() as i32),
                        ));
                    }
                } else {
                    self.emit(alu(Width::W64, AluOp::Mul, r, Source::Imm(esize as i32)));
                }
                let index = match p.index {
                    Some(prev) => {
                        self.emit(alu(Width::W64, AluOp::Add, prev, Source::Reg(r)));
                        Some(prev)
                    }
                    None => Some(r),
                };
                if p.base != Base::Ctx {
                    return Err(self.error(
                        Diagnostic::new(
                            "udf::unsupported::index",
                            "variable indexes into packet views are not supported",
                        )
                        .label(idx.span, "use a constant, or p.u8[offset]"),
                    ));
                }
                Ok(Place { index, ty, ..p })
            }
            _ => Err(self.error(
                Diagnostic::new("udf::type::mismatch", "this has no fields")
                    .label(e.span, "not a layout"),
            )),
        }
    }

    fn packet_member(&mut self, f: &crate::ast::Ident, span: Span) -> R<Place> {
        if let Some((&name, &(l, base))) = self.views.get_key_value(f.name.as_str()) {
            self.used_views.insert(name);
            return Ok(match base {
                ViewBase::Fixed(o) => Place {
                    base: Base::Pkt,
                    off: o as u64,
                    index: None,
                    ty: PTy::Layout(l),
                    order: Order::Be,
                },
                ViewBase::Transport => Place {
                    base: Base::Transport,
                    off: 0,
                    index: None,
                    ty: PTy::Layout(l),
                    order: Order::Be,
                },
            });
        }
        if let Some(&(_, s)) = packet::RAW.iter().find(|(n, _)| *n == f.name) {
            return Ok(Place {
                base: Base::Pkt,
                off: 0,
                index: None,
                ty: PTy::Raw(s),
                order: Order::Be,
            });
        }
        match f.name.as_str() {
            "len" => Ok(Place {
                base: Base::Len,
                off: 0,
                index: None,
                ty: PTy::Scalar(Scalar::U32),
                order: Order::Le,
            }),
            "wirelen" => Ok(Place {
                base: Base::Wire,
                off: 0,
                index: None,
                ty: PTy::Scalar(Scalar::U32),
                order: Order::Le,
            }),
            _ => {
                let mut names: Vec<&str> = packet::VIEWS.iter().map(|v| v.0).collect();
                names.extend(packet::RAW.iter().map(|r| r.0));
                names.extend(["len", "wirelen"]);
                Err(self.error(
                    Diagnostic::new(
                        "udf::name::unknown",
                        format!("a packet has no `{}`", f.name),
                    )
                    .label(span, "no such view")
                    .help(format!("packet members: {}", names.join(", "))),
                ))
            }
        }
    }

    /// Before a scalar packet place is read: make sure its bytes are known to be captured.
    fn check_packet(&mut self, p: &Place, _span: Span, depth: usize) -> R<()> {
        let PTy::Scalar(s) = p.ty else { return Ok(()) };
        let end = p.off + s.bytes() as u64;
        match p.base {
            Base::Pkt => self.need_fixed(end, depth),
            Base::Transport => self.need_transport(end, depth),
            _ => Ok(()),
        }
    }

    fn need_fixed(&mut self, end: u64, _depth: usize) -> R<()> {
        if end <= self.pkt.fixed {
            return Ok(());
        }
        let Some(i) = imm_fits(end) else {
            // Past every capture (the snap length is far below 2^31): the packet is rejected.
            self.ja(self.reject);
            return Ok(());
        };
        self.jump(JmpCond::Lt, LEN, Source::Imm(i), self.reject);
        self.pkt.fixed = end;
        Ok(())
    }

    fn need_transport(&mut self, end: u64, depth: usize) -> R<()> {
        if self.pkt.transport.is_none() {
            self.need_fixed(IPV4 as u64 + 1, depth)?;
            let at = self.code.len();
            self.emit(Insn::Load {
                size: Size::B,
                signed: false,
                dst: TBASE,
                base: CTX,
                off: IPV4 as i16,
            });
            self.emit(alu(Width::W64, AluOp::And, TBASE, Source::Imm(15)));
            self.emit(alu(Width::W64, AluOp::Lsh, TBASE, Source::Imm(2)));
            self.pkt.transport = Some((at, 0));
        }
        let (at, known) = self.pkt.transport.expect("just set");
        if end <= known {
            return Ok(());
        }
        let t = self.temp(depth + 1)?;
        self.emit(mov(t, Source::Reg(TBASE)));
        self.emit(alu(
            Width::W64,
            AluOp::Add,
            t,
            Source::Imm((IPV4 as u64 + end) as i32),
        ));
        self.jump(JmpCond::Gt, t, Source::Reg(LEN), self.reject);
        self.pkt.transport = Some((at, end));
        Ok(())
    }

    /// `p.u8[off]` and friends: a run-time offset, tested against the captured length.
    fn raw_packet(
        &mut self,
        p: Place,
        v: Val,
        ty: PTy,
        span: Span,
        slot: usize,
        depth: usize,
    ) -> R<Place> {
        let PTy::Scalar(s) = ty else {
            return Err(Reported);
        };
        let _ = span;
        if let Opnd::Imm(k) = v.op {
            let p = Place {
                off: p.off + k,
                ty,
                ..p
            };
            if k > u32::MAX as u64 {
                self.ja(self.reject);
            } else {
                self.need_fixed(k + s.bytes() as u64, depth)?;
            }
            return Ok(p);
        }
        let r = self.materialize(v.op, slot)?;
        self.jump(JmpCond::Gt, r, Source::Imm(0x7fff_ffff), self.reject);
        let t = self.temp(slot + 1)?;
        self.emit(mov(t, Source::Reg(r)));
        self.emit(alu(
            Width::W64,
            AluOp::Add,
            t,
            Source::Imm(s.bytes() as i32),
        ));
        self.jump(JmpCond::Gt, t, Source::Reg(LEN), self.reject);
        Ok(Place {
            base: Base::Pkt,
            off: p.off,
            index: Some(r),
            ty,
            order: Order::Be,
        })
    }

    // ---- merged length tests for a filter's result --------------------------------------------

    /// Tests up front the furthest byte that every accepting evaluation of `e` reads.
    fn hoist_checks(&mut self, e: &Expr, depth: usize) -> R<()> {
        let need = self.truth_reads(e);
        if need.fixed > 0 {
            self.need_fixed(need.fixed, depth)?;
        }
        if need.transport > 0 {
            self.need_transport(need.transport, depth)?;
        }
        Ok(())
    }

    /// Reads that must succeed for `e` to be true.
    fn truth_reads(&self, e: &Expr) -> Need {
        match &e.kind {
            ExprKind::Paren(x) => self.truth_reads(x),
            ExprKind::Binary(BinOp::AndAnd, a, b) => self.truth_reads(a).join(self.truth_reads(b)),
            ExprKind::Binary(BinOp::OrOr, a, b) => self.truth_reads(a).meet(self.truth_reads(b)),
            ExprKind::Unary(UnOp::Not, x) => self.mandatory_reads(x),
            _ => self.mandatory_reads(e),
        }
    }

    /// Reads every evaluation of `e` makes, whatever its value.
    fn mandatory_reads(&self, e: &Expr) -> Need {
        match &e.kind {
            ExprKind::Paren(x) | ExprKind::Unary(_, x) | ExprKind::Cast(x, _) => {
                self.mandatory_reads(x)
            }
            ExprKind::Binary(BinOp::AndAnd | BinOp::OrOr, a, _) => self.mandatory_reads(a),
            ExprKind::Binary(_, a, b) => self.mandatory_reads(a).join(self.mandatory_reads(b)),
            ExprKind::Field(..) | ExprKind::Index(..) => self.static_read(e).unwrap_or_default(),
            _ => Need::default(),
        }
    }

    /// The bytes a packet field read at a constant place needs.
    fn static_read(&self, e: &Expr) -> Option<Need> {
        let (view, field, index) = packet_path(e)?;
        let param = match self.vars.iter().find(|v| matches!(v.kind, VarKind::Packet)) {
            Some(v) => v.name.clone(),
            None => return None,
        };
        if view.0 != param {
            return None;
        }
        let &(l, base) = self.views.get(view.1.as_str())?;
        let f = self.layouts[l].fields.iter().find(|f| f.name == field)?;
        let (size, len) = match &f.ty {
            FieldTy::Scalar(s) => (s.bytes() as u64, None),
            FieldTy::Array(el, n) => (self.items.size_of(el), Some(*n as u64)),
            FieldTy::Layout(_) => return None,
        };
        let k = match (index, len) {
            (None, None) => 0,
            (Some(k), Some(n)) if k < n => k,
            _ => return None,
        };
        let end = f.offset as u64 + k * size + size;
        Some(match base {
            ViewBase::Fixed(o) => Need {
                fixed: o as u64 + end,
                transport: 0,
            },
            ViewBase::Transport => Need {
                fixed: IPV4 as u64 + 1,
                transport: end,
            },
        })
    }
}

/// `p.VIEW.FIELD` or `p.VIEW.FIELD[K]`: ((param, view), field, K).
fn packet_path(e: &Expr) -> Option<((String, String), String, Option<u64>)> {
    let (inner, index) = match &e.kind {
        ExprKind::Index(b, i) => match i.kind {
            ExprKind::Int(k) => (&**b, Some(k)),
            _ => return None,
        },
        _ => (e, None),
    };
    let ExprKind::Field(v, f) = &inner.kind else {
        return None;
    };
    let ExprKind::Field(p, view) = &v.kind else {
        return None;
    };
    let ExprKind::Name(p) = &p.kind else {
        return None;
    };
    Some(((p.name.clone(), view.name.clone()), f.name.clone(), index))
}

/// Bytes needed: captured from the start, and past the transport header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Need {
    fixed: u64,
    transport: u64,
}

impl Need {
    fn join(self, o: Need) -> Need {
        Need {
            fixed: self.fixed.max(o.fixed),
            transport: self.transport.max(o.transport),
        }
    }
    fn meet(self, o: Need) -> Need {
        Need {
            fixed: self.fixed.min(o.fixed),
            transport: self.transport.min(o.transport),
        }
    }
}

impl Pkt {
    /// After a short-circuit condition: what held before it still holds.
    fn max_fixed(self, before: Pkt) -> Pkt {
        Pkt {
            fixed: self.fixed.max(before.fixed),
            ..self
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Base {
    Ctx,
    Pkt,
    Transport,
    Len,
    Wire,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PTy {
    Scalar(Scalar),
    Layout(usize),
    Array(FieldTy, u32),
    Raw(Scalar),
    Packet,
}

#[derive(Clone, Debug)]
struct Place {
    base: Base,
    off: u64,
    /// A register holding a byte offset to add (dynamic indexes).
    index: Option<Reg>,
    ty: PTy,
    order: Order,
}

fn type_range(t: Scalar) -> Option<(u64, u64)> {
    match t {
        Scalar::U8 => Some((0, 0xff)),
        Scalar::U16 => Some((0, 0xffff)),
        Scalar::U32 => Some((0, 0xffff_ffff)),
        Scalar::Bool => Some((0, 1)),
        _ => None,
    }
}

fn range_of(
    op: BinOp,
    a: Option<(u64, u64)>,
    b: Option<(u64, u64)>,
    t: Scalar,
) -> Option<(u64, u64)> {
    let max = type_range(t).map_or(u64::MAX, |r| r.1);
    let r = match (op, a, b) {
        (BinOp::And, _, Some((_, m))) | (BinOp::And, Some((_, m)), _) => Some((0, m)),
        (BinOp::Rem, _, Some((m, _))) if m > 0 => Some((0, m - 1)),
        (BinOp::Add, Some((a0, a1)), Some((b0, b1))) => {
            Some((a0.checked_add(b0)?, a1.checked_add(b1)?))
        }
        (BinOp::Sub, Some((a0, a1)), Some((b0, b1))) if a0 >= b1 => Some((a0 - b1, a1 - b0)),
        (BinOp::Mul, Some((a0, a1)), Some((b0, b1))) => {
            Some((a0.checked_mul(b0)?, a1.checked_mul(b1)?))
        }
        (BinOp::Shr, Some((a0, a1)), Some((b0, b1))) if b1 < 64 => Some((a0 >> b1, a1 >> b0)),
        (BinOp::Div, Some((a0, a1)), Some((b0, b1))) if b0 > 0 => Some((a0 / b1, a1 / b0)),
        _ => None,
    };
    if t.signed() {
        return None;
    }
    r.filter(|&(_, hi)| hi <= max).or_else(|| type_range(t))
}

fn type_label(t: Option<Scalar>) -> String {
    match t {
        Some(s) => format!("`{}`", s.name()),
        None => "an integer literal".to_string(),
    }
}

fn mirror(op: BinOp) -> BinOp {
    match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::Le => BinOp::Ge,
        BinOp::Gt => BinOp::Lt,
        BinOp::Ge => BinOp::Le,
        o => o,
    }
}

fn negate(op: BinOp) -> BinOp {
    match op {
        BinOp::Eq => BinOp::Ne,
        BinOp::Ne => BinOp::Eq,
        BinOp::Lt => BinOp::Ge,
        BinOp::Le => BinOp::Gt,
        BinOp::Gt => BinOp::Le,
        BinOp::Ge => BinOp::Lt,
        o => o,
    }
}

fn jcond(op: BinOp, signed: bool) -> JmpCond {
    match (op, signed) {
        (BinOp::Eq, _) => JmpCond::Eq,
        (BinOp::Ne, _) => JmpCond::Ne,
        (BinOp::Lt, false) => JmpCond::Lt,
        (BinOp::Le, false) => JmpCond::Le,
        (BinOp::Gt, false) => JmpCond::Gt,
        (BinOp::Ge, false) => JmpCond::Ge,
        (BinOp::Lt, true) => JmpCond::Slt,
        (BinOp::Le, true) => JmpCond::Sle,
        (BinOp::Gt, true) => JmpCond::Sgt,
        (BinOp::Ge, true) => JmpCond::Sge,
        _ => unreachable!("not a comparison"),
    }
}

fn tail_of(b: &Block) -> Option<&Expr> {
    match (&b.tail, b.stmts.last()) {
        (Some(t), _) => Some(t),
        (None, Some(Stmt::Expr { expr, semi: false })) if expr.is_block_like() => Some(expr),
        _ => None,
    }
}

fn stmt_span(s: &Stmt) -> Span {
    match s {
        Stmt::Let { span, .. }
        | Stmt::Assign { span, .. }
        | Stmt::For { span, .. }
        | Stmt::Return(_, span)
        | Stmt::Break(span)
        | Stmt::Continue(span)
        | Stmt::Error(span) => *span,
        Stmt::Expr { expr, .. } => expr.span,
    }
}

fn ends_in_return(b: &Block) -> bool {
    matches!(b.stmts.last(), Some(Stmt::Return(..)))
}

/// Source-like text of a simple expression, for help lines.
fn expr_text(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Name(n) => n.name.clone(),
        ExprKind::Int(v) => v.to_string(),
        _ => "INDEX".to_string(),
    }
}
