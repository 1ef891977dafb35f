//! The syntax tree of a pcap-filter(7) expression, after the parser has applied libpcap's
//! qualifier inheritance (`host a or b` is `host a or host b`): every primitive carries its own
//! qualifiers. Spans are byte ranges of the expression text.

use udf_diag::Span;

/// A filter expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// The empty expression: every packet matches.
    True,
    /// `a and b` (`&&`).
    And(Box<Expr>, Box<Expr>),
    /// `a or b` (`||`).
    Or(Box<Expr>, Box<Expr>),
    /// `not a` (`!`), with the span of the whole negation.
    Not(Box<Expr>, Span),
    /// `[proto] [dir] [kind] id`: `host 10.0.0.1`, `tcp dst port 80`, `ip proto \tcp`, `net
    /// 10/8`, `ether src 0:1:2:3:4:5`, `ip6 protochain 6`. At least one qualifier or an id
    /// that inherits them is present.
    Qualified {
        /// The qualifiers, inherited ones included.
        quals: Quals,
        /// The identifier.
        id: Id,
        /// The identifier's span (for errors about the value).
        id_span: Span,
        /// The whole primitive.
        span: Span,
    },
    /// A primitive spelled with a keyword: `ip`, `tcp`, `broadcast`, `ip multicast`, `vlan
    /// 100`, `less 64`, `llc ui`, `pppoes 0x3b`.
    Keyword {
        /// Which primitive.
        kw: Keyword,
        /// Its argument, where it takes one and one was given.
        arg: Option<(u32, Span)>,
        /// The whole primitive.
        span: Span,
    },
    /// `arith relop arith`: `ip[0] & 0xf != 5`, `len >= 100`, `tcp[tcpflags] & tcp-syn != 0`.
    Rel {
        /// Left side.
        lhs: Arith,
        /// The comparison.
        op: RelOp,
        /// Right side.
        rhs: Arith,
        /// The whole comparison.
        span: Span,
    },
}

/// The three qualifier slots of a primitive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quals {
    /// `ether`, `ip`, `tcp`, ... (None: any).
    pub proto: Option<(Proto, Span)>,
    /// `src`, `dst`, `src or dst`, `src and dst` (None: src or dst).
    pub dir: Option<(Dir, Span)>,
    /// `host`, `net`, `port`, `portrange`, `proto`, `protochain`, `gateway` (None: host, or
    /// what the id's form implies).
    pub kind: Option<(IdKind, Span)>,
}

/// Protocol qualifiers and protocol keywords.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// `ether`, `link`, `fddi`, `tr`, `wlan`, `ppp`, `slip`: the link layer.
    Link,
    /// `ip`.
    Ip,
    /// `ip6`.
    Ip6,
    /// `arp`.
    Arp,
    /// `rarp`.
    Rarp,
    /// `tcp`.
    Tcp,
    /// `udp`.
    Udp,
    /// `sctp`.
    Sctp,
    /// `icmp`.
    Icmp,
    /// `icmp6`.
    Icmp6,
    /// `igmp`.
    Igmp,
    /// `igrp`.
    Igrp,
    /// `pim`.
    Pim,
    /// `vrrp`.
    Vrrp,
    /// `carp`.
    Carp,
    /// `ah`.
    Ah,
    /// `esp`.
    Esp,
    /// `atalk`.
    Atalk,
    /// `aarp`.
    Aarp,
    /// `decnet`.
    Decnet,
    /// `lat`.
    Lat,
    /// `sca`.
    Sca,
    /// `moprc`.
    Moprc,
    /// `mopdl`.
    Mopdl,
    /// `iso`.
    Iso,
    /// `esis`, `es-is`.
    Esis,
    /// `isis`, `is-is`.
    Isis,
    /// `clnp`.
    Clnp,
    /// `stp`.
    Stp,
    /// `ipx`.
    Ipx,
    /// `netbeui`.
    Netbeui,
    /// `l1` (IS-IS level 1 PDUs).
    L1,
    /// `l2`.
    L2,
    /// `iih`.
    Iih,
    /// `lsp`.
    Lsp,
    /// `snp`.
    Snp,
    /// `csnp`.
    Csnp,
    /// `psnp`.
    Psnp,
}

