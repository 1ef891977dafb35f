//! From the syntax tree to a boolean formula over tests of packet values, with libpcap's meaning
//! for every primitive (gencode.c's choice of offsets, of tests and of their order: the order
//! matters because a load past the captured bytes rejects the packet wherever it happens).
//!
//! Link-layer state follows the expression left to right as libpcap's does: `vlan`, and
//! `pppoes` move the offsets of everything written after them.

use crate::LinkType;
use crate::Options;
use crate::ast::{Arith, ArithOp, Dir, Expr, Id, Keyword, Kind, Llc, Proto, RelOp};
use udf_diag::Diagnostic;
use udf_diag::Span;

/// A 32-bit value computed from the packet, as classic BPF computes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum V {
    /// A constant.
    K(u32),
    /// The length on the wire.
    Len,
    /// `size` bytes at a fixed offset, big-endian.
    Ld { size: u8, off: u32 },
    /// `size` bytes at `x + off`, where `x` is computed into X.
    LdX { size: u8, off: u32, x: Box<V> },
    /// `4 * ([off] & 0xf)`: an IPv4 header length.
    Msh(u32),
    /// `a op b` (32-bit, wrapping; division by zero rejects the packet).
    Alu(ArithOp, Box<V>, Box<V>),
    /// `-a`.
    Neg(Box<V>),
    /// 1 when libpcap's `protochain` walk from the network header at `nl` (IPv6 extension
    /// headers when `v6`, then AH) reaches protocol `target`, else 0.
    Chain { nl: u32, v6: bool, target: u32 },
}

impl V {
    /// Whether computing this value uses the X register.
    pub(crate) fn uses_x(&self) -> bool {
        match self {
            V::K(_) | V::Len | V::Ld { .. } => false,
            V::LdX { .. } | V::Msh(_) | V::Chain { .. } => true,
            V::Alu(_, a, b) => a.uses_x() || b.uses_x() || !matches!(**b, V::K(_)),
            V::Neg(a) => a.uses_x(),
        }
    }
}

/// A jump condition of classic BPF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Cond {
    /// `==`.
    Eq,
    /// `>` (unsigned).
    Gt,
    /// `>=` (unsigned).
    Ge,
    /// `& rhs != 0`.
    Set,
}

/// One test: `v cond rhs`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Test {
    pub v: V,
    pub cond: Cond,
    pub rhs: V,
}

/// A boolean formula over tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum F {
    Const(bool),
    Test(Test),
    And(Box<F>, Box<F>),
    Or(Box<F>, Box<F>),
    Not(Box<F>),
}

fn and(a: F, b: F) -> F {
    match (&a, &b) {
        (F::Const(false), _) => a,
        (F::Const(true), _) => b,
        (_, F::Const(true)) => a,
        _ => F::And(Box::new(a), Box::new(b)),
    }
}

fn or(a: F, b: F) -> F {
    match (&a, &b) {
        (F::Const(true), _) => a,
        (F::Const(false), _) => b,
        (_, F::Const(false)) => a,
        _ => F::Or(Box::new(a), Box::new(b)),
    }
}

fn not(a: F) -> F {
    match a {
        F::Const(c) => F::Const(!c),
        a => F::Not(Box::new(a)),
    }
}

fn any(fs: impl IntoIterator<Item = F>) -> F {
    fs.into_iter().fold(F::Const(false), or)
}

fn all(fs: impl IntoIterator<Item = F>) -> F {
    fs.into_iter().fold(F::Const(true), and)
}

fn test(v: V, cond: Cond, k: u32) -> F {
    F::Test(Test {
        v,
        cond,
        rhs: V::K(k),
    })
}

fn ld(size: u8, off: u32) -> V {
    V::Ld { size, off }
}

/// `[off:size] == k`.
fn cmp(size: u8, off: u32, k: u32) -> F {
    test(ld(size, off), Cond::Eq, k)
}

/// `[off:size] & mask == k`, the mask left out when it keeps every bit.
fn mcmp(size: u8, off: u32, mask: u32, k: u32) -> F {
    let full = match size {
        1 => 0xff,
        2 => 0xffff,
        _ => u32::MAX,
    };
    if mask & full == 0 {
        F::Const(k == 0)
    } else if mask & full == full {
        cmp(size, off, k)
    } else {
        test(
            V::Alu(ArithOp::And, Box::new(ld(size, off)), Box::new(V::K(mask))),
            Cond::Eq,
            k,
        )
    }
}

const ETHERTYPE_IP: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;
const ETHERTYPE_ARP: u32 = 0x0806;
const ETHERTYPE_REVARP: u32 = 0x8035;
const ETHERTYPE_ATALK: u32 = 0x809b;
const ETHERTYPE_AARP: u32 = 0x80f3;
const ETHERTYPE_IPX: u32 = 0x8137;
const ETHERTYPE_DN: u32 = 0x6003;
const ETHERTYPE_LAT: u32 = 0x6004;
const ETHERTYPE_SCA: u32 = 0x6007;
const ETHERTYPE_MOPRC: u32 = 0x6002;
const ETHERTYPE_MOPDL: u32 = 0x6001;
const ETHERTYPE_PPPOED: u32 = 0x8863;
const ETHERTYPE_PPPOES: u32 = 0x8864;
const ETHERMTU: u32 = 1500;
const LLCSAP_ISONS: u32 = 0xfe;
const LLCSAP_IP: u32 = 0x06;
const LLCSAP_NETBEUI: u32 = 0xf0;
const LLCSAP_8021D: u32 = 0x42;
const LLCSAP_IPX: u32 = 0xe0;

const IPPROTO_ICMP: u32 = 1;
const IPPROTO_IGMP: u32 = 2;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_IGRP: u32 = 9;
const IPPROTO_UDP: u32 = 17;
const IPPROTO_FRAGMENT: u32 = 44;
const IPPROTO_ESP: u32 = 50;
const IPPROTO_AH: u32 = 51;
const IPPROTO_ICMPV6: u32 = 58;
const IPPROTO_PIM: u32 = 103;
const IPPROTO_VRRP: u32 = 112;
const IPPROTO_SCTP: u32 = 132;

const ISO_CLNP: u32 = 0x81;
const ISO_ESIS: u32 = 0x82;
const ISO_ISIS: u32 = 0x83;

/// Where the headers are, as the expression read so far has moved them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    /// Ethernet: the type/length field at `lt`, the network header at `nl`.
    Ether { lt: u32, nl: u32 },
    /// No link header: the network header at 0, its version in the high nibble of byte 0.
    Raw,
    /// PPP inside a PPPoE session: the PPP protocol field at `proto`, the network header at `nl`.
    Ppp { proto: u32, nl: u32 },
}

