//! Parsing: the generated LALR parser over the logos tokens, with syntax errors turned into
//! located diagnostics (`udf::lex`, `udf::syntax`).

use lalrpop_util::{ErrorRecovery, ParseError, lalrpop_mod};

use crate::ast::{BinOp, Expr, ExprKind, File, UnOp};
use crate::diag::Diagnostic;
use crate::lexer::{LexError, LexErrorKind, Tok, tokens};
use crate::limits::MAX_DEPTH;
use crate::srcmap::Span;

lalrpop_mod!(
    #[allow(clippy::all, missing_docs, unused_parens, unused_imports)]
    grammar
);

pub(crate) fn mk(kind: ExprKind, span: Span) -> Expr {
    Expr { kind, span }
}

pub(crate) fn bin(op: BinOp, a: Expr, b: Expr) -> Expr {
    let span = a.span.to(b.span);
    mk(ExprKind::Binary(op, Box::new(a), Box::new(b)), span)
}

pub(crate) fn unary(op: UnOp, start: usize, e: Expr) -> Expr {
    let span = Span::new(start, e.span.end as usize);
    mk(ExprKind::Unary(op, Box::new(e)), span)
}

fn expected_text(expected: &[String]) -> String {
    let mut names: Vec<String> = expected.iter().map(|e| e.replace('"', "`")).collect();
    names.sort();
    names.dedup();
    match names.len() {
        0 => String::new(),
        1 => format!("; expected {}", names[0]),
        n if n <= 6 => format!("; expected {} or {}", names[..n - 1].join(", "), names[n - 1]),
        _ => format!("; expected one of {} others", names.len()),
    }
}

fn diagnostic(src: &str, e: ParseError<usize, Tok<'_>, LexError>) -> Diagnostic {
    match e {
        ParseError::InvalidToken { location } => Diagnostic::new("udf::lex", "invalid token")
            .label(Span::new(location, location + 1), "here"),
        ParseError::UnrecognizedEof { location, expected } => Diagnostic::new(
            "udf::syntax",
            format!("unexpected end of file{}", expected_text(&expected)),
        )
        .label(Span::new(location.min(src.len()), location.min(src.len())), "the file ends here"),
        ParseError::UnrecognizedToken { token: (l, t, r), expected } => {
            Diagnostic::new("udf::syntax", format!("unexpected {t}{}", expected_text(&expected)))
                .label(Span::new(l, r), "unexpected")
        }
        ParseError::ExtraToken { token: (l, t, r) } => {
            Diagnostic::new("udf::syntax", format!("unexpected {t}"))
                .label(Span::new(l, r), "extra")
        }
        ParseError::User { error } => {
            let text = src.get(error.span.range()).unwrap_or("");
            let msg = match error.kind {
                LexErrorKind::Unexpected => format!("`{text}` is not part of the language"),
                LexErrorKind::BadInt => format!("`{text}` is not a 64-bit integer"),
            };
            Diagnostic::new("udf::lex", msg).label(error.span, "here")
        }
    }
}

/// One open bracket of the nesting pre-pass, and the expression being read inside it, as an
/// operator-precedence (shunting-yard) parse that keeps only the depth of each operand.
#[derive(Default)]
struct Level {
    /// The bracket that opened it (`b'('`, `b'['`, `b'{'`; 0 for the file).
    open: u8,
    /// Whether the bracket follows an operand (a call's or an index's), so its node joins
    /// that operand rather than starting a new one.
    postfix: bool,
    /// `if`s of the current `if ... else if ...` chain.
    chain: usize,
    /// The depths of the operands read and not yet combined.
    vals: Vec<usize>,
    /// The operators waiting for their right operand: their binding strength.
    opers: Vec<u8>,
    /// The deepest operand of the current expression so far.
    hi: usize,
    /// The next name is a field's, or the next name or bracket the type of an `as`: part of
    /// the operand before it.
    after_as: bool,
    /// The deepest this level has been, for the bracket around it.
    max_depth: usize,
    /// The sum of the enclosing levels' depths when this one opened.
    outer: usize,
}

