//! The pcap-filter(7) parser: libpcap's scanner and grammar (`scanner.l`, `grammar.y`) rebuilt
//! as a longest-match lexer and a recursive-descent parser that accepts the same language, with
//! libpcap's qualifier inheritance applied while parsing.
//!
//! Points where the grammar is subtle, and what this parser does (as libpcap does):
//!
//! * `and` and `or` have the same precedence and associate to the left; `not` binds tightest.
//! * A bare value after `and`/`or` repeats the qualifiers of the primitive before it: `host a or
//!   b`, `tcp port 80 or 443`, `ip host a and not b`. After a parenthesised expression the
//!   qualifiers are the ones in force *before* the parenthesis (`host a and (tcp) or b` means
//!   `... or host b`); after a protocol alone, a keyword primitive or a comparison there are
//!   none, and a bare value is an error.
//! * Parenthesised lists of values are ids too: `host (a or b)`, `port 80 or (443 or 8080)`.
//! * `(` starts a boolean group, a list of values or an arithmetic group; the token after the
//!   matching `)` and the first token inside tell which, as libpcap's LALR(1) automaton does.
//! * Arithmetic precedence follows grammar.y's `%left` lines (`|` < `&` < `<<` `>>` < `+` `-` <
//!   `*` `/` < unary minus). `%` and `^` have no declared precedence there, so bison resolves
//!   every conflict involving them by shifting: they bind everything to their right (`2 % 3 * 4`
//!   is `2 % (3 * 4)`, `a * b ^ c + d` is `a * (b ^ (c + d))`).
//! * `byte N op V` is spelled out as the equivalent comparison on `link[N]`.

use core::fmt;
use std::sync::OnceLock;

use crate::ast::{Arith, ArithOp, Dir, Expr, Id, IdKind, Keyword, Llc, Proto, Quals, RelOp};
use udf_diag::Diagnostic;
use udf_diag::Span;

const SYNTAX: &str = "udf::pcap::syntax";
const UNSUPPORTED: &str = "udf::pcap::unsupported";
const VALUE: &str = "udf::pcap::value";

/// How deeply parentheses, brackets, `not`s and unary minuses may nest.
const MAX_DEPTH: usize = 256;

/// How many operators (`and`, `or`, `not`, arithmetic) an expression may have: a tree is at
/// most that deep, and every pass over it may recurse.
const MAX_OPS: usize = 10_000;

/// Parses a filter expression. The empty (or all-whitespace) expression is [`Expr::True`].
pub fn parse(expr: &str) -> Result<Expr, Diagnostic> {
    let toks = lex(expr);
    let mut p = Parser { src: expr, toks, pos: 0, depth: 0, ops: 0 };
    p.check_nesting()?;
    if matches!(p.tok(), Tok::Eof) {
        return Ok(Expr::True);
    }
    let (e, _) = p.expr(None)?;
    match p.tok() {
        Tok::Eof => Ok(e),
        _ => Err(p.after_term("the end of the expression")),
    }
}

// Tokens

/// Keywords of the scanner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kw {
    Dst,
    Src,
    /// A protocol name (`pname` in grammar.y).
    Pname(Proto),
    Host,
    Net,
    Mask,
    Port,
    Portrange,
    ProtoQual,
    Protochain,
    Gateway,
    Less,
    Greater,
    Byte,
    Broadcast,
    Multicast,
    Len,
    Inbound,
    Outbound,
    Ifindex,
    Vlan,
    Mpls,
    Pppoed,
    Pppoes,
    Geneve,
    Vxlan,
    Llc,
    /// `rnr`/`rulenum`: a pflog keyword that `llc rnr` also uses.
    Rnr,
    /// Keywords of primitives for other link types.
    Unsup(Family),
    /// `type`.
    WlanType,
    /// `subtype`.
    WlanSubtype,
    /// `dir`, `direction`.
    WlanDir,
    /// `addr1`..`addr4`, `ra`, `ta`: 802.11 address qualifiers.
    WlanDirQ(Dir),
}

impl Kw {
    /// A direction or type qualifier (`src`, `host`, `port`, `gateway`, ...): with a protocol
    /// before it or not, it starts a qualified primitive (`head` in grammar.y).
    fn starts_qualified(self) -> bool {
        matches!(
            self,
            Kw::Src
                | Kw::Dst
                | Kw::WlanDirQ(_)
                | Kw::Host
                | Kw::Net
                | Kw::Port
                | Kw::Portrange
                | Kw::ProtoQual
                | Kw::Protochain
                | Kw::Gateway
        )
    }
}