impl Link {
    fn nl(self) -> u32 {
        match self {
            Link::Ether { nl, .. } | Link::Ppp { nl, .. } => nl,
            Link::Raw => 0,
        }
    }
}

type R<T> = Result<T, Diagnostic>;

fn unsupported(span: Span, what: impl Into<String>, label: &str) -> Diagnostic {
    Diagnostic::new("udf::pcap::unsupported", what).label(span, label)
}

fn bad_value(span: Span, what: impl Into<String>) -> Diagnostic {
    Diagnostic::new("udf::pcap::value", what).label(span, "this value")
}

/// The code generator's state: options and the link-layer offsets in force.
pub(crate) struct Gen {
    opts: Options,
    link: Link,
}

impl Gen {
    pub(crate) fn new(opts: &Options) -> Gen {
        let link = match opts.link {
            LinkType::En10mb => Link::Ether { lt: 12, nl: 14 },
            LinkType::Raw => Link::Raw,
        };
        Gen { opts: *opts, link }
    }

    /// The formula of an expression; state changes (`vlan`) apply to what follows, left to right.
    pub(crate) fn expr(&mut self, e: &Expr) -> R<F> {
        match e {
            Expr::True => Ok(F::Const(true)),
            Expr::And(a, b) => {
                let a = self.expr(a)?;
                let b = self.expr(b)?;
                Ok(and(a, b))
            }
            Expr::Or(a, b) => {
                let a = self.expr(a)?;
                let b = self.expr(b)?;
                Ok(or(a, b))
            }
            Expr::Not(a, _) => Ok(not(self.expr(a)?)),
            Expr::Rel { lhs, op, rhs, .. } => self.relation(lhs, *op, rhs),
            Expr::Keyword { kw, arg, span } => self.keyword(*kw, *arg, *span),
            Expr::Qualified {
                quals,
                id,
                id_span,
                span,
            } => {
                let proto = quals.proto.map(|p| p.0);
                let dir = quals.dir.map_or(Dir::SrcOrDst, |d| d.0);
                self.qualified(
                    proto,
                    quals.proto.map(|p| p.1),
                    dir,
                    quals.kind,
                    id,
                    *id_span,
                    *span,
                )
            }
        }
    }

    // ---- link layer ----------------------------------------------------------------------

    /// libpcap's `gen_linktype`: is the network protocol `proto` (an Ethernet type, or an LLC
    /// SAP when at most 1500)?
    fn linktype(&self, proto: u32) -> F {
        match self.link {
            Link::Raw => match proto {
                ETHERTYPE_IP => mcmp(1, 0, 0xf0, 0x40),
                ETHERTYPE_IPV6 => mcmp(1, 0, 0xf0, 0x60),
                _ => F::Const(false),
            },
            Link::Ppp { proto: at, .. } => match ppp_proto(proto) {
                Some(p) => cmp(2, at, p),
                None => F::Const(false),
            },
            Link::Ether { lt, nl } => {
                let llc = || not(test(ld(2, lt), Cond::Gt, ETHERMTU));
                match proto {
                    LLCSAP_ISONS | LLCSAP_IP | LLCSAP_NETBEUI => {
                        and(llc(), cmp(2, nl, (proto << 8) | proto))
                    }
                    LLCSAP_IPX => and(llc(), cmp(1, nl, LLCSAP_IPX)),
                    ETHERTYPE_IPX => or(
                        cmp(2, lt, ETHERTYPE_IPX),
                        and(
                            llc(),
                            any([
                                and(cmp(4, nl + 4, ETHERTYPE_IPX), cmp(4, nl, 0xaaaa_0300)),
                                cmp(1, nl, LLCSAP_IPX),
                                cmp(2, nl, 0xffff),
                            ]),
                        ),
                    ),
                    ETHERTYPE_ATALK | ETHERTYPE_AARP => {
                        let (snap, oui) = if proto == ETHERTYPE_ATALK {
                            (0x0007_0000 | proto, 0xaaaa_0308)
                        } else {
                            (proto, 0xaaaa_0300)
                        };
                        or(
                            cmp(2, lt, proto),
                            and(llc(), and(cmp(4, nl + 4, snap), cmp(4, nl, oui))),
                        )
                    }
                    p if p <= ETHERMTU => and(llc(), cmp(1, nl, p)),
                    p => cmp(2, lt, p),
                }
            }
        }
    }

    fn ether(&self, span: Span, what: &str) -> R<(u32, u32)> {
        match self.link {
            Link::Ether { lt, nl } => Ok((lt, nl)),
            _ => Err(unsupported(
                span,
                format!("`{what}` needs an Ethernet link layer, and these packets have none"),
                "needs Ethernet",
            )),
        }
    }

    // ---- keywords ------------------------------------------------------------------------------

