//! Printing: canonical pcap syntax, fully parenthesised, every qualifier explicit.

use super::*;

fn dir_name(d: Dir) -> &'static str {
    match d {
        Dir::Src => "src",
        Dir::Dst => "dst",
        Dir::SrcOrDst => "src or dst",
        Dir::SrcAndDst => "src and dst",
        Dir::Addr1 => "addr1",
        Dir::Addr2 => "addr2",
        Dir::Addr3 => "addr3",
        Dir::Addr4 => "addr4",
        Dir::Ra => "ra",
        Dir::Ta => "ta",
    }
}

fn kind_name(k: IdKind) -> &'static str {
    match k {
        IdKind::Host => "host",
        IdKind::Net => "net",
        IdKind::Port => "port",
        IdKind::Portrange => "portrange",
        IdKind::Proto => "proto",
        IdKind::Protochain => "protochain",
        IdKind::Gateway => "gateway",
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
    let w: Vec<u16> = a.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
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
    let groups = |r: &[u16]| r.iter().map(|g| format!("{g:x}")).collect::<Vec<_>>().join(":");
    if best_len >= 2 {
        write!(f, "{}::{}", groups(&w[..best]), groups(&w[best + best_len..]))
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
            Arith::Index { proto, index, size, .. } => {
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
                    Keyword::WlanType { ty, sub } => {
                        write!(f, "type {ty}")?;
                        if let Some(s) = sub {
                            write!(f, " subtype {s}")?;
                        }
                    }
                    Keyword::WlanSubtype(v) => {
                        let name = super::expr::WLAN_SUBTYPES
                            .iter()
                            .find(|(t, _, s)| t | s == *v)
                            .map_or("?", |(_, n, _)| n);
                        write!(f, "subtype {name}")?;
                    }
                    Keyword::WlanDir(d) => write!(f, "dir {d}")?,
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
