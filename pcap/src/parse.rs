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

use crate::ast::{Arith, ArithOp, Dir, Expr, Id, Keyword, Kind, Llc, Proto, Quals, RelOp};
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
    let mut p = Parser {
        src: expr,
        toks,
        pos: 0,
        depth: 0,
        ops: 0,
    };
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

// ---------------------------------------------------------------------------------------------
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
}

/// Families of valid but unsupported keywords.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// `radio`.
    Radio,
    /// `type`, `subtype`, `dir`.
    Wlan,
    /// `addr1`..`addr4`, `ra`, `ta`.
    WlanAddr,
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
            Family::Wlan => "an 802.11 frame type/subtype/direction primitive",
            Family::WlanAddr => "an 802.11 address qualifier",
            Family::Pflog => "an OpenBSD pflog primitive",
            Family::Atm => "a SunATM primitive",
            Family::Mtp => "an SS7 MTP2/MTP3 primitive",
            Family::Arcnet => "an ARCnet address",
        }
    }
}

/// Operators and punctuation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum P {
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
    P(P),
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

// ---------------------------------------------------------------------------------------------
// Lexer: every pattern of scanner.l is tried, the longest match wins, ties go to the earlier rule.

fn keyword(w: &str) -> Option<Tok> {
    use Proto as Pr;
    let k = match w {
        "dst" => Kw::Dst,
        "src" => Kw::Src,
        "link" | "ether" | "ppp" | "slip" | "fddi" | "tr" | "wlan" => Kw::Pname(Pr::Link),
        "arp" => Kw::Pname(Pr::Arp),
        "rarp" => Kw::Pname(Pr::Rarp),
        "ip" => Kw::Pname(Pr::Ip),
        "sctp" => Kw::Pname(Pr::Sctp),
        "tcp" => Kw::Pname(Pr::Tcp),
        "udp" => Kw::Pname(Pr::Udp),
        "icmp" => Kw::Pname(Pr::Icmp),
        "igmp" => Kw::Pname(Pr::Igmp),
        "igrp" => Kw::Pname(Pr::Igrp),
        "pim" => Kw::Pname(Pr::Pim),
        "vrrp" => Kw::Pname(Pr::Vrrp),
        "carp" => Kw::Pname(Pr::Carp),
        "radio" => Kw::Unsup(Family::Radio),
        "ip6" => Kw::Pname(Pr::Ip6),
        "icmp6" => Kw::Pname(Pr::Icmp6),
        "ah" => Kw::Pname(Pr::Ah),
        "esp" => Kw::Pname(Pr::Esp),
        "atalk" => Kw::Pname(Pr::Atalk),
        "aarp" => Kw::Pname(Pr::Aarp),
        "decnet" => Kw::Pname(Pr::Decnet),
        "lat" => Kw::Pname(Pr::Lat),
        "sca" => Kw::Pname(Pr::Sca),
        "moprc" => Kw::Pname(Pr::Moprc),
        "mopdl" => Kw::Pname(Pr::Mopdl),
        "iso" => Kw::Pname(Pr::Iso),
        "esis" | "es-is" => Kw::Pname(Pr::Esis),
        "isis" | "is-is" => Kw::Pname(Pr::Isis),
        "l1" => Kw::Pname(Pr::L1),
        "l2" => Kw::Pname(Pr::L2),
        "iih" => Kw::Pname(Pr::Iih),
        "lsp" => Kw::Pname(Pr::Lsp),
        "snp" => Kw::Pname(Pr::Snp),
        "csnp" => Kw::Pname(Pr::Csnp),
        "psnp" => Kw::Pname(Pr::Psnp),
        "clnp" => Kw::Pname(Pr::Clnp),
        "stp" => Kw::Pname(Pr::Stp),
        "ipx" => Kw::Pname(Pr::Ipx),
        "netbeui" => Kw::Pname(Pr::Netbeui),
        "host" => Kw::Host,
        "net" => Kw::Net,
        "mask" => Kw::Mask,
        "port" => Kw::Port,
        "portrange" => Kw::Portrange,
        "proto" => Kw::ProtoQual,
        "protochain" => Kw::Protochain,
        "gateway" => Kw::Gateway,
        "type" | "subtype" | "direction" | "dir" => Kw::Unsup(Family::Wlan),
        "address1" | "addr1" | "address2" | "addr2" | "address3" | "addr3" | "address4"
        | "addr4" | "ra" | "ta" => Kw::Unsup(Family::WlanAddr),
        "less" => Kw::Less,
        "greater" => Kw::Greater,
        "byte" => Kw::Byte,
        "broadcast" => Kw::Broadcast,
        "multicast" => Kw::Multicast,
        "and" => return Some(Tok::And),
        "or" => return Some(Tok::Or),
        "not" => return Some(Tok::Not),
        "len" | "length" => Kw::Len,
        "inbound" => Kw::Inbound,
        "outbound" => Kw::Outbound,
        "ifindex" => Kw::Ifindex,
        "vlan" => Kw::Vlan,
        "mpls" => Kw::Mpls,
        "pppoed" => Kw::Pppoed,
        "pppoes" => Kw::Pppoes,
        "geneve" => Kw::Geneve,
        "vxlan" => Kw::Vxlan,
        "llc" => Kw::Llc,
        "lane" | "metac" | "bcc" | "oam" | "oamf4" | "oamf4ec" | "oamf4sc" | "sc" | "ilmic"
        | "vpi" | "vci" | "connectmsg" | "metaconnect" => Kw::Unsup(Family::Atm),
        "rnr" | "rulenum" => Kw::Rnr,
        "on" | "ifname" | "rset" | "ruleset" | "srnr" | "subrulenum" | "reason" | "action" => {
            Kw::Unsup(Family::Pflog)
        }
        "fisu" | "lssu" | "lsu" | "msu" | "hfisu" | "hlssu" | "hmsu" | "sio" | "opc" | "dpc"
        | "sls" | "hsio" | "hopc" | "hdpc" | "hsls" => Kw::Unsup(Family::Mtp),
        _ => return named_constant(w).map(Tok::Num),
    };
    Some(Tok::Kw(k))
}

/// The named values of scanner.l (header offsets, ICMP/ICMPv6 types, TCP flags).
fn named_constant(w: &str) -> Option<u32> {
    Some(match w {
        "icmptype" | "icmp6type" => 0,
        "icmpcode" | "icmp6code" => 1,
        "icmp-echoreply" => 0,
        "icmp-unreach" => 3,
        "icmp-sourcequench" => 4,
        "icmp-redirect" => 5,
        "icmp-echo" => 8,
        "icmp-routeradvert" => 9,
        "icmp-routersolicit" => 10,
        "icmp-timxceed" => 11,
        "icmp-paramprob" => 12,
        "icmp-tstamp" => 13,
        "icmp-tstampreply" => 14,
        "icmp-ireq" => 15,
        "icmp-ireqreply" => 16,
        "icmp-maskreq" => 17,
        "icmp-maskreply" => 18,
        "icmp6-destinationunreach" => 1,
        "icmp6-packettoobig" => 2,
        "icmp6-timeexceeded" => 3,
        "icmp6-parameterproblem" => 4,
        "icmp6-echo" => 128,
        "icmp6-echoreply" => 129,
        "icmp6-multicastlistenerquery" => 130,
        "icmp6-multicastlistenerreportv1" => 131,
        "icmp6-multicastlistenerdone" => 132,
        "icmp6-routersolicit" => 133,
        "icmp6-routeradvert" => 134,
        "icmp6-neighborsolicit" => 135,
        "icmp6-neighboradvert" => 136,
        "icmp6-redirect" => 137,
        "icmp6-routerrenum" => 138,
        "icmp6-nodeinformationquery" => 139,
        "icmp6-nodeinformationresponse" => 140,
        "icmp6-ineighbordiscoverysolicit" => 141,
        "icmp6-ineighbordiscoveryadvert" => 142,
        "icmp6-multicastlistenerreportv2" => 143,
        "icmp6-homeagentdiscoveryrequest" => 144,
        "icmp6-homeagentdiscoveryreply" => 145,
        "icmp6-mobileprefixsolicit" => 146,
        "icmp6-mobileprefixadvert" => 147,
        "icmp6-certpathsolicit" => 148,
        "icmp6-certpathadvert" => 149,
        "icmp6-multicastrouteradvert" => 151,
        "icmp6-multicastroutersolicit" => 152,
        "icmp6-multicastrouterterm" => 153,
        "tcpflags" => 13,
        "tcp-fin" => 0x01,
        "tcp-syn" => 0x02,
        "tcp-rst" => 0x04,
        "tcp-push" => 0x08,
        "tcp-ack" => 0x10,
        "tcp-urg" => 0x20,
        "tcp-ece" => 0x40,
        "tcp-cwr" => 0x80,
        _ => return None,
    })
}