    fn keyword(&mut self, kw: Keyword, arg: Option<(u32, Span)>, span: Span) -> R<F> {
        match kw {
            Keyword::Proto(p) => self.proto_abbrev(p, span),
            Keyword::Less => {
                let (n, _) = arg.ok_or_else(|| bad_value(span, "`less` needs a length"))?;
                Ok(not(test(V::Len, Cond::Gt, n)))
            }
            Keyword::Greater => {
                let (n, _) = arg.ok_or_else(|| bad_value(span, "`greater` needs a length"))?;
                Ok(test(V::Len, Cond::Ge, n))
            }
            Keyword::Broadcast(p) => self.broadcast(p, span),
            Keyword::Multicast(p) => self.multicast(p, span),
            Keyword::Vlan => {
                let (lt, nl) = self.ether(span, "vlan")?;
                if let Some((id, s)) = arg
                    && id > 4095
                {
                    return Err(bad_value(
                        s,
                        format!("VLAN tag {id} greater than maximum 4095"),
                    ));
                }
                let tpid = any([cmp(2, lt, 0x8100), cmp(2, lt, 0x88a8), cmp(2, lt, 0x9100)]);
                let f = match arg {
                    Some((id, _)) => and(tpid, mcmp(2, nl, 0x0fff, id)),
                    None => tpid,
                };
                self.link = Link::Ether {
                    lt: lt + 4,
                    nl: nl + 4,
                };
                Ok(f)
            }
            Keyword::Pppoed => {
                let (lt, _) = self.ether(span, "pppoed")?;
                Ok(cmp(2, lt, ETHERTYPE_PPPOED))
            }
            Keyword::Pppoes => {
                let (lt, nl) = self.ether(span, "pppoes")?;
                if let Some((id, s)) = arg
                    && id > 0xffff
                {
                    return Err(bad_value(
                        s,
                        format!("PPPoE session number {id} greater than maximum 65535"),
                    ));
                }
                let mut f = cmp(2, lt, ETHERTYPE_PPPOES);
                if let Some((id, _)) = arg {
                    f = and(f, cmp(2, nl + 2, id));
                }
                self.link = Link::Ppp {
                    proto: nl + 6,
                    nl: nl + 8,
                };
                Ok(f)
            }
            Keyword::Llc(kind) => {
                let (lt, nl) = self.ether(span, "llc")?;
                let is_llc = and(
                    not(test(ld(2, lt), Cond::Gt, ETHERMTU)),
                    not(cmp(2, nl, 0xffff)),
                );
                let ctl = |mask: u32, k: u32| mcmp(1, nl + 2, mask, k);
                let sub = match kind {
                    None => F::Const(true),
                    Some(Llc::I) => not(test(ld(1, nl + 2), Cond::Set, 1)),
                    Some(Llc::S) => ctl(3, 1),
                    Some(Llc::U) => ctl(3, 3),
                    Some(Llc::Rr) => ctl(0x0f, 0x01),
                    Some(Llc::Rnr) => ctl(0x0f, 0x05),
                    Some(Llc::Rej) => ctl(0x0f, 0x09),
                    Some(Llc::Ui) => ctl(0xef, 0x03),
                    Some(Llc::Ua) => ctl(0xef, 0x63),
                    Some(Llc::Disc) => ctl(0xef, 0x43),
                    Some(Llc::Dm) => ctl(0xef, 0x0f),
                    Some(Llc::Sabme) => ctl(0xef, 0x6f),
                    Some(Llc::Test) => ctl(0xef, 0xe3),
                    Some(Llc::Xid) => ctl(0xef, 0xaf),
                    Some(Llc::Frmr) => ctl(0xef, 0x87),
                };
                Ok(and(is_llc, sub))
            }
            Keyword::Mpls | Keyword::Geneve | Keyword::Vxlan => Err(unsupported(
                span,
                format!(
                    "`{}` is not supported by this front end: it changes the offsets of what follows in a way it does not model",
                    match kw {
                        Keyword::Mpls => "mpls",
                        Keyword::Geneve => "geneve",
                        _ => "vxlan",
                    }
                ),
                "not supported",
            )),
            Keyword::Inbound | Keyword::Outbound | Keyword::Ifindex => Err(unsupported(
                span,
                "packet direction and interface index are not recorded in EN10MB or RAW captures",
                "not available for this link type",
            )),
        }
    }

    fn broadcast(&self, p: Option<Proto>, span: Span) -> R<F> {
        match p {
            None | Some(Proto::Link) => {
                self.ether(span, "ether broadcast")?;
                Ok(self.bcmp(0, &[0xff; 6]))
            }
            Some(Proto::Ip) => {
                let Some(netmask) = self.opts.netmask else {
                    return Err(unsupported(
                        span,
                        "netmask not known, so `ip broadcast` is not supported",
                        "needs the capture's netmask",
                    )
                    .help("give the network mask (udf filter --netmask A.B.C.D)"));
                };
                let hmask = !netmask;
                let nl = self.link.nl();
                Ok(and(
                    self.linktype(ETHERTYPE_IP),
                    or(mcmp(4, nl + 16, hmask, 0), mcmp(4, nl + 16, hmask, hmask)),
                ))
            }
            Some(_) => Err(unsupported(
                span,
                "only `ether broadcast` and `ip broadcast` exist",
                "no broadcast for this protocol",
            )),
        }
    }

    fn multicast(&self, p: Option<Proto>, span: Span) -> R<F> {
        let nl = self.link.nl();
        match p {
            None | Some(Proto::Link) => {
                self.ether(span, "ether multicast")?;
                Ok(test(ld(1, 0), Cond::Set, 1))
            }
            Some(Proto::Ip) => Ok(and(
                self.linktype(ETHERTYPE_IP),
                test(ld(1, nl + 16), Cond::Ge, 224),
            )),
            Some(Proto::Ip6) => Ok(and(self.linktype(ETHERTYPE_IPV6), cmp(1, nl + 24, 255))),
            Some(_) => Err(unsupported(
                span,
                "only `ether`, `ip` and `ip6 multicast` exist",
                "no multicast for this protocol",
            )),
        }
    }

    /// Compares `bytes` with the packet at `off`, four bytes at a time from the end, as
    /// libpcap's `gen_bcmp` does.
    fn bcmp(&self, off: u32, bytes: &[u8]) -> F {
        let mut f = F::Const(true);
        let mut size = bytes.len();
        while size >= 4 {
            let at = size - 4;
            let w = u32::from_be_bytes(bytes[at..size].try_into().expect("4 bytes"));
            f = and(f, cmp(4, off + at as u32, w));
            size -= 4;
        }
        while size >= 2 {
            let at = size - 2;
            let w = u16::from_be_bytes(bytes[at..size].try_into().expect("2 bytes"));
            f = and(f, cmp(2, off + at as u32, w.into()));
            size -= 2;
        }
        if size > 0 {
            f = and(f, cmp(1, off, bytes[0].into()));
        }
        f
    }

