//! From the syntax tree to a boolean formula over tests of packet values, with libpcap's meaning
//! for every primitive (gencode.c's choice of offsets, of tests and of their order: the order
//! matters because a load past the captured bytes rejects the packet wherever it happens).
//!
//! Link-layer state follows the expression left to right as libpcap's does: `vlan`, and
//! `pppoes` move the offsets of everything written after them.

use crate::CompileOptions;
use crate::LinkType;
use crate::ast::{Arith, ArithOp, Dir, Expr, Id, IdKind, Keyword, Llc, Proto, RelOp};
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
    F::Test(Test { v, cond, rhs: V::K(k) })
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
        test(V::Alu(ArithOp::And, Box::new(ld(size, off)), Box::new(V::K(mask))), Cond::Eq, k)
    }
}

mod arith;
mod names;
mod primitives;

use names::*;

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

/// `n`, unless it is past `max`: then `WHAT N greater than maximum MAX` (libpcap's words).
fn at_most(n: u32, max: u32, span: Span, what: &str) -> R<()> {
    if n > max {
        return Err(bad_value(span, format!("{what} {n} greater than maximum {max}")));
    }
    Ok(())
}

/// The code generator's state: options and the link-layer offsets in force.
pub(crate) struct Gen {
    opts: CompileOptions,
    link: Link,
}

impl Gen {
    pub(crate) fn new(opts: &CompileOptions) -> Gen {
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
            Expr::Qualified { quals, id, id_span, span } => {
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
                if let Some((id, s)) = arg {
                    at_most(id, 4095, s, "VLAN tag")?;
                }
                let tpid = any([cmp(2, lt, 0x8100), cmp(2, lt, 0x88a8), cmp(2, lt, 0x9100)]);
                let f = match arg {
                    Some((id, _)) => and(tpid, mcmp(2, nl, 0x0fff, id)),
                    None => tpid,
                };
                self.link = Link::Ether { lt: lt + 4, nl: nl + 4 };
                Ok(f)
            }
            Keyword::Pppoed => {
                let (lt, _) = self.ether(span, "pppoed")?;
                Ok(cmp(2, lt, ETHERTYPE_PPPOED))
            }
            Keyword::Pppoes => {
                let (lt, nl) = self.ether(span, "pppoes")?;
                if let Some((id, s)) = arg {
                    at_most(id, 0xffff, s, "PPPoE session number")?;
                }
                let mut f = cmp(2, lt, ETHERTYPE_PPPOES);
                if let Some((id, _)) = arg {
                    f = and(f, cmp(2, nl + 2, id));
                }
                self.link = Link::Ppp { proto: nl + 6, nl: nl + 8 };
                Ok(f)
            }
            Keyword::Llc(kind) => {
                let (lt, nl) = self.ether(span, "llc")?;
                let is_llc = and(not(test(ld(2, lt), Cond::Gt, ETHERMTU)), not(cmp(2, nl, 0xffff)));
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
            Some(Proto::Ip) => {
                Ok(and(self.linktype(ETHERTYPE_IP), test(ld(1, nl + 16), Cond::Ge, 224)))
            }
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
}
