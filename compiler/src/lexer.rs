//! Tokens (logos), and the spanned token stream the grammar reads.

use logos::Logos;

use crate::srcmap::Span;

/// What went wrong while cutting the source into tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum LexErrorKind {
    /// A character that starts no token.
    #[default]
    Unexpected,
    /// An integer literal that does not fit 64 bits or has no digits.
    BadInt,
}

/// A lexical error and where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LexError {
    /// What.
    pub kind: LexErrorKind,
    /// Where.
    pub span: Span,
}

fn int<'a>(lex: &mut logos::Lexer<'a, Tok<'a>>) -> Result<u64, LexErrorKind> {
    let s = lex.slice().replace('_', "");
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h.to_string(), 16)
    } else if let Some(b) = s.strip_prefix("0b").or_else(|| s.strip_prefix("0B")) {
        (b.to_string(), 2)
    } else {
        (s.clone(), 10)
    };
    u64::from_str_radix(&digits, radix).map_err(|_| LexErrorKind::BadInt)
}

fn string<'a>(lex: &mut logos::Lexer<'a, Tok<'a>>) -> String {
    let s = lex.slice();
    let inner = &s[1..s.len() - 1];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A token.
#[derive(Logos, Clone, Debug, PartialEq, Eq)]
#[logos(error = LexErrorKind)]
#[logos(skip r"[ \t\r\n\f]+")]
#[logos(skip(r"//[^\n]*", allow_greedy = true))]
#[logos(skip r"/\*([^*]|\*+[^*/])*\*+/")]
#[allow(missing_docs)]
pub enum Tok<'a> {
    #[token("const")]
    Const,
    #[token("let")]
    Let,
    #[token("mut")]
    Mut,
    #[token("fn")]
    Fn,
    #[token("layout")]
    Layout,
    #[token("filter")]
    Filter,
    #[token("owns")]
    Owns,
    #[token("acl")]
    Acl,
    #[token("size")]
    Size,
    #[token("if")]
    If,
    #[token("else")]
    Else,
    #[token("for")]
    For,
    #[token("in")]
    In,
    #[token("max")]
    Max,
    #[token("return")]
    Return,
    #[token("break")]
    Break,
    #[token("continue")]
    Continue,
    #[token("as")]
    As,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[token("le")]
    Le,
    #[token("be")]
    Be,
    #[token("pcap")]
    Pcap,
    #[regex("[A-Za-z_][A-Za-z0-9_]*")]
    Ident(&'a str),
    #[regex("[0-9][0-9_]*|0[xX][0-9a-fA-F_]+|0[bB][01_]+", int)]
    Int(u64),
    #[regex(r#""([^"\\\n]|\\.)*""#, string)]
    Str(String),
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token(",")]
    Comma,
    #[token(";")]
    Semi,
    #[token(":")]
    Colon,
    #[token("@")]
    At,
    #[token("->")]
    Arrow,
    #[token("..")]
    DotDot,
    #[token(".")]
    Dot,
    #[token("=")]
    Assign,
    #[token("+=")]
    AddAssign,
    #[token("-=")]
    SubAssign,
    #[token("*=")]
    MulAssign,
    #[token("/=")]
    DivAssign,
    #[token("%=")]
    RemAssign,
    #[token("&=")]
    AndAssign,
    #[token("|=")]
    OrAssign,
    #[token("^=")]
    XorAssign,
    #[token("<<=")]
    ShlAssign,
    #[token(">>=")]
    ShrAssign,
    #[token("==")]
    EqEq,
    #[token("!=")]
    Ne,
    #[token("<")]
    Lt,
    #[token("<=")]
    LtEq,
    #[token(">")]
    Gt,
    #[token(">=")]
    GtEq,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("%")]
    Percent,
    #[token("&")]
    Amp,
    #[token("|")]
    Pipe,
    #[token("^")]
    Caret,
    #[token("!")]
    Bang,
    #[token("<<")]
    Shl,
    #[token(">>")]
    Shr,
    #[token("&&")]
    AndAnd,
    #[token("||")]
    OrOr,
}

impl core::fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Tok::Ident(s) => write!(f, "identifier `{s}`"),
            Tok::Int(v) => write!(f, "integer `{v}`"),
            Tok::Str(s) => write!(f, "string {s:?}"),
            other => {
                let dbg = format!("{other:?}");
                write!(f, "`{}`", spelling(&dbg).unwrap_or(&dbg))
            }
        }
    }
}

/// The source spelling of a punctuation or keyword token, by its variant name.
fn spelling(variant: &str) -> Option<&'static str> {
    Some(match variant {
        "Const" => "const",
        "Let" => "let",
        "Mut" => "mut",
        "Fn" => "fn",
        "Layout" => "layout",
        "Filter" => "filter",
        "Owns" => "owns",
        "Acl" => "acl",
        "Size" => "size",
        "If" => "if",
        "Else" => "else",
        "For" => "for",
        "In" => "in",
        "Max" => "max",
        "Return" => "return",
        "Break" => "break",
        "Continue" => "continue",
        "As" => "as",
        "True" => "true",
        "False" => "false",
        "Le" => "le",
        "Be" => "be",
        "Pcap" => "pcap",
        "LBrace" => "{",
        "RBrace" => "}",
        "LParen" => "(",
        "RParen" => ")",
        "LBracket" => "[",
        "RBracket" => "]",
        "Comma" => ",",
        "Semi" => ";",
        "Colon" => ":",
        "At" => "@",
        "Arrow" => "->",
        "DotDot" => "..",
        "Dot" => ".",
        "Assign" => "=",
        "AddAssign" => "+=",
        "SubAssign" => "-=",
        "MulAssign" => "*=",
        "DivAssign" => "/=",
        "RemAssign" => "%=",
        "AndAssign" => "&=",
        "OrAssign" => "|=",
        "XorAssign" => "^=",
        "ShlAssign" => "<<=",
        "ShrAssign" => ">>=",
        "EqEq" => "==",
        "Ne" => "!=",
        "Lt" => "<",
        "LtEq" => "<=",
        "Gt" => ">",
        "GtEq" => ">=",
        "Plus" => "+",
        "Minus" => "-",
        "Star" => "*",
        "Slash" => "/",
        "Percent" => "%",
        "Amp" => "&",
        "Pipe" => "|",
        "Caret" => "^",
        "Bang" => "!",
        "Shl" => "<<",
        "Shr" => ">>",
        "AndAnd" => "&&",
        "OrOr" => "||",
        _ => return None,
    })
}

/// The spanned token stream of `src`, as the grammar wants it.
pub fn tokens(src: &str) -> impl Iterator<Item = Result<(usize, Tok<'_>, usize), LexError>> {
    Tok::lexer(src).spanned().map(|(t, r)| match t {
        Ok(t) => Ok((r.start, t, r.end)),
        Err(kind) => Err(LexError { kind, span: Span::new(r.start, r.end) }),
    })
}