/// Elements of the scanner's address patterns.
#[derive(Clone, Copy, Debug)]
enum El {
    Lit(&'static [u8]),
    /// `{W}`: one to four hex digits.
    W,
    /// `{B}`: one or two hex digits.
    B,
    /// `{B2}`: exactly four hex digits.
    B2,
    /// `{N}`: decimal digits, or `0x` and hex digits.
    N,
}

fn run_len(s: &[u8], p: usize, f: impl Fn(u8) -> bool) -> usize {
    s[p.min(s.len())..].iter().take_while(|&&c| f(c)).count()
}

/// The longest match of a sequence of elements at `start`, simulating every way each element
/// can match (the patterns are regular, so this is exact).
fn match_seq(s: &[u8], start: usize, pat: &[El]) -> Option<usize> {
    let mut set = vec![start];
    for e in pat {
        let mut next = Vec::new();
        for &p in &set {
            match *e {
                El::Lit(l) => {
                    if s[p..].starts_with(l) {
                        next.push(p + l.len());
                    }
                }
                El::W | El::B => {
                    let max = if matches!(e, El::W) { 4 } else { 2 };
                    let r = run_len(s, p, |c| c.is_ascii_hexdigit()).min(max);
                    next.extend((1..=r).map(|k| p + k));
                }
                El::B2 => {
                    if run_len(s, p, |c| c.is_ascii_hexdigit()) >= 4 {
                        next.push(p + 4);
                    }
                }
                El::N => {
                    let d = run_len(s, p, |c| c.is_ascii_digit());
                    next.extend((1..=d).map(|k| p + k));
                    if s[p..].starts_with(b"0x") || s[p..].starts_with(b"0X") {
                        let h = run_len(s, p + 2, |c| c.is_ascii_hexdigit());
                        next.extend((1..=h).map(|k| p + 2 + k));
                    }
                }
            }
        }
        next.sort_unstable();
        next.dedup();
        if next.is_empty() {
            return None;
        }
        set = next;
    }
    set.into_iter().max()
}

fn longest(s: &[u8], start: usize, pats: &[Vec<El>]) -> usize {
    pats.iter()
        .filter_map(|p| match_seq(s, start, p))
        .max()
        .map_or(0, |e| e - start)
}

/// scanner.l's `V6`: every placement of `::` among the hex groups, with and without a trailing
/// dotted IPv4 address.
fn v6_patterns() -> &'static [Vec<El>] {
    static PATS: OnceLock<Vec<Vec<El>>> = OnceLock::new();
    PATS.get_or_init(|| {
        let groups = |n: usize| -> Vec<El> {
            let mut v = Vec::new();
            for i in 0..n {
                if i > 0 {
                    v.push(El::Lit(b":"));
                }
                v.push(El::W);
            }
            v
        };
        let v4 = [
            El::N,
            El::Lit(b"."),
            El::N,
            El::Lit(b"."),
            El::N,
            El::Lit(b"."),
            El::N,
        ];
        let mut pats = vec![groups(8)];
        for n in 0..=7 {
            for k in 0..=n {
                let mut v = groups(k);
                v.push(El::Lit(b"::"));
                v.extend(groups(n - k));
                pats.push(v);
            }
        }
        let mut v = Vec::new();
        for _ in 0..6 {
            v.extend([El::W, El::Lit(b":")]);
        }
        v.extend(v4);
        pats.push(v);
        for n in 0..=5 {
            for k in 0..=n {
                let mut v = groups(k);
                v.push(El::Lit(b"::"));
                for _ in k..n {
                    v.extend([El::W, El::Lit(b":")]);
                }
                v.extend(v4);
                pats.push(v);
            }
        }
        pats
    })
}

/// scanner.l's `MAC`.
fn mac_patterns() -> &'static [Vec<El>] {
    static PATS: OnceLock<Vec<Vec<El>>> = OnceLock::new();
    PATS.get_or_init(|| {
        let sep = |l: &'static [u8]| -> Vec<El> {
            let mut v = vec![El::B];
            for _ in 0..5 {
                v.extend([El::Lit(l), El::B]);
            }
            v
        };
        vec![
            sep(b":"),
            sep(b"-"),
            sep(b"."),
            vec![El::B2, El::Lit(b"."), El::B2, El::Lit(b"."), El::B2],
            vec![El::B2, El::B2, El::B2],
        ]
    })
}

/// scanner.l's HID: two to four `{N}` joined by dots.
fn hid_patterns() -> &'static [Vec<El>] {
    static PATS: OnceLock<Vec<Vec<El>>> = OnceLock::new();
    PATS.get_or_init(|| {
        (2..=4)
            .map(|n| {
                let mut v = vec![El::N];
                for _ in 1..n {
                    v.extend([El::Lit(b"."), El::N]);
                }
                v
            })
            .collect()
    })
}