/// Direction qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// `src`.
    Src,
    /// `dst`.
    Dst,
    /// `src or dst` (the default).
    SrcOrDst,
    /// `src and dst`.
    SrcAndDst,
    /// `addr1`, `address1`: 802.11 address 1 (and so on).
    Addr1,
    /// `addr2`.
    Addr2,
    /// `addr3`.
    Addr3,
    /// `addr4`.
    Addr4,
    /// `ra`: the receiver address.
    Ra,
    /// `ta`: the transmitter address.
    Ta,
}

/// Type qualifiers (pcap-filter(7)): what kind of thing an id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdKind {
    /// `host`.
    Host,
    /// `net`.
    Net,
    /// `port`.
    Port,
    /// `portrange`.
    Portrange,
    /// `proto`.
    Proto,
    /// `protochain`.
    Protochain,
    /// `gateway`.
    Gateway,
}

/// An identifier as written; the code generator interprets it for its primitive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Id {
    /// A number: decimal, `0x` hex or `0` octal (`ip host 3232279251`, `port 80`).
    Num(u32),
    /// Dotted numbers with one to four parts, each as written (`10.0.0.1`, `192.168`, DECnet's
    /// `1.1`).
    Dotted(Vec<u32>),
    /// An IPv6 address.
    Ipv6([u8; 16]),
    /// An Ethernet address (any of libpcap's spellings).
    Mac([u8; 6]),
    /// A name: host, port or protocol name, a `\`-escaped keyword (`\tcp`, without the
    /// backslash), or a port range `25-53` / `smtp-domain` as written.
    Name(String),
    /// `ID/len`: a network with a prefix length.
    Prefix(Box<Id>, u32),
    /// `ID mask ID`: a network with an explicit mask.
    Masked(Box<Id>, Box<Id>),
}

/// Primitives spelled with a keyword.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    /// A protocol alone: `ip`, `tcp`, `arp`, `isis`, ...
    Proto(Proto),
    /// `broadcast` with an optional `ether` or `ip` qualifier.
    Broadcast(Option<Proto>),
    /// `multicast` with an optional `ether`, `ip` or `ip6` qualifier.
    Multicast(Option<Proto>),
    /// `less N` (its argument is required).
    Less,
    /// `greater N`.
    Greater,
    /// `vlan [ID]`.
    Vlan,
    /// `mpls [LABEL]`.
    Mpls,
    /// `pppoed`.
    Pppoed,
    /// `pppoes [SESSION]`.
    Pppoes,
    /// `geneve [VNI]`.
    Geneve,
    /// `vxlan [VNI]`.
    Vxlan,
    /// `llc` with an optional frame type.
    Llc(Option<Llc>),
    /// `inbound`.
    Inbound,
    /// `outbound`.
    Outbound,
    /// `ifindex N`.
    Ifindex,
    /// `type T [subtype S]`: 802.11 frame control byte 0's type bits (0x0c) are `ty`, and with
    /// a subtype its subtype bits (0xf0) are `sub` too.
    WlanType {
        /// The type bits as written (mgt 0, ctl 4, data 8).
        ty: u32,
        /// The subtype bits as written.
        sub: Option<u32>,
    },
    /// `subtype NAME`: type and subtype bits together.
    WlanSubtype(u32),
    /// `dir D`: the DS bits of frame control byte 1 (nods 0, tods 1, fromds 2, dstods 3).
    WlanDir(u32),
}

/// `llc` frame types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Llc {
    /// `i`: information frames.
    I,
    /// `s`: supervisory frames.
    S,
    /// `u`: unnumbered frames.
    U,
    /// `rr`.
    Rr,
    /// `rnr`.
    Rnr,
    /// `rej`.
    Rej,
    /// `ui`.
    Ui,
    /// `ua`.
    Ua,
    /// `disc`.
    Disc,
    /// `dm`.
    Dm,
    /// `sabme`.
    Sabme,
    /// `test`.
    Test,
    /// `xid`.
    Xid,
    /// `frmr`.
    Frmr,
}

