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
use crate::items::{FieldTy, Items, ScalarType, apply, unify};
use crate::limits::{MAX_DEPTH, MAX_INSNS, MAX_LOWERED};
use crate::packet::{self, IPV4, ViewBase};
use crate::srcmap::{SourceMap, Span};

mod cond;
mod emit;
mod expr;
mod inline;
mod lengths;
mod place;
mod stmt;
mod typing;
mod vars;

use emit::*;
use place::*;
use stmt::*;
use typing::*;

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
/// What the lowering gives: a value, or a failure already reported.
type Lowered<T> = Result<T, Reported>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Home {
    Reg(Reg),
    Stack(i16),
}

#[derive(Clone, Copy, Debug)]
enum Operand {
    Imm(u64),
    Reg(Reg),
}

/// A value: where it is, its type (`None`: an untyped literal) and what is known of its range
/// (unsigned, inclusive), for index proofs.
#[derive(Clone, Copy, Debug)]
struct Val {
    op: Operand,
    ty: Option<ScalarType>,
    range: Option<(u64, u64)>,
    /// The range comes from an enclosing guard, which the verifier may not see.
    guarded: bool,
}

#[derive(Clone, Debug)]
enum VarKind {
    Scalar {
        home: Home,
        ty: ScalarType,
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
    ret: Option<(Label, Reg, Option<ScalarType>)>,
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
    let opts = crate::pcap::CompileOptions {
        snaplen: ACCEPT_LEN as u32,
        ..crate::pcap::CompileOptions::default()
    };
    match crate::pcap::compile(text, &opts) {
        Ok(c) => Some(Entry {
            name: def.name.name.clone(),
            ty: ProgramType::Filter,
            map: SourceMap { spans: vec![span; c.prog.insns().len()] },
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
                d.labels.push(crate::diag::SpanLabel { span, text: "this expression".into() });
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
        frames: vec![Frame { ret: None, loops_base: 0, base_depth: 0 }],
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
            let insn = prog.insns().get(e.index).map(|i| i.to_string()).unwrap_or_default();
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
            Some(match in_loop.and_then(|(h, t, k)| Some((loop_of(h, t)?, k))) {
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
                    .label(map.span(e.index).unwrap_or(def.name.span), "the budget runs out here")
                    .label(def.name.span, "in this entry point")
                    .help(format!(
                        "every path of a program must finish within {budget} instructions \
                         (udf_verifier::DEFAULT_BUDGET): lower the loops' bounds or do less"
                    )),
            })
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
                .label(map.span(e.index).unwrap_or(def.name.span), "this extent may wrap around")
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
            .label(map.span(e.index).unwrap_or(def.name.span), "this loop is too deep")
            .label(def.name.span, "in this entry point")
            .help(format!("nest at most {max} loops, e.g. by merging two loops into one")),
        ),
        _ => None,
    }
}