/// The malformed-address rule `{B}:+({B}:+)+`.
fn bad_mac_len(s: &[u8], start: usize) -> usize {
    // One step: `{B}` then one or more colons.
    let step = |set: &[usize]| -> Vec<usize> {
        let mut out = Vec::new();
        for &p in set {
            let b = run_len(s, p, |c| c.is_ascii_hexdigit()).min(2);
            for k in 1..=b {
                let c = run_len(s, p + k, |c| c == b':');
                out.extend((1..=c).map(|j| p + k + j));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    };
    let mut set = step(&[start]);
    let mut best = 0;
    loop {
        set = step(&set);
        match set.iter().max() {
            Some(&m) => best = best.max(m - start),
            None => return best,
        }
    }
}

/// scanner.l's ID: `[A-Za-z0-9]([-_.A-Za-z0-9]*[.A-Za-z0-9])?`.
fn id_len(s: &[u8], p: usize) -> usize {
    if !s[p].is_ascii_alphanumeric() {
        return 0;
    }
    let mut last = p + 1;
    let mut q = p + 1;
    while q < s.len() && (s[q].is_ascii_alphanumeric() || matches!(s[q], b'-' | b'_' | b'.')) {
        q += 1;
        if s[q - 1] != b'-' && s[q - 1] != b'_' {
            last = q;
        }
    }
    last - p
}

fn char_len(src: &str, p: usize) -> usize {
    src[p..].chars().next().map_or(1, char::len_utf8)
}

fn lex(src: &str) -> Vec<Token> {
    let s = src.as_bytes();
    let mut out = Vec::new();
    let mut p = 0;
    while p < s.len() {
        if matches!(s[p], b' ' | b'\r' | b'\n' | b'\t') {
            p += 1;
            continue;
        }
        let (len, tok) = lex_one(src, p);
        out.push(Token {
            tok,
            span: Span::new(p, p + len),
        });
        p += len;
    }
    out.push(Token {
        tok: Tok::Eof,
        span: Span::new(s.len(), s.len()),
    });
    out
}

/// Which rule of scanner.l won, in rule order (ties go to the smaller).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    Keyword,
    Aid,
    Mac,
    Num,
    Hid,
    V6,
    BadMac,
    Id,
}

fn lex_one(src: &str, p: usize) -> (usize, Tok) {
    let s = src.as_bytes();
    let two = &s[p..(p + 2).min(s.len())];
    let punct2 = match two {
        b">=" => Some(Tok::P(P::Ge)),
        b"<=" => Some(Tok::P(P::Le)),
        b"!=" => Some(Tok::P(P::Ne)),
        b"==" => Some(Tok::P(P::Eq)),
        b"<<" => Some(Tok::P(P::Lsh)),
        b">>" => Some(Tok::P(P::Rsh)),
        b"&&" => Some(Tok::And),
        b"||" => Some(Tok::Or),
        _ => None,
    };
    if let Some(t) = punct2 {
        return (2, t);
    }
    let punct1 = match s[p] {
        b'+' => Some(P::Plus),
        b'-' => Some(P::Minus),
        b'*' => Some(P::Star),
        b'/' => Some(P::Slash),
        b'%' => Some(P::Percent),
        b'[' => Some(P::LBrack),
        b']' => Some(P::RBrack),
        b'(' => Some(P::LParen),
        b')' => Some(P::RParen),
        b'<' => Some(P::Lt),
        b'>' => Some(P::Gt),
        b'&' => Some(P::Amp),
        b'|' => Some(P::Pipe),
        b'^' => Some(P::Caret),
        b'=' => Some(P::Eq),
        _ => None,
    };
    if let Some(t) = punct1 {
        return (1, Tok::P(t));
    }
    if s[p] == b'!' {
        return (1, Tok::Not);
    }
    if s[p] == b'\\' {
        let n = run_len(s, p + 1, |c| {
            !matches!(c, b' ' | b'!' | b'(' | b')' | b'\n' | b'\t')
        });
        if n > 0 {
            return (n + 1, Tok::Id(src[p + 1..p + 1 + n].to_string()));
        }
    }

    // The alphanumeric rules: find the longest match; ties go to the earlier rule.
    let mut cands: Vec<(usize, Rule)> = Vec::new();
    if s[p] == b'$' {
        let b = run_len(s, p + 1, |c| c.is_ascii_hexdigit()).min(2);
        if b > 0 {
            cands.push((1 + b, Rule::Aid));
        }
    }
    let idl = id_len(s, p);
    if idl > 0 && keyword(&src[p..p + idl]).is_some() {
        cands.push((idl, Rule::Keyword));
    }
    cands.push((longest(s, p, mac_patterns()), Rule::Mac));
    let n = match_seq(s, p, &[El::N]).map_or(0, |e| e - p);
    cands.push((n, Rule::Num));
    cands.push((longest(s, p, hid_patterns()), Rule::Hid));
    if s[p].is_ascii_hexdigit() || s[p] == b':' {
        cands.push((longest(s, p, v6_patterns()), Rule::V6));
    }
    cands.push((bad_mac_len(s, p), Rule::BadMac));
    cands.push((idl, Rule::Id));
    let best = cands
        .iter()
        .filter(|c| c.0 > 0)
        .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))
        .copied();
    let Some((len, rule)) = best else {
        if s[p] == b':' {
            return (1, Tok::P(P::Colon));
        }
        let len = char_len(src, p);
        let c = &src[p..p + len];
        let mut d = Diagnostic::new(
            SYNTAX,
            format!("unexpected character `{}`", c.escape_debug()),
        )
        .label(Span::new(p, p + len), "not part of pcap-filter syntax");
        if c == "\\" {
            d = d.help("a backslash escapes a name that is also a keyword, as in `ip proto \\tcp`");
        }
        return (len, Tok::Error(Box::new(d)));
    };
    let text = &src[p..p + len];
    let span = Span::new(p, p + len);
    let tok = match rule {
        Rule::Keyword => keyword(text).unwrap_or(Tok::Id(text.to_string())),
        Rule::Aid => Tok::Aid,
        Rule::Mac => Tok::Eid(parse_mac(text)),
        Rule::Num => match parse_number(text) {
            Ok(v) => Tok::Num(v),
            Err((msg, help)) => Tok::Error(Box::new(
                Diagnostic::new(VALUE, msg)
                    .label(span, "not a 32-bit number")
                    .help(help),
            )),
        },
        Rule::Hid => match parse_dotted(text) {
            Ok(parts) => Tok::Hid(parts),
            Err(msg) => Tok::Error(Box::new(
                Diagnostic::new(VALUE, format!("invalid IPv4 address `{text}`: {msg}"))
                    .label(span, "invalid address")
                    .help("the parts of a dotted address are decimal numbers, as in `10.0.0.1`"),
            )),
        },
        Rule::V6 => match parse_ipv6(text) {
            Some(a) => Tok::Hid6(a),
            None => Tok::Error(Box::new(
                Diagnostic::new(VALUE, format!("invalid IPv6 address `{text}`"))
                    .label(span, "invalid address")
                    .help("an embedded IPv4 address has four decimal parts from 0 to 255"),
            )),
        },
        Rule::BadMac => {
            // Report the whole word the user meant as an address.
            let end = p + run_len(s, p, |c| {
                c.is_ascii_alphanumeric() || matches!(c, b':' | b'.' | b'-')
            });
            let word = &src[p..end];
            return (
                end - p,
                Tok::Error(Box::new(
                    Diagnostic::new(VALUE, format!("invalid Ethernet address `{word}`"))
                        .label(Span::new(p, end), "not an Ethernet address")
                        .help(
                            "write six bytes of one or two hex digits, as in `ab:cd:ef:00:00:01`, \
                             `ab-cd-ef-00-00-01`, `abcd.ef00.0001` or `abcdef000001`",
                        ),
                )),
            );
        }
        Rule::Id => Tok::Id(text.to_string()),
    };
    (len, tok)
}

/// libpcap's number syntax: decimal, `0x` hex, or a leading `0` for octal; 32 bits.
pub(crate) fn parse_number(text: &str) -> Result<u32, (String, String)> {
    let overflow = |kind: &str| {
        (
            format!("{kind} number {text} overflows 32 bits"),
            "numbers are unsigned 32-bit values (at most 4294967295 = 0xffffffff)".to_string(),
        )
    };
    if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).map_err(|_| overflow("hexadecimal"))
    } else if text.len() > 1 && text.starts_with('0') {
        if text.bytes().any(|c| c == b'8' || c == b'9') {
            return Err((
                format!("number {text} contains a non-octal digit"),
                format!(
                    "a leading 0 makes a number octal; write `{}` for decimal",
                    text.trim_start_matches('0')
                ),
            ));
        }
        u32::from_str_radix(&text[1..], 8).map_err(|_| overflow("octal"))
    } else {
        text.parse::<u32>().map_err(|_| overflow("decimal"))
    }
}

/// The parts of a HID, decimal as libpcap reads them (`010.1` is `10.1`).
fn parse_dotted(text: &str) -> Result<Vec<u32>, String> {
    text.split('.')
        .map(|part| {
            if part.bytes().all(|c| c.is_ascii_digit()) {
                part.parse::<u32>()
                    .map_err(|_| format!("part `{part}` is too large"))
            } else {
                Err(format!("part `{part}` is not decimal"))
            }
        })
        .collect()
}

fn parse_mac(text: &str) -> [u8; 6] {
    let mut out = [0u8; 6];
    let hex = |t: &str| u16::from_str_radix(t, 16).unwrap_or(0);
    let parts: Vec<&str> = text.split([':', '-', '.']).collect();
    if parts.len() == 6 {
        for (o, t) in out.iter_mut().zip(&parts) {
            *o = hex(t) as u8;
        }
    } else {
        let digits: String = parts.concat();
        for (i, o) in out.iter_mut().enumerate() {
            *o = hex(&digits[2 * i..2 * i + 2]) as u8;
        }
    }
    out
}

/// An address the `V6` pattern matched, checked as `inet_pton` would.
fn parse_ipv6(text: &str) -> Option<[u8; 16]> {
    let (head, tail) = match text.split_once("::") {
        Some((h, t)) => (h, Some(t)),
        None => (text, None),
    };
    let split = |s: &str| -> Vec<String> {
        if s.is_empty() {
            Vec::new()
        } else {
            s.split(':').map(str::to_string).collect()
        }
    };
    let mut left = split(head);
    let mut right = tail.map(split).unwrap_or_default();
    // A trailing dotted IPv4 address stands for two groups.
    let last = if tail.is_some() {
        &mut right
    } else {
        &mut left
    };
    let mut v4 = None;
    if last.last().is_some_and(|g| g.contains('.')) {
        let dotted = last.pop()?;
        let mut b = [0u8; 4];
        let parts: Vec<&str> = dotted.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        for (o, part) in b.iter_mut().zip(parts) {
            if part.is_empty()
                || !part.bytes().all(|c| c.is_ascii_digit())
                || (part.len() > 1 && part.starts_with('0'))
            {
                return None;
            }
            *o = u8::try_from(part.parse::<u32>().ok()?).ok()?;
        }
        v4 = Some(b);
    }
    let mut words: Vec<u16> = Vec::new();
    for g in &left {
        words.push(u16::from_str_radix(g, 16).ok()?);
    }
    let mut rwords: Vec<u16> = Vec::new();
    for g in &right {
        rwords.push(u16::from_str_radix(g, 16).ok()?);
    }
    if let Some(b) = v4 {
        let w = [
            u16::from_be_bytes([b[0], b[1]]),
            u16::from_be_bytes([b[2], b[3]]),
        ];
        if tail.is_some() {
            rwords.extend(w)
        } else {
            words.extend(w)
        }
    }
    let total = words.len() + rwords.len();
    if tail.is_some() {
        if total > 7 {
            return None;
        }
        words.extend(std::iter::repeat_n(0, 8 - total));
        words.extend(rwords);
    } else if total != 8 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, w) in words.iter().enumerate() {
        out[2 * i..2 * i + 2].copy_from_slice(&w.to_be_bytes());
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Parser

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
        Tok::P(
            P::Plus
                | P::Minus
                | P::Star
                | P::Slash
                | P::Percent
                | P::Amp
                | P::Pipe
                | P::Caret
                | P::Lsh
                | P::Rsh
                | P::Gt
                | P::Ge
                | P::Lt
                | P::Le
                | P::Eq
                | P::Ne
        )
    )
}