/// Families of valid but unsupported keywords.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// `radio`.
    Radio,
    /// `on`, `ruleset`, `reason`, `action`, ...
    Pflog,
    /// `lane`, `oam`, `vpi`, ...
    Atm,
    /// `fisu`, `sio`, `dpc`, ...
    Mtp,
    /// `$xx` ARCnet addresses.
    Arcnet,
}

impl Family {
    fn describe(self) -> &'static str {
        match self {
            Family::Radio => "the 802.11 radio-header protocol qualifier",
            Family::Pflog => "an OpenBSD pflog primitive",
            Family::Atm => "a SunATM primitive",
            Family::Mtp => "an SS7 MTP2/MTP3 primitive",
            Family::Arcnet => "an ARCnet address",
        }
    }
}

/// `WHAT N is greater than the maximum MAX`, labelled `at most MAX` and `suffix`.
fn too_large(what: &str, n: u32, max: u32, span: Span, suffix: &str) -> Diagnostic {
    Diagnostic::new(VALUE, format!("{what} {n} is greater than the maximum {max}"))
        .label(span, format!("at most {max}{suffix}"))
}

/// Operators and punctuation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Punct {
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Colon,
    LBrack,
    RBrack,
    LParen,
    RParen,
    Lt,
    Gt,
    Amp,
    Pipe,
    Caret,
    Eq,
    Ge,
    Le,
    Ne,
    Lsh,
    Rsh,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Kw(Kw),
    /// A number (also the named constants such as `tcp-syn`).
    Num(u32),
    /// `{N}.{N}[.{N}[.{N}]]` (libpcap's HID).
    Hid(Vec<u32>),
    /// An IPv6 address (HID6).
    Hid6([u8; 16]),
    /// An Ethernet address (EID).
    Eid([u8; 6]),
    /// `$xx` (AID).
    Aid,
    /// A name, or a `\`-escaped name without its backslash.
    Id(String),
    Punct(Punct),
    And,
    Or,
    Not,
    /// A lexical error, reported when the parser reaches it.
    Error(Box<Diagnostic>),
    Eof,
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    span: Span,
}

mod arith;
mod expr;
mod lex;
mod print;

use lex::lex;
pub(crate) use lex::parse_number;

/// What a `(` starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    /// An arithmetic group: the matching `)` is followed by an operator or comparison.
    Arith,
    /// `( NUM )`, possibly nested: a number.
    Pnum,
    /// A parenthesised list of values (`paren pid ')'`).
    Group,
    /// A parenthesised boolean expression.
    Expr,
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    /// Current nesting (parentheses, brackets, `not`, unary minus).
    depth: usize,
    /// Operators so far.
    ops: usize,
}

/// The qualifiers a bare value would inherit (`None`: libpcap's `qerr`, none to inherit).
type Inherit = Option<Quals>;

fn is_arith_follow(t: &Tok) -> bool {
    matches!(
        t,
        Tok::Punct(
            Punct::Plus
                | Punct::Minus
                | Punct::Star
                | Punct::Slash
                | Punct::Percent
                | Punct::Amp
                | Punct::Pipe
                | Punct::Caret
                | Punct::Lsh
                | Punct::Rsh
                | Punct::Gt
                | Punct::Ge
                | Punct::Lt
                | Punct::Le
                | Punct::Eq
                | Punct::Ne
        )
    )
}

fn is_value(t: &Tok) -> bool {
    matches!(t, Tok::Id(_) | Tok::Hid(_) | Tok::Hid6(_) | Tok::Eid(_) | Tok::Aid)
}

