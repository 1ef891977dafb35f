//! Parsing: the generated LALR parser over the logos tokens, with syntax errors turned into
//! located diagnostics (`udf::lex`, `udf::syntax`).

use lalrpop_util::{ErrorRecovery, ParseError, lalrpop_mod};

use crate::ast::{BinOp, Expr, ExprKind, File, UnOp};
use crate::diag::Diagnostic;
use crate::lexer::{LexError, LexErrorKind, Tok, tokens};
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
        n if n <= 6 => format!(
            "; expected {} or {}",
            names[..n - 1].join(", "),
            names[n - 1]
        ),
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
        .label(
            Span::new(location.min(src.len()), location.min(src.len())),
            "the file ends here",
        ),
        ParseError::UnrecognizedToken {
            token: (l, t, r),
            expected,
        } => Diagnostic::new(
            "udf::syntax",
            format!("unexpected {t}{}", expected_text(&expected)),
        )
        .label(Span::new(l, r), "unexpected"),
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

/// Parses a file, appending every syntax error to `diags`; what could be parsed is returned.
pub fn parse(src: &str, diags: &mut Vec<Diagnostic>) -> File {
    let mut recovered: Vec<ErrorRecovery<usize, Tok<'_>, LexError>> = Vec::new();
    // Lexical errors are reported and the offending characters skipped, so the parser sees the
    // rest of the file.
    let mut lex_errors = Vec::new();
    let toks = tokens(src).filter_map(|t| match t {
        Ok(t) => Some(Ok(t)),
        Err(e) => {
            lex_errors.push(e);
            None
        }
    });
    let toks: Vec<_> = toks.collect();
    for e in lex_errors {
        diags.push(diagnostic(src, ParseError::User { error: e }));
    }
    let result = grammar::FileParser::new().parse(&mut recovered, toks);
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