    /// A protocol name alone (`tcp`, `ip`, `arp`, `isis`, ...).
    fn proto_abbrev(&self, p: Proto, span: Span) -> R<F> {
        Ok(match p {
            Proto::Link => {
                return Err(unsupported(
                    span,
                    "`ether`/`link` alone is not a test: say what of the link layer to test",
                    "qualifier without a value",
                ));
            }
            Proto::Ip => self.linktype(ETHERTYPE_IP),
            Proto::Ip6 => self.linktype(ETHERTYPE_IPV6),
            Proto::Arp => self.linktype(ETHERTYPE_ARP),
            Proto::Rarp => self.linktype(ETHERTYPE_REVARP),
            Proto::Atalk => self.linktype(ETHERTYPE_ATALK),
            Proto::Aarp => self.linktype(ETHERTYPE_AARP),
            Proto::Decnet => self.linktype(ETHERTYPE_DN),
            Proto::Lat => self.linktype(ETHERTYPE_LAT),
            Proto::Sca => self.linktype(ETHERTYPE_SCA),
            Proto::Moprc => self.linktype(ETHERTYPE_MOPRC),
            Proto::Mopdl => self.linktype(ETHERTYPE_MOPDL),
            Proto::Ipx => self.linktype(ETHERTYPE_IPX),
            Proto::Iso => self.linktype(LLCSAP_ISONS),
            Proto::Stp => self.linktype(LLCSAP_8021D),
            Proto::Netbeui => self.linktype(LLCSAP_NETBEUI),
            Proto::Tcp => self.ip_proto_any(IPPROTO_TCP),
            Proto::Udp => self.ip_proto_any(IPPROTO_UDP),
            Proto::Sctp => self.ip_proto_any(IPPROTO_SCTP),
            Proto::Pim => self.ip_proto_any(IPPROTO_PIM),
            Proto::Ah => self.ip_proto_any(IPPROTO_AH),
            Proto::Esp => self.ip_proto_any(IPPROTO_ESP),
            Proto::Icmp => self.ip_proto(IPPROTO_ICMP),
            Proto::Igmp => self.ip_proto(IPPROTO_IGMP),
            Proto::Igrp => self.ip_proto(IPPROTO_IGRP),
            Proto::Vrrp | Proto::Carp => self.ip_proto(IPPROTO_VRRP),
            Proto::Icmp6 => self.ip6_proto(IPPROTO_ICMPV6),
            Proto::Esis => self.iso_proto(ISO_ESIS),
            Proto::Isis => self.iso_proto(ISO_ISIS),
            Proto::Clnp => self.iso_proto(ISO_CLNP),
            Proto::L1 => self.isis_pdus(&[0x1a, 0x18, 0x12, 0x0f, 0x11]),
            Proto::L2 => self.isis_pdus(&[0x1b, 0x19, 0x14, 0x10, 0x11]),
            Proto::Iih => self.isis_pdus(&[0x11, 0x0f, 0x10]),
            Proto::Lsp => self.isis_pdus(&[0x12, 0x14]),
            Proto::Snp => self.isis_pdus(&[0x1b, 0x1a, 0x18, 0x19]),
            Proto::Csnp => self.isis_pdus(&[0x18, 0x19]),
            Proto::Psnp => self.isis_pdus(&[0x1a, 0x1b]),
        })
    }

    /// IPv4 with protocol `p`.
    fn ip_proto(&self, p: u32) -> F {
        and(self.linktype(ETHERTYPE_IP), cmp(1, self.link.nl() + 9, p))
    }

    /// IPv6 with next header `p`, directly or after one fragment header.
    fn ip6_proto(&self, p: u32) -> F {
        let nl = self.link.nl();
        and(
            self.linktype(ETHERTYPE_IPV6),
            or(
                cmp(1, nl + 6, p),
                and(cmp(1, nl + 6, IPPROTO_FRAGMENT), cmp(1, nl + 40, p)),
            ),
        )
    }

    fn ip_proto_any(&self, p: u32) -> F {
        or(self.ip_proto(p), self.ip6_proto(p))
    }

    /// The OSI network layer after the 3-byte LLC header: NLPID `p`.
    fn iso_proto(&self, p: u32) -> F {
        let nosnap = self.link.nl() + 3;
        and(self.linktype(LLCSAP_ISONS), cmp(1, nosnap, p))
    }

    fn isis_pdus(&self, types: &[u32]) -> F {
        let nosnap = self.link.nl() + 3;
        any(types
            .iter()
            .map(|&t| and(self.iso_proto(ISO_ISIS), mcmp(1, nosnap + 4, 0x1f, t))))
    }

    /// Not a later IPv4 fragment.
    fn not_frag(&self) -> F {
        not(test(ld(2, self.link.nl() + 6), Cond::Set, 0x1fff))
    }