impl<'a> Parser<'a> {
    fn tok(&self) -> &Tok {
        &self.toks[self.pos].tok
    }
    fn tok_at(&self, i: usize) -> &Tok {
        &self.toks[i.min(self.toks.len() - 1)].tok
    }
    fn span(&self) -> Span {
        self.toks[self.pos].span
    }
    fn span_at(&self, i: usize) -> Span {
        self.toks[i.min(self.toks.len() - 1)].span
    }
    fn prev_span(&self) -> Span {
        self.toks[self.pos.saturating_sub(1)].span
    }
    fn bump(&mut self) -> Span {
        let s = self.span();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        s
    }
    fn text(&self, span: Span) -> &'a str {
        &self.src[span.range()]
    }

    fn enter(&mut self) -> Result<(), Diagnostic> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Diagnostic::new(SYNTAX, "expression nested too deeply")
                .label(self.span(), format!("more than {MAX_DEPTH} levels of nesting here"))
                .help("nest less: `not not x` is `x`, `((x))` is `x`"));
        }
        Ok(())
    }
    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Rejects over-deep parenthesis nesting up front (the classification of `(` looks ahead).
    fn check_nesting(&self) -> Result<(), Diagnostic> {
        let mut depth = 0usize;
        for t in &self.toks {
            match t.tok {
                Tok::Punct(Punct::LParen) => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(Diagnostic::new(SYNTAX, "expression nested too deeply")
                            .label(t.span, format!("more than {MAX_DEPTH} levels of parentheses"))
                            .help("nest less: `((x))` is `x`"));
                    }
                }
                Tok::Punct(Punct::RParen) => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }

    /// "expected X, found Y" at the current token (or the lexical error found there).
    fn expected(&self, what: &str) -> Diagnostic {
        let span = self.span();
        match self.tok() {
            Tok::Error(d) => (**d).clone(),
            Tok::Eof => {
                Diagnostic::new(SYNTAX, format!("expected {what}, found the end of the expression"))
                    .label(span, "the expression ends here")
            }
            _ => Diagnostic::new(SYNTAX, format!("expected {what}, found `{}`", self.text(span)))
                .label(span, format!("expected {what}")),
        }
    }

    fn unsupported(&self, span: Span, f: Family) -> Diagnostic {
        Diagnostic::new(
            UNSUPPORTED,
            format!("`{}` is {}, which is not supported", self.text(span), f.describe()),
        )
        .label(span, "not supported")
        .help("the pcap-filter front end does not compile this primitive for any link type")
    }

    /// The error for a token that cannot follow a complete primitive.
    fn after_term(&self, what: &str) -> Diagnostic {
        let span = self.span();
        let prev = self.tok_at(self.pos.saturating_sub(1));
        match self.tok() {
            Tok::Error(d) => (**d).clone(),
            Tok::Punct(Punct::RParen) => {
                Diagnostic::new(SYNTAX, "unmatched `)`").label(span, "no `(` opens this")
            }
            Tok::Punct(Punct::Slash) | Tok::Kw(Kw::Mask)
                if matches!(prev, Tok::Num(_) | Tok::Id(_)) =>
            {
                Diagnostic::new(
                    SYNTAX,
                    format!("`{}` must follow a dotted or IPv6 address", self.text(span)),
                )
                .label(span, "unexpected here")
                .label(self.prev_span(), "not a dotted address")
                .help(
                    "write the network in dotted form, as in `net 10.0.0.0/8` or \
                     `net 10.0.0.0 mask 255.0.0.0`",
                )
            }
            t if is_value(t) || matches!(t, Tok::Num(_)) => Diagnostic::new(
                SYNTAX,
                format!("unexpected value `{}`: expected `and`, `or` or {what}", self.text(span)),
            )
            .label(span, "unexpected value")
            .help(
                "a value follows a kind or direction qualifier, as in `ip host 10.0.0.1` or \
                 `tcp src port 80`; primitives are joined with `and` and `or`",
            ),
            _ => self.expected(&format!("`and`, `or` or {what}")),
        }
    }

    fn matching(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        let mut i = open;
        loop {
            match self.tok_at(i) {
                Tok::Punct(Punct::LParen) => depth += 1,
                Tok::Punct(Punct::RParen) => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                Tok::Eof => return None,
                _ => {}
            }
            i += 1;
        }
    }

    /// If a number, possibly in parentheses (`pnum`), starts at `i`: the index of its last token.
    fn pnum_end(&self, mut i: usize) -> Option<usize> {
        let mut k = 0;
        while matches!(self.tok_at(i), Tok::Punct(Punct::LParen)) {
            k += 1;
            i += 1;
        }
        if !matches!(self.tok_at(i), Tok::Num(_)) {
            return None;
        }
        for _ in 0..k {
            i += 1;
            if !matches!(self.tok_at(i), Tok::Punct(Punct::RParen)) {
                return None;
            }
        }
        Some(i)
    }

    fn classify(&self, open: usize) -> Result<Class, Diagnostic> {
        let Some(close) = self.matching(open) else {
            return Err(Diagnostic::new(SYNTAX, "unclosed `(`")
                .label(self.span_at(open), "this `(` is never closed"));
        };
        if is_arith_follow(self.tok_at(close + 1)) {
            return Ok(Class::Arith);
        }
        if self.pnum_end(open) == Some(close) {
            return Ok(Class::Pnum);
        }
        let mut t = open + 1;
        while matches!(self.tok_at(t), Tok::Not) {
            t += 1;
        }
        Ok(match self.tok_at(t) {
            v if is_value(v) => Class::Group,
            Tok::Num(_) => {
                if matches!(self.tok_at(t + 1), Tok::And | Tok::Or | Tok::Punct(Punct::RParen)) {
                    Class::Group
                } else {
                    Class::Expr
                }
            }
            Tok::Punct(Punct::LParen) => match self.classify(t)? {
                Class::Pnum | Class::Group => Class::Group,
                _ => Class::Expr,
            },
            _ => Class::Expr,
        })
    }
}