/// The binding strength of a prefix operator (tighter than any binary one).
const PREFIX: u8 = 10;

impl Level {
    /// An upper bound of the depth of the expression being read (every waiting operator adds
    /// at most one level), with the `if`s around it and the level itself.
    fn depth(&self) -> usize {
        1 + self.chain + self.hi + self.opers.len()
    }
    fn reset(&mut self, chain: bool) {
        if chain {
            self.chain = 0;
        }
        self.vals.clear();
        self.opers.clear();
        self.hi = 0;
        self.after_as = false;
    }
    fn set_top(&mut self, d: usize) {
        match self.vals.last_mut() {
            Some(v) => *v = d,
            None => self.vals.push(d),
        }
        self.hi = self.hi.max(d);
    }
    fn top(&self) -> usize {
        self.vals.last().copied().unwrap_or(0)
    }
    fn push(&mut self, d: usize) {
        self.vals.push(d);
        self.hi = self.hi.max(d);
    }
    /// Combines the waiting operators that bind at least as tightly as `strength`.
    fn reduce(&mut self, strength: u8) {
        while let Some(&p) = self.opers.last() {
            if p < strength {
                break;
            }
            self.opers.pop();
            if p == PREFIX {
                let d = self.top() + 1;
                self.set_top(d);
            } else {
                let b = self.vals.pop().unwrap_or(0);
                let d = self.top().max(b) + 1;
                self.set_top(d);
            }
        }
    }
    /// A name, literal or bracketed operand of depth `d`.
    fn operand(&mut self, d: usize) {
        if self.after_as {
            self.after_as = false;
            let d = (self.top() + 1).max(d);
            self.set_top(d);
        } else {
            self.push(d);
        }
    }
}

/// The binding strength of a binary operator token.
fn binary_strength(t: &Tok<'_>) -> Option<u8> {
    Some(match t {
        Tok::DotDot => 1,
        Tok::OrOr => 2,
        Tok::AndAnd => 3,
        Tok::EqEq | Tok::Ne | Tok::Lt | Tok::LtEq | Tok::Gt | Tok::GtEq => 4,
        Tok::Pipe => 5,
        Tok::Caret => 6,
        Tok::Amp => 7,
        Tok::Shl | Tok::Shr => 8,
        Tok::Plus | Tok::Minus => 9,
        Tok::Star | Tok::Slash | Tok::Percent => 9,
        _ => return None,
    })
}

/// A token that is a whole operand: a name (keywords that may name things included) or a
/// literal.
fn is_operand(t: &Tok<'_>) -> bool {
    matches!(
        t,
        Tok::Ident(_)
            | Tok::Int(_)
            | Tok::True
            | Tok::False
            | Tok::Str(_)
            | Tok::Size
            | Tok::Max
            | Tok::Filter
            | Tok::Owns
            | Tok::Acl
            | Tok::Le
            | Tok::Be
    )
}