fn is_value(t: &Tok) -> bool {
    matches!(
        t,
        Tok::Id(_) | Tok::Hid(_) | Tok::Hid6(_) | Tok::Eid(_) | Tok::Aid
    )
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
                .label(
                    self.span(),
                    format!("more than {MAX_DEPTH} levels of nesting here"),
                )
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
                Tok::P(P::LParen) => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(Diagnostic::new(SYNTAX, "expression nested too deeply")
                            .label(
                                t.span,
                                format!("more than {MAX_DEPTH} levels of parentheses"),
                            )
                            .help("nest less: `((x))` is `x`"));
                    }
                }
                Tok::P(P::RParen) => depth = depth.saturating_sub(1),
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
            Tok::Eof => Diagnostic::new(
                SYNTAX,
                format!("expected {what}, found the end of the expression"),
            )
            .label(span, "the expression ends here"),
            _ => Diagnostic::new(
                SYNTAX,
                format!("expected {what}, found `{}`", self.text(span)),
            )
            .label(span, format!("expected {what}")),
        }
    }

    fn unsupported(&self, span: Span, f: Family) -> Diagnostic {
        Diagnostic::new(
            UNSUPPORTED,
            format!(
                "`{}` is {}, which is not supported",
                self.text(span),
                f.describe()
            ),
        )
        .label(span, "not supported")
        .help("udfkit compiles pcap filters for Ethernet (EN10MB) and raw IP (RAW) captures only")
    }

    /// The error for a token that cannot follow a complete primitive.
    fn after_term(&self, what: &str) -> Diagnostic {
        let span = self.span();
        let prev = self.tok_at(self.pos.saturating_sub(1));
        match self.tok() {
            Tok::Error(d) => (**d).clone(),
            Tok::P(P::RParen) => {
                Diagnostic::new(SYNTAX, "unmatched `)`").label(span, "no `(` opens this")
            }
            Tok::P(P::Slash) | Tok::Kw(Kw::Mask) if matches!(prev, Tok::Num(_) | Tok::Id(_)) => {
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
                format!(
                    "unexpected value `{}`: expected `and`, `or` or {what}",
                    self.text(span)
                ),
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
                Tok::P(P::LParen) => depth += 1,
                Tok::P(P::RParen) => {
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
        while matches!(self.tok_at(i), Tok::P(P::LParen)) {
            k += 1;
            i += 1;
        }
        if !matches!(self.tok_at(i), Tok::Num(_)) {
            return None;
        }
        for _ in 0..k {
            i += 1;
            if !matches!(self.tok_at(i), Tok::P(P::RParen)) {
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
                if matches!(self.tok_at(t + 1), Tok::And | Tok::Or | Tok::P(P::RParen)) {
                    Class::Group
                } else {
                    Class::Expr
                }
            }
            Tok::P(P::LParen) => match self.classify(t)? {
                Class::Pnum | Class::Group => Class::Group,
                _ => Class::Expr,
            },
            _ => Class::Expr,
        })
    }

    /// `expr: term | expr and term | expr and id | expr or term | expr or id`.
    fn expr(&mut self, q0: Inherit) -> Result<(Expr, Inherit), Diagnostic> {
        let (mut e, mut q) = self.term(q0)?;
        loop {
            let and = match self.tok() {
                Tok::And => true,
                Tok::Or => false,
                _ => break,
            };
            self.op()?;
            self.bump();
            let (r, q2) = self.term_or_id(q)?;
            e = if and {
                Expr::And(Box::new(e), Box::new(r))
            } else {
                Expr::Or(Box::new(e), Box::new(r))
            };
            q = q2;
        }
        Ok((e, q))
    }

    /// Counts an operator (see [`MAX_OPS`]).
    fn op(&mut self) -> Result<(), Diagnostic> {
        self.ops += 1;
        if self.ops > MAX_OPS {
            return Err(Diagnostic::new(SYNTAX, "expression too long")
                .label(self.span(), format!("more than {MAX_OPS} operators"))
                .help("split the filter into smaller ones"));
        }
        Ok(())
    }

    /// The operand after `and`/`or`: a term, or a bare value inheriting `q`.
    fn term_or_id(&mut self, q: Inherit) -> Result<(Expr, Inherit), Diagnostic> {
        self.enter()?;
        let r = match self.tok() {
            t if is_value(t) => Ok((self.id(q, false, None)?, q)),
            Tok::Num(_) => {
                if is_arith_follow(self.tok_at(self.pos + 1)) {
                    Ok((self.rel()?, None))
                } else {
                    Ok((self.id(q, false, None)?, q))
                }
            }
            Tok::Not => {
                self.op()?;
                let s = self.bump();
                let (e, q2) = self.term_or_id(q)?;
                let span = s.to(self.prev_span());
                Ok((Expr::Not(Box::new(e), span), q2))
            }
            Tok::P(P::LParen) => match self.classify(self.pos)? {
                Class::Arith => Ok((self.rel()?, None)),
                Class::Pnum | Class::Group => Ok((self.id(q, false, None)?, q)),
                Class::Expr => self.paren_expr(q),
            },
            _ => self.term(q),
        };
        self.leave();
        r
    }

    /// `( expr )`: afterwards the qualifiers in force are the ones before the `(`.
    fn paren_expr(&mut self, q: Inherit) -> Result<(Expr, Inherit), Diagnostic> {
        let open = self.bump();
        let (e, _) = self.expr(q)?;
        if !matches!(self.tok(), Tok::P(P::RParen)) {
            let d = self.after_term("`)`");
            return Err(if matches!(self.tok(), Tok::Eof) {
                d.label(open, "to close this `(`")
            } else {
                d
            });
        }
        self.bump();
        Ok((e, q))
    }

    /// A term: `not term`, `( expr )`, `head id`, a protocol, a keyword primitive or a
    /// comparison.
    fn term(&mut self, q: Inherit) -> Result<(Expr, Inherit), Diagnostic> {
        self.enter()?;
        let r = self.term_inner(q);
        self.leave();
        r
    }

    fn term_inner(&mut self, q: Inherit) -> Result<(Expr, Inherit), Diagnostic> {
        let start = self.span();
        let next = self.tok_at(self.pos + 1).clone();
        match self.tok().clone() {
            Tok::Not => {
                self.op()?;
                self.bump();
                let (e, q2) = self.term(q)?;
                let span = start.to(self.prev_span());
                Ok((Expr::Not(Box::new(e), span), q2))
            }
            Tok::P(P::LParen) => match self.classify(self.pos)? {
                Class::Arith => Ok((self.rel()?, None)),
                _ => self.paren_expr(q),
            },
            Tok::Num(_) | Tok::P(P::Minus) | Tok::Kw(Kw::Len) => Ok((self.rel()?, None)),
            Tok::Kw(Kw::Pname(p)) => match next {
                Tok::P(P::LBrack) => Ok((self.rel()?, None)),
                Tok::Kw(
                    Kw::Src
                    | Kw::Dst
                    | Kw::Host
                    | Kw::Net
                    | Kw::Port
                    | Kw::Portrange
                    | Kw::ProtoQual
                    | Kw::Protochain
                    | Kw::Gateway,
                ) => {
                    self.bump();
                    self.head(Some((p, start)), start)
                }
                Tok::Kw(Kw::Unsup(f @ (Family::WlanAddr | Family::Wlan))) => {
                    Err(self.unsupported(self.span_at(self.pos + 1), f))
                }
                Tok::Kw(k @ (Kw::Broadcast | Kw::Multicast)) => {
                    self.bump();
                    let end = self.bump();
                    let kw = if k == Kw::Broadcast {
                        Keyword::Broadcast(Some(p))
                    } else {
                        Keyword::Multicast(Some(p))
                    };
                    Ok((
                        Expr::Keyword {
                            kw,
                            arg: None,
                            span: start.to(end),
                        },
                        None,
                    ))
                }
                _ => {
                    self.bump();
                    Ok((
                        Expr::Keyword {
                            kw: Keyword::Proto(p),
                            arg: None,
                            span: start,
                        },
                        None,
                    ))
                }
            },
            Tok::Kw(
                Kw::Src
                | Kw::Dst
                | Kw::Host
                | Kw::Net
                | Kw::Port
                | Kw::Portrange
                | Kw::ProtoQual
                | Kw::Protochain
                | Kw::Gateway,
            ) => self.head(None, start),
            Tok::Kw(k @ (Kw::Broadcast | Kw::Multicast)) => {
                self.bump();
                let kw = match k {
                    Kw::Broadcast => Keyword::Broadcast(None),
                    _ => Keyword::Multicast(None),
                };
                Ok((
                    Expr::Keyword {
                        kw,
                        arg: None,
                        span: start,
                    },
                    None,
                ))
            }
            Tok::Kw(k @ (Kw::Less | Kw::Greater | Kw::Ifindex)) => {
                self.bump();
                let Tok::Num(n) = *self.tok() else {
                    let what = match k {
                        Kw::Ifindex => "an interface index",
                        _ => "a packet length",
                    };
                    return Err(self.expected(&format!("{what} after `{}`", self.text(start))));
                };
                let ns = self.bump();
                let kw = match k {
                    Kw::Less => Keyword::Less,
                    Kw::Greater => Keyword::Greater,
                    _ => Keyword::Ifindex,
                };
                Ok((
                    Expr::Keyword {
                        kw,
                        arg: Some((n, ns)),
                        span: start.to(ns),
                    },
                    None,
                ))
            }
            Tok::Kw(Kw::Byte) => Ok((self.byte()?, None)),
            Tok::Kw(k @ (Kw::Inbound | Kw::Outbound | Kw::Pppoed)) => {
                self.bump();
                let kw = match k {
                    Kw::Inbound => Keyword::Inbound,
                    Kw::Outbound => Keyword::Outbound,
                    _ => Keyword::Pppoed,
                };
                Ok((
                    Expr::Keyword {
                        kw,
                        arg: None,
                        span: start,
                    },
                    None,
                ))
            }
            Tok::Kw(k @ (Kw::Vlan | Kw::Mpls | Kw::Pppoes | Kw::Geneve | Kw::Vxlan)) => {
                self.bump();
                let (kw, max, what) = match k {
                    Kw::Vlan => (Keyword::Vlan, 4095, "VLAN ID"),
                    Kw::Mpls => (Keyword::Mpls, 1_048_575, "MPLS label"),
                    Kw::Pppoes => (Keyword::Pppoes, 65535, "PPPoE session ID"),
                    Kw::Geneve => (Keyword::Geneve, 16_777_215, "Geneve VNI"),
                    _ => (Keyword::Vxlan, 16_777_215, "VXLAN VNI"),
                };
                let mut arg = None;
                if matches!(self.tok(), Tok::Num(_) | Tok::P(P::LParen)) {
                    let (n, ns) = self.pnum()?;
                    if n > max {
                        return Err(Diagnostic::new(
                            VALUE,
                            format!("{what} {n} is greater than the maximum {max}"),
                        )
                        .label(ns, format!("at most {max}"))
                        .label(start, "for this"));
                    }
                    arg = Some((n, ns));
                }
                let span = arg.map_or(start, |(_, s)| start.to(s));
                Ok((Expr::Keyword { kw, arg, span }, None))
            }
            Tok::Kw(Kw::Llc) => {
                self.bump();
                let sub = match self.tok().clone() {
                    Tok::Id(name) => {
                        let s = self.bump();
                        match llc_type(&name) {
                            Some(t) => Some((t, s)),
                            None => {
                                let msg = format!("unknown LLC frame type `{name}`");
                                return Err(Diagnostic::new(VALUE, msg)
                                    .label(s, "not an LLC frame type")
                                    .help(LLC_TYPES));
                            }
                        }
                    }
                    Tok::Kw(Kw::Rnr) => Some((Llc::Rnr, self.bump())),
                    _ => None,
                };
                let span = sub.map_or(start, |(_, s)| start.to(s));
                Ok((
                    Expr::Keyword {
                        kw: Keyword::Llc(sub.map(|x| x.0)),
                        arg: None,
                        span,
                    },
                    None,
                ))
            }
            Tok::Kw(Kw::Unsup(f)) => Err(self.unsupported(start, f)),
            Tok::Kw(Kw::Rnr) => Err(self.unsupported(start, Family::Pflog)),
            t if is_value(&t) => Err(Diagnostic::new(
                SYNTAX,
                format!("`{}` needs a qualifier", self.text(start)),
            )
            .label(start, "a value alone is not a primitive")
            .help(match q {
                Some(_) => {
                    "only a value after `and`/`or` inherits the qualifiers of the primitive \
                     before it"
                }
                None => {
                    "say what the value is, as in `host 10.0.0.1`, `net 10.0.0.0/8` or \
                     `port 80`"
                }
            })),
            _ => Err(self.expected("a primitive")),
        }
    }

    /// `[pname] dqual [aqual] id`, `[pname] aqual id`, `[pname] proto id`, `[pname] protochain
    /// id`, `[pname] gateway id`; the current token follows the protocol.
    fn head(
        &mut self,
        proto: Option<(Proto, Span)>,
        start: Span,
    ) -> Result<(Expr, Inherit), Diagnostic> {
        let mut quals = Quals {
            proto,
            dir: None,
            kind: None,
        };
        if let Tok::Kw(k @ (Kw::Src | Kw::Dst)) = *self.tok() {
            let s = self.bump();
            let (other, one) = if k == Kw::Src {
                (Kw::Dst, Dir::Src)
            } else {
                (Kw::Src, Dir::Dst)
            };
            let mut dir = (one, s);
            if let Tok::And | Tok::Or = self.tok() {
                let both = if matches!(self.tok(), Tok::Or) {
                    Dir::SrcOrDst
                } else {
                    Dir::SrcAndDst
                };
                self.bump();
                if *self.tok() != Tok::Kw(other) {
                    let o = if other == Kw::Src { "src" } else { "dst" };
                    return Err(self.expected(&format!(
                        "`{o}` (to make `{}`)",
                        self.text(s.to(self.prev_span()))
                    )));
                }
                dir = (both, s.to(self.bump()));
            }
            quals.dir = Some(dir);
            if let Tok::Kw(Kw::ProtoQual | Kw::Protochain | Kw::Gateway) = self.tok() {
                return Err(Diagnostic::new(
                    SYNTAX,
                    format!("`{}` takes no direction qualifier", self.text(self.span())),
                )
                .label(self.span(), "cannot follow a direction")
                .label(dir.1, "this direction"));
            }
        }
        let kind = match self.tok() {
            Tok::Kw(Kw::Host) => Some(Kind::Host),
            Tok::Kw(Kw::Net) => Some(Kind::Net),
            Tok::Kw(Kw::Port) => Some(Kind::Port),
            Tok::Kw(Kw::Portrange) => Some(Kind::Portrange),
            Tok::Kw(Kw::ProtoQual) => Some(Kind::Proto),
            Tok::Kw(Kw::Protochain) => Some(Kind::Protochain),
            Tok::Kw(Kw::Gateway) => Some(Kind::Gateway),
            _ => None,
        };
        if let Some(k) = kind {
            quals.kind = Some((k, self.bump()));
        }
        let e = self.id(Some(quals), false, Some(start))?;
        Ok((e, Some(quals)))
    }

    /// `id: nid | pnum | ( pid )`, with the qualifiers `q`. `first`: the first id of a
    /// parenthesised list, which cannot itself be a list. `start`: where the primitive starts when
    /// the id follows its qualifiers directly.
    fn id(&mut self, q: Inherit, first: bool, start: Option<Span>) -> Result<Expr, Diagnostic> {
        self.enter()?;
        let r = self.id_inner(q, first, start);
        self.leave();
        r
    }

    fn id_inner(
        &mut self,
        q: Inherit,
        first: bool,
        start: Option<Span>,
    ) -> Result<Expr, Diagnostic> {
        let s = self.span();
        match self.tok().clone() {
            Tok::Not => {
                self.op()?;
                self.bump();
                let inner = self.id(q, false, None)?;
                let span = s.to(self.prev_span());
                Ok(Expr::Not(Box::new(inner), span))
            }
            Tok::Num(_) => {
                let (n, ns) = self.pnum()?;
                self.leaf(q, Id::Num(n), ns, start)
            }
            Tok::P(P::LParen) => {
                if self.pnum_end(self.pos).is_some() {
                    let (n, ns) = self.pnum()?;
                    self.leaf(q, Id::Num(n), ns, start)
                } else if first {
                    let msg = "a parenthesised list of values cannot start with another list";
                    Err(Diagnostic::new(SYNTAX, msg)
                        .label(s, "a nested list here")
                        .help(
                            "libpcap's grammar allows a nested list only after `and`/`or`: \
                             write `(a or (b or c))`",
                        ))
                } else {
                    self.group(q)
                }
            }
            Tok::Id(name) => {
                self.bump();
                self.leaf(q, Id::Name(name), s, start)
            }
            Tok::Hid(parts) => {
                self.bump();
                let dotted = Id::Dotted(parts);
                let (id, what, span) = match self.tok() {
                    Tok::P(P::Slash) => {
                        self.bump();
                        let (n, ns) = self.raw_num("a prefix length after `/`")?;
                        if n > 32 {
                            return Err(Diagnostic::new(
                                VALUE,
                                format!("prefix length {n} is greater than the maximum 32"),
                            )
                            .label(ns, "at most 32 for an IPv4 network"));
                        }
                        (
                            Id::Prefix(Box::new(dotted), n),
                            "an IPv4 address and prefix length",
                            s.to(ns),
                        )
                    }
                    Tok::Kw(Kw::Mask) => {
                        self.bump();
                        let Tok::Hid(m) = self.tok().clone() else {
                            return Err(self.expected("a dotted network mask after `mask`"));
                        };
                        let ms = self.bump();
                        (
                            Id::Masked(Box::new(dotted), Box::new(Id::Dotted(m))),
                            "an IPv4 address and netmask",
                            s.to(ms),
                        )
                    }
                    _ => (dotted, "an IPv4 address", s),
                };
                self.check_address_kind(q, what, span)?;
                self.leaf(q, id, span, start)
            }
            Tok::Hid6(a) => {
                self.bump();
                let (id, what, span) = if matches!(self.tok(), Tok::P(P::Slash)) {
                    self.bump();
                    let (n, ns) = self.raw_num("a prefix length after `/`")?;
                    if n > 128 {
                        return Err(Diagnostic::new(
                            VALUE,
                            format!("prefix length {n} is greater than the maximum 128"),
                        )
                        .label(ns, "at most 128 for an IPv6 network"));
                    }
                    (
                        Id::Prefix(Box::new(Id::Ipv6(a)), n),
                        "an IPv6 address and prefix length",
                        s.to(ns),
                    )
                } else {
                    (Id::Ipv6(a), "an IPv6 address", s)
                };
                self.check_address_kind(q, what, span)?;
                self.leaf(q, id, span, start)
            }
            Tok::Eid(m) => {
                self.bump();
                self.leaf(q, Id::Mac(m), s, start)
            }
            Tok::Aid => Err(self.unsupported(s, Family::Arcnet)),
            Tok::Kw(_) | Tok::And | Tok::Or => {
                let word = self.text(s);
                Err(Diagnostic::new(
                    SYNTAX,
                    format!("expected a value, found the keyword `{word}`"),
                )
                .label(s, "a keyword, not a value")
                .help(format!("to use `{word}` as a name, escape it: `\\{word}`")))
            }
            _ => Err(self.expected("a value")),
        }
    }

    /// grammar.y refuses addresses under `port`, `portrange`, `proto` and `protochain`.
    fn check_address_kind(&self, q: Inherit, what: &str, span: Span) -> Result<(), Diagnostic> {
        if let Some(Quals {
            kind: Some((k, ks)),
            ..
        }) = q
            && matches!(
                k,
                Kind::Port | Kind::Portrange | Kind::Proto | Kind::Protochain
            )
        {
            let kw = self.text(ks);
            return Err(Diagnostic::new(VALUE, format!("`{kw}` cannot take {what}"))
                .label(span, what.to_string())
                .label(ks, "this qualifier")
                .help(format!("`{kw}` takes a number or a name")));
        }
        Ok(())
    }

    fn leaf(
        &self,
        q: Inherit,
        id: Id,
        id_span: Span,
        start: Option<Span>,
    ) -> Result<Expr, Diagnostic> {
        let Some(quals) = q else {
            return Err(Diagnostic::new(
                SYNTAX,
                format!("`{}` has no qualifiers to inherit", self.text(id_span)),
            )
            .label(id_span, "a bare value")
            .help(
                "a bare value repeats the qualifiers of the primitive before it (`host a or b` is \
                 `host a or host b`), but no qualified primitive precedes it here; write them, as \
                 in `host b` or `port 80`",
            ));
        };
        Ok(Expr::Qualified {
            quals,
            id,
            id_span,
            span: start.map_or(id_span, |s| s.to(id_span)),
        })
    }

    /// `( pid )`: values joined by `and`/`or`, all with the qualifiers `q`.
    fn group(&mut self, q: Inherit) -> Result<Expr, Diagnostic> {
        let open = self.bump();
        let mut e = self.id(q, true, None)?;
        loop {
            let and = match self.tok() {
                Tok::And => true,
                Tok::Or => false,
                Tok::P(P::RParen) => {
                    self.bump();
                    return Ok(e);
                }
                Tok::Eof => {
                    return Err(self.expected("`)`").label(open, "to close this `(`"));
                }
                _ => return Err(self.expected("`and`, `or` or `)` in a list of values")),
            };
            self.op()?;
            self.bump();
            let r = self.id(q, false, None)?;
            e = if and {
                Expr::And(Box::new(e), Box::new(r))
            } else {
                Expr::Or(Box::new(e), Box::new(r))
            };
        }
    }

    /// `pnum: NUM | ( pnum )`.
    fn pnum(&mut self) -> Result<(u32, Span), Diagnostic> {
        if matches!(self.tok(), Tok::P(P::LParen)) {
            let open = self.bump();
            let (n, _) = self.pnum()?;
            if !matches!(self.tok(), Tok::P(P::RParen)) {
                return Err(self.expected("`)`").label(open, "to close this `(`"));
            }
            let close = self.bump();
            return Ok((n, open.to(close)));
        }
        self.raw_num("a number")
    }

    fn raw_num(&mut self, what: &str) -> Result<(u32, Span), Diagnostic> {
        match *self.tok() {
            Tok::Num(n) => Ok((n, self.bump())),
            _ => Err(self.expected(what)),
        }
    }

    /// `byte N op V`, written as the comparison on `link[N]` that libpcap generates.
    fn byte(&mut self) -> Result<Expr, Diagnostic> {
        let start = self.bump();
        let (idx, is) = self.raw_num("a byte offset after `byte`")?;
        let op = match self.tok() {
            Tok::P(p @ (P::Amp | P::Pipe | P::Lt | P::Gt | P::Eq)) => *p,
            _ => return Err(self.expected("one of `=`, `<`, `>`, `&`, `|` after `byte N`")),
        };
        let os = self.bump();
        let (val, vs) = self.raw_num("a byte value")?;
        if val > 255 {
            return Err(Diagnostic::new(
                VALUE,
                format!("byte value {val} is greater than the maximum 255"),
            )
            .label(vs, "at most 255"));
        }
        let load = Arith::Index {
            proto: (Proto::Link, start),
            index: Box::new(Arith::Num(idx, is)),
            size: 1,
            span: start.to(is),
        };
        let span = start.to(vs);
        let (lhs, op, rhs) = match op {
            P::Eq => (load, RelOp::Eq, Arith::Num(val, vs)),
            P::Lt => (load, RelOp::Lt, Arith::Num(val, vs)),
            P::Gt => (load, RelOp::Gt, Arith::Num(val, vs)),
            _ => (
                Arith::Bin {
                    op: if op == P::Amp {
                        ArithOp::And
                    } else {
                        ArithOp::Or
                    },
                    lhs: Box::new(load),
                    rhs: Box::new(Arith::Num(val, vs)),
                    span,
                },
                RelOp::Ne,
                Arith::Num(0, os),
            ),
        };
        Ok(Expr::Rel { lhs, op, rhs, span })
    }

    /// `arith relop arith`.
    fn rel(&mut self) -> Result<Expr, Diagnostic> {
        let lhs = self.arith()?;
        let op = match self.tok() {
            Tok::P(P::Gt) => RelOp::Gt,
            Tok::P(P::Ge) => RelOp::Ge,
            Tok::P(P::Eq) => RelOp::Eq,
            Tok::P(P::Lt) => RelOp::Lt,
            Tok::P(P::Le) => RelOp::Le,
            Tok::P(P::Ne) => RelOp::Ne,
            _ => {
                return Err(self
                    .expected("a comparison (`=`, `!=`, `<`, `<=`, `>`, `>=`)")
                    .label(lhs.span(), "this arithmetic expression must be compared"));
            }
        };
        self.bump();
        let rhs = self.arith()?;
        let span = lhs.span().to(rhs.span());
        Ok(Expr::Rel { lhs, op, rhs, span })
    }

    /// An arithmetic expression, with bison's precedence resolution (see the module docs).
    fn arith(&mut self) -> Result<Arith, Diagnostic> {
        enum Op {
            Neg(Span),
            Bin(ArithOp),
        }
        fn prec(op: &Op) -> Option<u8> {
            match op {
                Op::Neg(_) => Some(6),
                Op::Bin(b) => binprec(*b),
            }
        }
        fn binprec(b: ArithOp) -> Option<u8> {
            match b {
                ArithOp::Or => Some(1),
                ArithOp::And => Some(2),
                ArithOp::Lsh | ArithOp::Rsh => Some(3),
                ArithOp::Add | ArithOp::Sub => Some(4),
                ArithOp::Mul | ArithOp::Div => Some(5),
                ArithOp::Mod | ArithOp::Xor => None,
            }
        }
        fn reduce(vals: &mut Vec<Arith>, ops: &mut Vec<Op>) {
            let (Some(op), Some(rhs)) = (ops.pop(), vals.pop()) else {
                return;
            };
            match op {
                Op::Neg(s) => {
                    let span = s.to(rhs.span());
                    vals.push(Arith::Neg(Box::new(rhs), span));
                }
                Op::Bin(b) => {
                    let Some(lhs) = vals.pop() else {
                        return;
                    };
                    let span = lhs.span().to(rhs.span());
                    vals.push(Arith::Bin {
                        op: b,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                        span,
                    });
                }
            }
        }
        self.enter()?;
        let mut vals: Vec<Arith> = Vec::new();
        let mut ops: Vec<Op> = Vec::new();
        loop {
            // Unary minuses nest: each counts as a level.
            let mut minus = 0;
            while matches!(self.tok(), Tok::P(P::Minus)) {
                self.op()?;
                self.enter()?;
                minus += 1;
                ops.push(Op::Neg(self.bump()));
            }
            vals.push(self.primary()?);
            self.depth -= minus;
            let b = match self.tok() {
                Tok::P(P::Plus) => ArithOp::Add,
                Tok::P(P::Minus) => ArithOp::Sub,
                Tok::P(P::Star) => ArithOp::Mul,
                Tok::P(P::Slash) => ArithOp::Div,
                Tok::P(P::Percent) => ArithOp::Mod,
                Tok::P(P::Amp) => ArithOp::And,
                Tok::P(P::Pipe) => ArithOp::Or,
                Tok::P(P::Caret) => ArithOp::Xor,
                Tok::P(P::Lsh) => ArithOp::Lsh,
                Tok::P(P::Rsh) => ArithOp::Rsh,
                _ => break,
            };
            self.op()?;
            // Reduce while the operator on the stack wins (bison: equal precedence and
            // %left reduce; no precedence on either side shifts).
            while let Some(top) = ops.last() {
                match (prec(top), binprec(b)) {
                    (Some(t), Some(i)) if t >= i => reduce(&mut vals, &mut ops),
                    _ => break,
                }
            }
            ops.push(Op::Bin(b));
            self.bump();
        }
        while !ops.is_empty() {
            reduce(&mut vals, &mut ops);
        }
        self.leave();
        vals.pop()
            .ok_or_else(|| self.expected("an arithmetic expression"))
    }

    /// A number, `len`, `proto[index[:size]]` or `( arith )`.
    fn primary(&mut self) -> Result<Arith, Diagnostic> {
        let s = self.span();
        match self.tok().clone() {
            Tok::Num(n) => {
                self.bump();
                Ok(Arith::Num(n, s))
            }
            Tok::Kw(Kw::Len) => {
                self.bump();
                Ok(Arith::Len(s))
            }
            Tok::P(P::LParen) => {
                self.bump();
                let inner = self.arith()?;
                if !matches!(self.tok(), Tok::P(P::RParen)) {
                    return Err(self
                        .expected("an arithmetic operator or `)`")
                        .label(s, "in the arithmetic group opened here"));
                }
                let close = self.bump();
                Ok(with_span(inner, s.to(close)))
            }
            Tok::Kw(Kw::Pname(p)) => {
                self.bump();
                if !matches!(self.tok(), Tok::P(P::LBrack)) {
                    return Err(
                        self.expected(&format!("`[` after `{}` in arithmetic", self.text(s)))
                    );
                }
                self.bump();
                let index = self.arith()?;
                let mut size = 1u8;
                if matches!(self.tok(), Tok::P(P::Colon)) {
                    self.bump();
                    let (n, ns) = self.raw_num("a size (1, 2 or 4) after `:`")?;
                    size = match n {
                        1 | 2 | 4 => n as u8,
                        _ => {
                            return Err(Diagnostic::new(
                                VALUE,
                                format!("data size {n} must be 1, 2 or 4"),
                            )
                            .label(ns, "not 1, 2 or 4")
                            .help("`proto[offset:size]` loads a byte, a halfword or a word"));
                        }
                    };
                }
                if !matches!(self.tok(), Tok::P(P::RBrack)) {
                    return Err(self.expected("`]`"));
                }
                let close = self.bump();
                Ok(Arith::Index {
                    proto: (p, s),
                    index: Box::new(index),
                    size,
                    span: s.to(close),
                })
            }
            Tok::Kw(Kw::Unsup(f)) => Err(self.unsupported(s, f)),
            _ => Err(self.expected("a number, `len`, `proto[offset]` or `(`")),
        }
    }
}

fn with_span(a: Arith, new: Span) -> Arith {
    match a {
        Arith::Num(n, _) => Arith::Num(n, new),
        Arith::Len(_) => Arith::Len(new),
        Arith::Neg(x, _) => Arith::Neg(x, new),
        Arith::Index {
            proto, index, size, ..
        } => Arith::Index {
            proto,
            index,
            size,
            span: new,
        },
        Arith::Bin { op, lhs, rhs, .. } => Arith::Bin {
            op,
            lhs,
            rhs,
            span: new,
        },
    }
}

const LLC_TYPES: &str = "the LLC frame types are i, s, u, rr, rnr, rej, ui, ua, disc, dm, sabme, \
                         test, xid and frmr";

/// `llc` frame types; libpcap compares them case-insensitively.
fn llc_type(name: &str) -> Option<Llc> {
    Some(match name.to_ascii_lowercase().as_str() {
        "i" => Llc::I,
        "s" => Llc::S,
        "u" => Llc::U,
        "rr" => Llc::Rr,
        "rnr" => Llc::Rnr,
        "rej" => Llc::Rej,
        "ui" => Llc::Ui,
        "ua" => Llc::Ua,
        "disc" => Llc::Disc,
        "dm" => Llc::Dm,
        "sabme" => Llc::Sabme,
        "test" => Llc::Test,
        "xid" => Llc::Xid,
        "frmr" => Llc::Frmr,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Printing: canonical pcap syntax, fully parenthesised, every qualifier explicit.

fn dir_name(d: Dir) -> &'static str {
    match d {
        Dir::Src => "src",
        Dir::Dst => "dst",
        Dir::SrcOrDst => "src or dst",
        Dir::SrcAndDst => "src and dst",
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::Host => "host",
        Kind::Net => "net",
        Kind::Port => "port",
        Kind::Portrange => "portrange",
        Kind::Proto => "proto",
        Kind::Protochain => "protochain",
        Kind::Gateway => "gateway",
    }
}

fn llc_name(l: Llc) -> &'static str {
    match l {
        Llc::I => "i",
        Llc::S => "s",
        Llc::U => "u",
        Llc::Rr => "rr",
        Llc::Rnr => "rnr",
        Llc::Rej => "rej",
        Llc::Ui => "ui",
        Llc::Ua => "ua",
        Llc::Disc => "disc",
        Llc::Dm => "dm",
        Llc::Sabme => "sabme",
        Llc::Test => "test",
        Llc::Xid => "xid",
        Llc::Frmr => "frmr",
    }
}

fn relop_name(op: RelOp) -> &'static str {
    match op {
        RelOp::Eq => "==",
        RelOp::Ne => "!=",
        RelOp::Lt => "<",
        RelOp::Le => "<=",
        RelOp::Gt => ">",
        RelOp::Ge => ">=",
    }
}

fn arithop_name(op: ArithOp) -> &'static str {
    match op {
        ArithOp::Add => "+",
        ArithOp::Sub => "-",
        ArithOp::Mul => "*",
        ArithOp::Div => "/",
        ArithOp::Mod => "%",
        ArithOp::And => "&",
        ArithOp::Or => "|",
        ArithOp::Xor => "^",
        ArithOp::Lsh => "<<",
        ArithOp::Rsh => ">>",
    }
}