/// Comparisons of `arith relop arith`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RelOp {
    /// `=` or `==`.
    Eq,
    /// `!=`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
}

/// Arithmetic operators (all on unsigned 32 bits, as in classic BPF).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArithOp {
    /// `+`.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`.
    Div,
    /// `%`.
    Mod,
    /// `&`.
    And,
    /// `|`.
    Or,
    /// `^`.
    Xor,
    /// `<<`.
    Lsh,
    /// `>>`.
    Rsh,
}

/// An arithmetic expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arith {
    /// A number, or a named constant already resolved (`tcp-syn`, `icmp-echo`, `tcpflags`).
    Num(u32, Span),
    /// `len` / `length`: the packet's length on the wire.
    Len(Span),
    /// `proto[index]` or `proto[index:size]` (size 1, 2 or 4).
    Index {
        /// The protocol whose header the index counts from.
        proto: (Proto, Span),
        /// The byte offset.
        index: Box<Arith>,
        /// 1, 2 or 4.
        size: u8,
        /// The whole access.
        span: Span,
    },
    /// `a op b`.
    Bin {
        /// The operator.
        op: ArithOp,
        /// Left operand.
        lhs: Box<Arith>,
        /// Right operand.
        rhs: Box<Arith>,
        /// The whole expression.
        span: Span,
    },
    /// `-a`.
    Neg(Box<Arith>, Span),
}

impl Proto {
    /// The keyword spelling of a protocol, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Link => "ether",
            Proto::Ip => "ip",
            Proto::Ip6 => "ip6",
            Proto::Arp => "arp",
            Proto::Rarp => "rarp",
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Sctp => "sctp",
            Proto::Icmp => "icmp",
            Proto::Icmp6 => "icmp6",
            Proto::Igmp => "igmp",
            Proto::Igrp => "igrp",
            Proto::Pim => "pim",
            Proto::Vrrp => "vrrp",
            Proto::Carp => "carp",
            Proto::Ah => "ah",
            Proto::Esp => "esp",
            Proto::Atalk => "atalk",
            Proto::Aarp => "aarp",
            Proto::Decnet => "decnet",
            Proto::Lat => "lat",
            Proto::Sca => "sca",
            Proto::Moprc => "moprc",
            Proto::Mopdl => "mopdl",
            Proto::Iso => "iso",
            Proto::Esis => "esis",
            Proto::Isis => "isis",
            Proto::Clnp => "clnp",
            Proto::Stp => "stp",
            Proto::Ipx => "ipx",
            Proto::Netbeui => "netbeui",
            Proto::L1 => "l1",
            Proto::L2 => "l2",
            Proto::Iih => "iih",
            Proto::Lsp => "lsp",
            Proto::Snp => "snp",
            Proto::Csnp => "csnp",
            Proto::Psnp => "psnp",
        }
    }
}

impl Arith {
    /// The expression's span.
    pub fn span(&self) -> Span {
        match self {
            Arith::Num(_, s) | Arith::Len(s) | Arith::Neg(_, s) => *s,
            Arith::Index { span, .. } | Arith::Bin { span, .. } => *span,
        }
    }
}

impl Expr {
    /// The expression's span (`None` for the empty expression).
    pub fn span(&self) -> Option<Span> {
        match self {
            Expr::True => None,
            Expr::And(a, b) | Expr::Or(a, b) => match (a.span(), b.span()) {
                (Some(x), Some(y)) => Some(x.to(y)),
                (x, y) => x.or(y),
            },
            Expr::Not(_, s) => Some(*s),
            Expr::Qualified { span, .. } | Expr::Keyword { span, .. } | Expr::Rel { span, .. } => {
                Some(*span)
            }
        }
    }
}