/// Measures, without recursion, how deep the syntax tree of `toks` would nest, and refuses
/// (`udf::limit::depth`) at the first token that takes it past [`MAX_DEPTH`]: brackets, blocks,
/// prefix operators, `.field`/`[i]`/`as` chains, chains of binary operators (they nest to the
/// left) and `else if` chains all count. The measure bounds the tree's depth from above, so
/// every later pass may recurse over the tree without running out of stack.
fn nesting(toks: &[(usize, Tok<'_>, usize)]) -> Result<(), Diagnostic> {
    let mut stack = vec![Level::default()];
    for (k, (l, t, r)) in toks.iter().enumerate() {
        let operand_ended = k > 0 && {
            let p = &toks[k - 1].1;
            (is_operand(p) && !matches!(p, Tok::Str(_))) || matches!(p, Tok::RParen | Tok::RBracket)
        };
        let top = stack.last_mut().expect("the file level is never closed");
        match t {
            Tok::LParen | Tok::LBracket | Tok::LBrace => {
                top.max_depth = top.max_depth.max(top.depth());
                // What holds the bracket: the operators waiting for it as their operand and
                // the `if`s of the chain (a block is not inside the expression before it, an
                // `if`'s condition or a loop's bounds; the operands before it are beside it).
                let outer = if matches!(t, Tok::LBrace) {
                    top.outer + 1 + top.chain
                } else {
                    top.outer + 1 + top.chain + top.opers.len()
                };
                let (open, postfix) = match t {
                    Tok::LParen => (b'(', operand_ended),
                    Tok::LBracket => (b'[', operand_ended || top.after_as),
                    _ => (b'{', false),
                };
                if open == b'[' && top.after_as {
                    top.after_as = false;
                }
                stack.push(Level { open, postfix, outer, ..Level::default() });
            }
            Tok::RParen | Tok::RBracket | Tok::RBrace => {
                if stack.len() > 1 {
                    let child = stack.pop().expect("more than one level");
                    let top = stack.last_mut().expect("the file level");
                    let inner = child.max_depth.max(child.depth());
                    if child.open == b'{' {
                        // A block ends an `if` arm, a loop, a function: the expression before
                        // it is complete; an `else` continues the chain.
                        let more = matches!(toks.get(k + 1), Some((_, Tok::Else, _)));
                        top.reset(!more);
                    } else if child.postfix {
                        // A call's arguments, an index, an array type: the bracket's node
                        // holds the operand before it too.
                        let d = (top.top() + 1).max(inner);
                        top.set_top(d);
                    } else {
                        top.operand(inner);
                    }
                }
            }
            Tok::Semi | Tok::Comma => top.reset(true),
            Tok::If => top.chain += 1,
            t if is_operand(t) => top.operand(1),
            Tok::Minus | Tok::Bang if !operand_ended => top.opers.push(PREFIX),
            Tok::Dot | Tok::As => {
                if matches!(t, Tok::As) {
                    top.reduce(PREFIX);
                }
                top.after_as = true;
            }
            t => {
                if let Some(p) = binary_strength(t) {
                    top.reduce(p);
                    top.opers.push(p);
                }
            }
        }
        let top = stack.last_mut().expect("the file level");
        top.max_depth = top.max_depth.max(top.depth());
        if top.outer + top.depth() > MAX_DEPTH {
            return Err(Diagnostic::new(
                "udf::limit::depth",
                format!("this nests deeper than the compiler's limit of {MAX_DEPTH} levels"),
            )
            .label(Span::new(*l, *r), "the limit is reached here")
            .help(format!(
                "brackets, blocks, `if`/`else if` chains, prefix operators and chains of binary \
                 operators all count; split the expression with `let`, or the chain into \
                 helpers (at most {MAX_DEPTH} levels)"
            )));
        }
    }
    Ok(())
}

/// Parses a file, appending every syntax error to `diags`; what could be parsed is returned.
/// A file that nests deeper than [`MAX_DEPTH`] is refused before it is parsed.
pub fn parse(src: &str, diags: &mut Vec<Diagnostic>) -> File {
    let mut recovered: Vec<ErrorRecovery<usize, Tok<'_>, LexError>> = Vec::new();
    // Lexical errors are reported and the offending characters skipped, so the parser sees the
    // rest of the file.
    let mut lex_errors = Vec::new();
    let toks = tokens(src).filter_map(|t| match t {
        Ok(t) => Some(t),
        Err(e) => {
            lex_errors.push(e);
            None
        }
    });
    let toks: Vec<(usize, Tok<'_>, usize)> = toks.collect();
    for e in lex_errors {
        diags.push(diagnostic(src, ParseError::User { error: e }));
    }
    if let Err(d) = nesting(&toks) {
        diags.push(d);
        return File::default();
    }
    let result =
        grammar::FileParser::new().parse(&mut recovered, toks.into_iter().map(Ok::<_, LexError>));
    for r in recovered {
        diags.push(diagnostic(src, r.error));
    }
    match result {
        Ok(f) => f,
        Err(e) => {
            diags.push(diagnostic(src, e));
            File::default()
        }
    }
}