/// Whether `name` reads back as the same plain name (otherwise it is printed `\`-escaped).
fn plain_name(name: &str) -> bool {
    let toks = lex(name);
    toks.len() == 2
        && toks[0].span == Span::new(0, name.len())
        && toks[0].tok == Tok::Id(name.to_string())
}

fn fmt_ipv6(a: &[u8; 16], f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let w: Vec<u16> = a
        .chunks(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    // The longest run of two or more zero groups (the first of equals) becomes `::`.
    let (mut best, mut best_len) = (0, 0);
    let mut i = 0;
    while i < 8 {
        if w[i] == 0 {
            let j = (i..8).find(|&j| w[j] != 0).unwrap_or(8);
            if j - i > best_len {
                (best, best_len) = (i, j - i);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    let groups = |r: &[u16]| {
        r.iter()
            .map(|g| format!("{g:x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    if best_len >= 2 {
        write!(
            f,
            "{}::{}",
            groups(&w[..best]),
            groups(&w[best + best_len..])
        )
    } else {
        f.write_str(&groups(&w))
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Dotted(parts) => {
                let s: Vec<String> = parts.iter().map(u32::to_string).collect();
                f.write_str(&s.join("."))
            }
            Id::Ipv6(a) => fmt_ipv6(a, f),
            Id::Mac(m) => write!(
                f,
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            ),
            Id::Name(n) => {
                if plain_name(n) {
                    f.write_str(n)
                } else {
                    write!(f, "\\{n}")
                }
            }
            Id::Prefix(a, len) => write!(f, "{a}/{len}"),
            Id::Masked(a, m) => write!(f, "{a} mask {m}"),
        }
    }
}

/// `%` and `^` group to the right (see the module docs); the other operators to the left.
fn right_grouping(op: ArithOp) -> bool {
    matches!(op, ArithOp::Mod | ArithOp::Xor)
}

impl fmt::Display for Arith {
    /// Fully parenthesised, except that a left-associative chain of one operator prints flat
    /// (`(1 + 2 + 3)`) and so does a chain of `%`/`^` in its right operands (`(1 % 2 ^ 3)`):
    /// both read back the same, and a long chain needs neither deep recursion here nor deep
    /// nesting in the text.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arith::Num(n, _) => write!(f, "{n}"),
            Arith::Len(_) => f.write_str("len"),
            Arith::Index {
                proto, index, size, ..
            } => {
                write!(f, "{}[{index}", Proto::name(proto.0))?;
                if *size != 1 {
                    write!(f, ":{size}")?;
                }
                f.write_str("]")
            }
            Arith::Neg(a, _) => write!(f, "(-{a})"),
            Arith::Bin { op, .. } if right_grouping(*op) => {
                f.write_str("(")?;
                let mut cur = self;
                while let Arith::Bin { op, lhs, rhs, .. } = cur {
                    write!(f, "{lhs} {} ", arithop_name(*op))?;
                    match &**rhs {
                        Arith::Bin { op, .. } if right_grouping(*op) => cur = rhs,
                        last => {
                            write!(f, "{last}")?;
                            break;
                        }
                    }
                }
                f.write_str(")")
            }
            Arith::Bin { .. } => {
                // The left spine, top down, while the operators group to the left.
                let mut spine = Vec::new();
                let mut cur = self;
                while let Arith::Bin { op, lhs, rhs, .. } = cur {
                    if right_grouping(*op) {
                        break;
                    }
                    spine.push((*op, &**rhs));
                    cur = lhs;
                }
                spine.reverse();
                let runs = 1 + spine.windows(2).filter(|w| w[0].0 != w[1].0).count();
                write!(f, "{}{cur}", "(".repeat(runs))?;
                for (i, (op, rhs)) in spine.iter().enumerate() {
                    write!(f, " {} {rhs}", arithop_name(*op))?;
                    if spine.get(i + 1).is_none_or(|n| n.0 != *op) {
                        f.write_str(")")?;
                    }
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Expr {
    /// Canonical pcap syntax: every `and`/`or` group and every `not` parenthesised (a run of one
    /// operator, which associates to the left, prints flat: `(a or b or c)`), every primitive
    /// with all its qualifiers, names that would read as something else `\`-escaped. It parses
    /// back to the same tree (spans aside). The empty expression prints as nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::True => Ok(()),
            Expr::And(..) | Expr::Or(..) => {
                // The left spine, top down; a run of one operator prints flat, `(a or b or c)`.
                let mut spine = Vec::new();
                let mut cur = self;
                loop {
                    cur = match cur {
                        Expr::And(l, r) => {
                            spine.push(("and", &**r));
                            l
                        }
                        Expr::Or(l, r) => {
                            spine.push(("or", &**r));
                            l
                        }
                        _ => break,
                    };
                }
                spine.reverse();
                let runs = 1 + spine.windows(2).filter(|w| w[0].0 != w[1].0).count();
                write!(f, "{}{cur}", "(".repeat(runs))?;
                for (i, (op, rhs)) in spine.iter().enumerate() {
                    write!(f, " {op} {rhs}")?;
                    if spine.get(i + 1).is_none_or(|n| n.0 != *op) {
                        f.write_str(")")?;
                    }
                }
                Ok(())
            }
            Expr::Not(a, _) => write!(f, "(not {a})"),
            Expr::Qualified { quals, id, .. } => {
                if let Some((p, _)) = quals.proto {
                    write!(f, "{} ", Proto::name(p))?;
                }
                if let Some((d, _)) = quals.dir {
                    write!(f, "{} ", dir_name(d))?;
                }
                if let Some((k, _)) = quals.kind {
                    write!(f, "{} ", kind_name(k))?;
                }
                write!(f, "{id}")
            }
            Expr::Keyword { kw, arg, .. } => {
                match kw {
                    Keyword::Proto(p) => f.write_str(Proto::name(*p))?,
                    Keyword::Broadcast(p) | Keyword::Multicast(p) => {
                        if let Some(p) = p {
                            write!(f, "{} ", Proto::name(*p))?;
                        }
                        f.write_str(if matches!(kw, Keyword::Broadcast(_)) {
                            "broadcast"
                        } else {
                            "multicast"
                        })?;
                    }
                    Keyword::Less => f.write_str("less")?,
                    Keyword::Greater => f.write_str("greater")?,
                    Keyword::Vlan => f.write_str("vlan")?,
                    Keyword::Mpls => f.write_str("mpls")?,
                    Keyword::Pppoed => f.write_str("pppoed")?,
                    Keyword::Pppoes => f.write_str("pppoes")?,
                    Keyword::Geneve => f.write_str("geneve")?,
                    Keyword::Vxlan => f.write_str("vxlan")?,
                    Keyword::Llc(t) => {
                        f.write_str("llc")?;
                        if let Some(t) = t {
                            write!(f, " {}", llc_name(*t))?;
                        }
                    }
                    Keyword::Inbound => f.write_str("inbound")?,
                    Keyword::Outbound => f.write_str("outbound")?,
                    Keyword::Ifindex => f.write_str("ifindex")?,
                }
                if let Some((n, _)) = arg {
                    write!(f, " {n}")?;
                }
                Ok(())
            }
            Expr::Rel { lhs, op, rhs, .. } => write!(f, "{lhs} {} {rhs}", relop_name(*op)),
        }
    }
}