    // ---- qualified primitives ------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    fn qualified(
        &mut self,
        proto: Option<Proto>,
        pspan: Option<Span>,
        dir: Dir,
        kind: Option<(Kind, Span)>,
        id: &Id,
        id_span: Span,
        span: Span,
    ) -> R<F> {
        let k = kind.map(|k| k.0);
        match k {
            Some(Kind::Port) | Some(Kind::Portrange) => {
                let (lo, hi) = self.port_range(id, id_span, k == Some(Kind::Portrange))?;
                self.port(proto, pspan.unwrap_or(span), dir, lo, hi)
            }
            Some(Kind::Proto) => self.proto_kind(proto, pspan.unwrap_or(span), id, id_span),
            Some(Kind::Protochain) => {
                let n = num_or_name(id, id_span, ip_proto_name, "IP protocol")?;
                if n > 255 {
                    return Err(bad_value(
                        id_span,
                        format!("IP protocol {n} greater than maximum 255"),
                    ));
                }
                let nl = self.link.nl();
                let chain = |v6: bool| test(V::Chain { nl, v6, target: n }, Cond::Eq, 1);
                match proto {
                    Some(Proto::Ip) => Ok(and(self.linktype(ETHERTYPE_IP), chain(false))),
                    Some(Proto::Ip6) => Ok(and(self.linktype(ETHERTYPE_IPV6), chain(true))),
                    None => Ok(or(
                        and(self.linktype(ETHERTYPE_IP), chain(false)),
                        and(self.linktype(ETHERTYPE_IPV6), chain(true)),
                    )),
                    Some(p) => Err(unsupported(
                        pspan.unwrap_or(span),
                        format!(
                            "`{} protochain`: only ip and ip6 have protocol chains",
                            Proto::name(p)
                        ),
                        "not valid here",
                    )),
                }
            }
            Some(Kind::Gateway) => Err(unsupported(
                kind.map_or(span, |k| k.1),
                "`gateway` needs host-name resolution, which this compiler does not do",
                "not supported",
            )),
            Some(Kind::Host) | Some(Kind::Net) | None => {
                self.host(proto, pspan, dir, k == Some(Kind::Net), id, id_span, span)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn host(
        &mut self,
        proto: Option<Proto>,
        pspan: Option<Span>,
        dir: Dir,
        net: bool,
        id: &Id,
        id_span: Span,
        span: Span,
    ) -> R<F> {
        if proto == Some(Proto::Decnet) {
            return self.decnet(dir, id, id_span);
        }
        match id {
            Id::Mac(mac) => {
                if !matches!(proto, None | Some(Proto::Link)) || net {
                    return Err(bad_value(
                        id_span,
                        "an Ethernet address is only valid with `ether host`",
                    ));
                }
                self.ether(span, "ether host")?;
                Ok(dirop(dir, self.bcmp(6, mac), self.bcmp(0, mac)))
            }
            Id::Ipv6(a) => self.host6(proto, pspan, dir, a, 128, span),
            Id::Prefix(inner, len) => match &**inner {
                Id::Ipv6(a) => {
                    if *len > 128 {
                        return Err(bad_value(
                            id_span,
                            format!("mask length must be <= 128, not {len}"),
                        ));
                    }
                    self.host6(proto, pspan, dir, a, *len, span)
                }
                Id::Dotted(_) | Id::Num(_) => {
                    if *len > 32 {
                        return Err(bad_value(
                            id_span,
                            format!("mask length must be <= 32, not {len}"),
                        ));
                    }
                    let (addr, _) = ipv4_of(inner, id_span, true)?;
                    let mask = if *len == 0 { 0 } else { u32::MAX << (32 - len) };
                    if addr & !mask != 0 {
                        return Err(bad_value(id_span, "non-network bits set in the address"));
                    }
                    self.host4(proto, pspan, dir, addr, mask, span)
                }
                _ => Err(bad_value(
                    id_span,
                    "a network with a prefix length must be an address",
                )),
            },
            Id::Masked(a, m) => {
                let (addr, _) = ipv4_of(a, id_span, true)?;
                let (mask, _) = ipv4_of(m, id_span, false)?;
                if addr & !mask != 0 {
                    return Err(bad_value(id_span, "non-network bits set in the address"));
                }
                self.host4(proto, pspan, dir, addr, mask, span)
            }
            Id::Dotted(_) | Id::Num(_) => {
                let (addr, mask) = ipv4_of(id, id_span, net)?;
                let mask = if net || matches!(id, Id::Dotted(_)) {
                    mask
                } else {
                    u32::MAX
                };
                self.host4(proto, pspan, dir, addr, mask, span)
            }
            Id::Name(n) => Err(unsupported(
                id_span,
                format!("host name `{n}`: this compiler does not resolve names"),
                "give an address",
            )),
        }
    }

    fn host4(
        &mut self,
        proto: Option<Proto>,
        pspan: Option<Span>,
        dir: Dir,
        addr: u32,
        mask: u32,
        span: Span,
    ) -> R<F> {
        let nl = self.link.nl();
        let one = |lt: u32, src: u32, dst: u32| {
            and(
                self.linktype(lt),
                dirop(
                    dir,
                    mcmp(4, nl + src, mask, addr),
                    mcmp(4, nl + dst, mask, addr),
                ),
            )
        };
        match proto {
            None => Ok(any([
                one(ETHERTYPE_IP, 12, 16),
                one(ETHERTYPE_ARP, 14, 24),
                one(ETHERTYPE_REVARP, 14, 24),
            ])),
            Some(Proto::Ip) => Ok(one(ETHERTYPE_IP, 12, 16)),
            Some(Proto::Arp) => Ok(one(ETHERTYPE_ARP, 14, 24)),
            Some(Proto::Rarp) => Ok(one(ETHERTYPE_REVARP, 14, 24)),
            Some(p) => Err(unsupported(
                pspan.unwrap_or(span),
                format!("`{}` with an IPv4 host or net", Proto::name(p)),
                "not valid here",
            )
            .help("use ip, arp or rarp (or no protocol) with an IPv4 address")),
        }
    }

    fn host6(
        &mut self,
        proto: Option<Proto>,
        pspan: Option<Span>,
        dir: Dir,
        a: &[u8; 16],
        len: u32,
        span: Span,
    ) -> R<F> {
        if !matches!(proto, None | Some(Proto::Ip6)) {
            return Err(unsupported(
                pspan.unwrap_or(span),
                "an IPv6 address is only valid with `ip6` (or no protocol)",
                "not valid here",
            ));
        }
        let mut mask = [0u32; 4];
        for (i, m) in mask.iter_mut().enumerate() {
            let bits = len.saturating_sub(32 * i as u32).min(32);
            *m = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
        }
        let words: Vec<u32> = (0..4)
            .map(|i| u32::from_be_bytes(a[4 * i..4 * i + 4].try_into().expect("4 bytes")))
            .collect();
        if (0..4).any(|i| words[i] & !mask[i] != 0) {
            return Err(bad_value(span, "non-network bits set in the IPv6 address"));
        }
        let nl = self.link.nl();
        let side = |off: u32| {
            all((0..4).map(|i| {
                if mask[i] == 0 {
                    F::Const(true)
                } else {
                    mcmp(4, nl + off + 4 * i as u32, mask[i], words[i])
                }
            }))
        };
        Ok(and(
            self.linktype(ETHERTYPE_IPV6),
            dirop(dir, side(8), side(24)),
        ))
    }

    fn decnet(&self, dir: Dir, id: &Id, id_span: Span) -> R<F> {
        let addr = match id {
            Id::Dotted(p) if p.len() == 2 && p[0] <= 63 && p[1] <= 1023 => (p[0] << 10) | p[1],
            _ => {
                return Err(bad_value(
                    id_span,
                    "invalid DECnet address: it is AREA.NODE (AREA <= 63, NODE <= 1023)",
                ));
            }
        };
        let Link::Ether { lt: _, nl } = self.link else {
            return Err(unsupported(
                id_span,
                "DECnet needs an Ethernet link layer",
                "needs Ethernet",
            ));
        };
        // The address is stored little-endian.
        let le = ((addr & 0xff) << 8) | (addr >> 8);
        // The address's offset after each of the four header forms (short or long, with or
        // without a padding byte), as libpcap's `gen_dnhostop` tests them.
        let side = |at: [u32; 4]| {
            any([
                and(mcmp(1, nl + 2, 0x07, 0x02), cmp(2, nl + at[0], le)),
                and(mcmp(2, nl + 2, 0xff07, 0x8102), cmp(2, nl + at[1], le)),
                and(mcmp(1, nl + 2, 0x07, 0x06), cmp(2, nl + at[2], le)),
                and(mcmp(2, nl + 2, 0xff07, 0x8106), cmp(2, nl + at[3], le)),
            ])
        };
        Ok(and(
            self.linktype(ETHERTYPE_DN),
            dirop(dir, side([5, 6, 17, 18]), side([3, 4, 9, 10])),
        ))
    }

    fn proto_kind(&self, proto: Option<Proto>, span: Span, id: &Id, id_span: Span) -> R<F> {
        let nl = self.link.nl();
        match proto {
            Some(Proto::Link) => {
                let n = match id {
                    Id::Num(n) => *n,
                    Id::Name(s) => ether_proto(s).ok_or_else(|| {
                        bad_value(id_span, format!("unknown Ethernet protocol `{s}`"))
                    })?,
                    _ => {
                        return Err(bad_value(
                            id_span,
                            "an Ethernet protocol is a number or a name",
                        ));
                    }
                };
                // On raw IP, `link proto` can still name IPv4 or IPv6 (libpcap tests the
                // version nibble); `ether proto` needs Ethernet.
                if !(self.link == Link::Raw && matches!(n, ETHERTYPE_IP | ETHERTYPE_IPV6)) {
                    self.ether(span, "ether proto")?;
                }
                if n > 0xffff {
                    return Err(bad_value(
                        id_span,
                        format!("EtherType {n} greater than maximum 65535"),
                    ));
                }
                if (256..=ETHERMTU).contains(&n) {
                    return Err(bad_value(
                        id_span,
                        format!("LLC DSAP {n} greater than maximum 255"),
                    ));
                }
                Ok(self.linktype(n))
            }
            Some(Proto::Iso) => {
                let n = num_or_name(id, id_span, iso_proto_name, "ISO protocol")?;
                if n > 255 {
                    return Err(bad_value(
                        id_span,
                        format!("ISO protocol {n} greater than maximum 255"),
                    ));
                }
                Ok(self.iso_proto(n))
            }
            Some(Proto::Isis) => {
                let n = num_or_name(id, id_span, |_| None, "IS-IS PDU type")?;
                if n > 31 {
                    return Err(bad_value(
                        id_span,
                        format!("IS-IS PDU type {n} greater than maximum 31"),
                    ));
                }
                Ok(and(self.iso_proto(ISO_ISIS), mcmp(1, nl + 3 + 4, 0x1f, n)))
            }
            None | Some(Proto::Ip) | Some(Proto::Ip6) => {
                let n = num_or_name(id, id_span, ip_proto_name, "IP protocol")?;
                if n > 255 {
                    return Err(bad_value(
                        id_span,
                        format!("IP protocol {n} greater than maximum 255"),
                    ));
                }
                Ok(match proto {
                    Some(Proto::Ip) => self.ip_proto(n),
                    Some(Proto::Ip6) => self.ip6_proto(n),
                    _ => self.ip_proto_any(n),
                })
            }
            Some(p) => Err(unsupported(
                span,
                format!("`{} proto` is not supported", Proto::name(p)),
                "not supported",
            )),
        }
    }

    fn port_range(&self, id: &Id, span: Span, range: bool) -> R<(u32, u32)> {
        let one = |s: &str| -> R<u32> {
            if let Ok(n) = crate::parse::parse_number(s) {
                return Ok(n);
            }
            service_port(s).ok_or_else(|| bad_value(span, format!("unknown port `{s}`")))
        };
        let (lo, hi) = match id {
            Id::Num(n) => (*n, *n),
            Id::Name(s) => match s.split_once('-') {
                Some((a, b)) if range || service_port(s).is_none() => {
                    if !range {
                        return Err(bad_value(span, "a port range needs `portrange`"));
                    }
                    (one(a)?, one(b)?)
                }
                _ => {
                    let p = one(s)?;
                    (p, p)
                }
            },
            _ => return Err(bad_value(span, "a port is a number or a service name")),
        };
        for p in [lo, hi] {
            if p > 65535 {
                return Err(bad_value(
                    span,
                    format!("port {p} greater than maximum 65535"),
                ));
            }
        }
        Ok((lo.min(hi), lo.max(hi)))
    }

    fn port(&self, proto: Option<Proto>, span: Span, dir: Dir, lo: u32, hi: u32) -> R<F> {
        let protos: &[u32] = match proto {
            None => &[IPPROTO_TCP, IPPROTO_UDP, IPPROTO_SCTP],
            Some(p @ (Proto::Ip | Proto::Ip6)) => {
                return Err(bad_value(
                    span,
                    format!("`{}` is not a valid qualifier for a port", Proto::name(p)),
                )
                .help("ports belong to tcp, udp and sctp: say `tcp port`, or `ip and port`"));
            }
            Some(Proto::Tcp) => &[IPPROTO_TCP],
            Some(Proto::Udp) => &[IPPROTO_UDP],
            Some(Proto::Sctp) => &[IPPROTO_SCTP],
            Some(p) => {
                return Err(unsupported(
                    span,
                    format!(
                        "`{} port`: ports belong to tcp, udp and sctp",
                        Proto::name(p)
                    ),
                    "no ports",
                ));
            }
        };
        let nl = self.link.nl();
        let field = |v: V| {
            if lo == hi {
                test(v, Cond::Eq, lo)
            } else {
                and(test(v.clone(), Cond::Ge, lo), not(test(v, Cond::Gt, hi)))
            }
        };
        let v4 = || {
            let at = |o: u32| V::LdX {
                size: 2,
                off: nl + o,
                x: Box::new(V::Msh(nl)),
            };
            all([
                self.linktype(ETHERTYPE_IP),
                any(protos.iter().map(|&p| cmp(1, nl + 9, p))),
                self.not_frag(),
                dirop(dir, field(at(0)), field(at(2))),
            ])
        };
        let v6 = || {
            all([
                self.linktype(ETHERTYPE_IPV6),
                any(protos.iter().map(|&p| cmp(1, nl + 6, p))),
                dirop(dir, field(ld(2, nl + 40)), field(ld(2, nl + 42))),
            ])
        };
        Ok(or(v6(), v4()))
    }

    // ---- arithmetic ----------------------------------------------------------------------------

    fn relation(&mut self, lhs: &Arith, op: RelOp, rhs: &Arith) -> R<F> {
        let (a, ca) = self.arith(lhs)?;
        let (b, cb) = self.arith(rhs)?;
        let t = |v: V, c: Cond, r: V| F::Test(Test { v, cond: c, rhs: r });
        let rel = match op {
            RelOp::Eq => t(a, Cond::Eq, b),
            RelOp::Ne => not(t(a, Cond::Eq, b)),
            RelOp::Gt => t(a, Cond::Gt, b),
            RelOp::Ge => t(a, Cond::Ge, b),
            RelOp::Lt => not(t(a, Cond::Ge, b)),
            RelOp::Le => not(t(a, Cond::Gt, b)),
        };
        Ok(and(and(ca, cb), rel))
    }

    /// A value and the tests that must hold for it to be defined (the protocol checks of
    /// `proto[...]`).
    fn arith(&mut self, a: &Arith) -> R<(V, F)> {
        Ok(match a {
            Arith::Num(n, _) => (V::K(*n), F::Const(true)),
            Arith::Len(_) => (V::Len, F::Const(true)),
            Arith::Neg(x, _) => {
                let (v, c) = self.arith(x)?;
                (fold_neg(v), c)
            }
            Arith::Bin { op, lhs, rhs, .. } => {
                let (x, cx) = self.arith(lhs)?;
                let (y, cy) = self.arith(rhs)?;
                if matches!(op, ArithOp::Div | ArithOp::Mod) && y == V::K(0) {
                    return Err(bad_value(rhs.span(), "division by zero"));
                }
                if matches!(op, ArithOp::Lsh | ArithOp::Rsh)
                    && let V::K(k) = y
                    && k > 31
                {
                    return Err(bad_value(rhs.span(), "shift by more than 31 bits"));
                }
                // libpcap's `gen_arth` keeps the left operand's protocol checks and drops the
                // right one's (`len * tcp[0]` tests nothing about TCP); so do we, to agree.
                let _ = cy;
                (fold_alu(*op, x, y), cx)
            }
            Arith::Index {
                proto,
                index,
                size,
                span,
            } => {
                let (idx, ci) = self.arith(index)?;
                let (v, c) = self.index(proto.0, proto.1, idx, *size, *span)?;
                (v, and(ci, c))
            }
        })
    }

    fn index(&mut self, p: Proto, pspan: Span, idx: V, size: u8, span: Span) -> R<(V, F)> {
        let nl = self.link.nl();
        let at = |base: u32, idx: V| match idx {
            V::K(k) => match base.checked_add(k) {
                Some(off) => ld(size, off),
                None => V::LdX {
                    size,
                    off: base,
                    x: Box::new(V::K(k)),
                },
            },
            x => V::LdX {
                size,
                off: base,
                x: Box::new(x),
            },
        };
        Ok(match p {
            Proto::Link => (at(0, idx), F::Const(true)),
            Proto::Ip
            | Proto::Ip6
            | Proto::Arp
            | Proto::Rarp
            | Proto::Atalk
            | Proto::Decnet
            | Proto::Lat
            | Proto::Sca
            | Proto::Moprc
            | Proto::Mopdl => (at(nl, idx), self.proto_abbrev(p, pspan)?),
            Proto::Tcp
            | Proto::Udp
            | Proto::Sctp
            | Proto::Icmp
            | Proto::Igmp
            | Proto::Igrp
            | Proto::Pim
            | Proto::Vrrp
            | Proto::Carp => {
                let x = match idx {
                    V::K(0) => V::Msh(nl),
                    V::K(k) => {
                        return Ok((
                            V::LdX {
                                size,
                                off: nl
                                    .checked_add(k)
                                    .ok_or_else(|| bad_value(span, "offset too large"))?,
                                x: Box::new(V::Msh(nl)),
                            },
                            self.transport_check(p, pspan)?,
                        ));
                    }
                    i => V::Alu(ArithOp::Add, Box::new(V::Msh(nl)), Box::new(i)),
                };
                (
                    V::LdX {
                        size,
                        off: nl,
                        x: Box::new(x),
                    },
                    self.transport_check(p, pspan)?,
                )
            }
            Proto::Icmp6 => (at(nl + 40, idx), self.ip6_direct(IPPROTO_ICMPV6)),
            Proto::Aarp
            | Proto::Iso
            | Proto::Esis
            | Proto::Isis
            | Proto::Clnp
            | Proto::Stp
            | Proto::Ipx
            | Proto::Netbeui => {
                return Err(bad_value(
                    pspan,
                    format!("`{}` does not support the index operation", Proto::name(p)),
                ));
            }
            Proto::Ah
            | Proto::Esp
            | Proto::L1
            | Proto::L2
            | Proto::Iih
            | Proto::Lsp
            | Proto::Snp
            | Proto::Csnp
            | Proto::Psnp => {
                return Err(unsupported(
                    pspan,
                    format!("`{}[...]` is not supported", Proto::name(p)),
                    "no header to index",
                ));
            }
        })
    }

    /// `ip6 and ip6[6] == p` (no fragment header), as libpcap's `icmp6[...]` tests.
    fn ip6_direct(&self, p: u32) -> F {
        and(self.linktype(ETHERTYPE_IPV6), cmp(1, self.link.nl() + 6, p))
    }

    /// The tests before a transport-header load: IPv4 with this protocol, not a later fragment
    /// (libpcap's `tcp[...]` reads the transport header after an IPv4 header only).
    fn transport_check(&self, p: Proto, pspan: Span) -> R<F> {
        let n = match p {
            Proto::Tcp => IPPROTO_TCP,
            Proto::Udp => IPPROTO_UDP,
            Proto::Sctp => IPPROTO_SCTP,
            Proto::Icmp => IPPROTO_ICMP,
            Proto::Igmp => IPPROTO_IGMP,
            Proto::Igrp => IPPROTO_IGRP,
            Proto::Pim => IPPROTO_PIM,
            Proto::Vrrp | Proto::Carp => IPPROTO_VRRP,
            _ => return Err(unsupported(pspan, "no transport header", "here")),
        };
        Ok(and(self.ip_proto(n), self.not_frag()))
    }
}

/// `src`, `dst`, `src or dst`, `src and dst` over the two sides.
fn dirop(dir: Dir, src: F, dst: F) -> F {
    match dir {
        Dir::Src => src,
        Dir::Dst => dst,
        Dir::SrcOrDst => or(src, dst),
        Dir::SrcAndDst => and(src, dst),
    }
}

fn fold_neg(v: V) -> V {
    match v {
        V::K(k) => V::K(k.wrapping_neg()),
        v => V::Neg(Box::new(v)),
    }
}

fn fold_alu(op: ArithOp, a: V, b: V) -> V {
    // As libpcap's optimiser: `& 0` and `* 0` are the constant 0 (the load goes away).
    if b == V::K(0) && matches!(op, ArithOp::And | ArithOp::Mul) {
        return V::K(0);
    }
    if let (V::K(x), V::K(y)) = (&a, &b) {
        let (x, y) = (*x, *y);
        let r = match op {
            ArithOp::Add => Some(x.wrapping_add(y)),
            ArithOp::Sub => Some(x.wrapping_sub(y)),
            ArithOp::Mul => Some(x.wrapping_mul(y)),
            ArithOp::Div => x.checked_div(y),
            ArithOp::Mod => x.checked_rem(y),
            ArithOp::And => Some(x & y),
            ArithOp::Or => Some(x | y),
            ArithOp::Xor => Some(x ^ y),
            ArithOp::Lsh => Some(if y < 32 { x << y } else { 0 }),
            ArithOp::Rsh => Some(if y < 32 { x >> y } else { 0 }),
        };
        if let Some(r) = r {
            return V::K(r);
        }
    }
    V::Alu(op, Box::new(a), Box::new(b))
}

/// An IPv4 address and the mask its spelling implies (libpcap's rules: dotted parts fill from
/// the left; a plain number that is a network is shifted up past its zero high bytes).
fn ipv4_of(id: &Id, span: Span, net: bool) -> R<(u32, u32)> {
    match id {
        Id::Dotted(parts) => {
            if parts.is_empty() || parts.len() > 4 || parts.iter().any(|&p| p > 255) {
                return Err(bad_value(span, "invalid IPv4 address"));
            }
            let mut v = 0u32;
            for &p in parts {
                v = (v << 8) | p;
            }
            let bits = 8 * parts.len() as u32;
            let v = if bits == 32 { v } else { v << (32 - bits) };
            let mask = if bits == 32 {
                u32::MAX
            } else {
                !(u32::MAX >> bits)
            };
            Ok((v, mask))
        }
        Id::Num(n) => {
            let (mut v, mut mask) = (*n, u32::MAX);
            if net {
                while v != 0 && v & 0xff00_0000 == 0 {
                    v <<= 8;
                    mask <<= 8;
                }
            }
            Ok((v, mask))
        }
        _ => Err(bad_value(span, "expected an IPv4 address")),
    }
}

fn num_or_name(id: &Id, span: Span, names: fn(&str) -> Option<u32>, what: &str) -> R<u32> {
    match id {
        Id::Num(n) => Ok(*n),
        Id::Name(s) => names(s).ok_or_else(|| bad_value(span, format!("unknown {what} `{s}`"))),
        _ => Err(bad_value(span, format!("a {what} is a number or a name"))),
    }
}

fn ppp_proto(ethertype: u32) -> Option<u32> {
    match ethertype {
        ETHERTYPE_IP => Some(0x0021),
        ETHERTYPE_IPV6 => Some(0x0057),
        ETHERTYPE_DN => Some(0x0027),
        ETHERTYPE_ATALK => Some(0x0029),
        ETHERTYPE_IPX => Some(0x002b),
        LLCSAP_ISONS => Some(0x0023),
        LLCSAP_8021D => Some(0x0031),
        _ => None,
    }
}

/// Ethernet protocol names (libpcap's `pcap_nametoeproto` and `pcap_nametollc`).
fn ether_proto(s: &str) -> Option<u32> {
    Some(match s {
        "ip" => ETHERTYPE_IP,
        "ip6" => ETHERTYPE_IPV6,
        "arp" => ETHERTYPE_ARP,
        "rarp" => ETHERTYPE_REVARP,
        "atalk" => ETHERTYPE_ATALK,
        "aarp" => ETHERTYPE_AARP,
        "decnet" => ETHERTYPE_DN,
        "lat" => ETHERTYPE_LAT,
        "sca" => ETHERTYPE_SCA,
        "moprc" => ETHERTYPE_MOPRC,
        "mopdl" => ETHERTYPE_MOPDL,
        "ipx" => ETHERTYPE_IPX,
        "pup" => 0x0200,
        "sprite" => 0x0500,
        "vlan" => 0x8100,
        "loopback" => 0x9000,
        "lldp" => 0x88cc,
        "slow" => 0x8809,
        "iso" => LLCSAP_ISONS,
        "stp" => LLCSAP_8021D,
        "netbeui" => LLCSAP_NETBEUI,
        _ => return None,
    })
}

fn iso_proto_name(s: &str) -> Option<u32> {
    Some(match s {
        "clnp" => ISO_CLNP,
        "esis" | "es-is" => ISO_ESIS,
        "isis" | "is-is" => ISO_ISIS,
        _ => return None,
    })
}

/// IP protocol names (the usual `/etc/protocols` entries).
fn ip_proto_name(s: &str) -> Option<u32> {
    Some(match s {
        "ip" | "hopopt" => 0,
        "icmp" => 1,
        "igmp" => 2,
        "ggp" => 3,
        "ipencap" | "ipip" => 4,
        "st" => 5,
        "tcp" => 6,
        "egp" => 8,
        "igrp" | "igp" => 9,
        "pup" => 12,
        "udp" => 17,
        "hmp" => 20,
        "xns-idp" => 22,
        "rdp" => 27,
        "iso-tp4" => 29,
        "dccp" => 33,
        "xtp" => 36,
        "ddp" => 37,
        "idpr-cmtp" => 38,
        "ipv6" | "ip6" => 41,
        "ipv6-route" => 43,
        "ipv6-frag" => 44,
        "idrp" => 45,
        "rsvp" => 46,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "skip" => 57,
        "ipv6-icmp" | "icmp6" => 58,
        "ipv6-nonxt" => 59,
        "ipv6-opts" => 60,
        "rspf" => 73,
        "vmtp" => 81,
        "eigrp" => 88,
        "ospf" => 89,
        "ax.25" => 93,
        "ipip-nos" => 94,
        "etherip" => 97,
        "encap" => 98,
        "pim" => 103,
        "ipcomp" => 108,
        "vrrp" | "carp" => 112,
        "l2tp" => 115,
        "isis" => 124,
        "sctp" => 132,
        "fc" => 133,
        "mobility-header" => 135,
        "udplite" => 136,
        "mpls-in-ip" => 137,
        "manet" => 138,
        "hip" => 139,
        "shim6" => 140,
        "wesp" => 141,
        "rohc" => 142,
        _ => return None,
    })
}

/// Service names (the usual `/etc/services` entries; tcp and udp agree on all of these).
fn service_port(s: &str) -> Option<u32> {
    Some(match s {
        "tcpmux" => 1,
        "echo" => 7,
        "discard" => 9,
        "systat" => 11,
        "daytime" => 13,
        "netstat" => 15,
        "qotd" => 17,
        "chargen" => 19,
        "ftp-data" => 20,
        "ftp" => 21,
        "ssh" => 22,
        "telnet" => 23,
        "smtp" => 25,
        "time" => 37,
        "whois" => 43,
        "tacacs" => 49,
        "domain" => 53,
        "bootps" => 67,
        "bootpc" => 68,
        "tftp" => 69,
        "gopher" => 70,
        "finger" => 79,
        "http" | "www" => 80,
        "kerberos" => 88,
        "pop3" => 110,
        "sunrpc" => 111,
        "auth" => 113,
        "nntp" => 119,
        "ntp" => 123,
        "epmap" => 135,
        "netbios-ns" => 137,
        "netbios-dgm" => 138,
        "netbios-ssn" => 139,
        "imap2" | "imap" => 143,
        "snmp" => 161,
        "snmp-trap" => 162,
        "xdmcp" => 177,
        "bgp" => 179,
        "irc" => 194,
        "ldap" => 389,
        "https" => 443,
        "microsoft-ds" => 445,
        "isakmp" => 500,
        "syslog" => 514,
        "submission" => 587,
        "ldaps" => 636,
        "rsync" => 873,
        "ftps" => 990,
        "imaps" => 993,
        "pop3s" => 995,
        "openvpn" => 1194,
        "ms-sql-s" => 1433,
        "radius" => 1812,
        "nfs" => 2049,
        "mysql" => 3306,
        "ipsec-nat-t" => 4500,
        "vxlan" => 4789,
        "sip" => 5060,
        "postgresql" => 5432,
        "geneve" => 6081,
        "http-alt" => 8080,
        _ => return None,
    })
}
