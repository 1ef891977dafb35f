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
    /// Where an 802.11 header starts behind a radio header read from the packet (radiotap's
    /// and PPI's little-endian length, Prism/AVS's), libpcap's `off_linkhdr` register.
    WlanHdr(Radio),
    /// Where the 802.11 payload (its LLC header) starts: the header start plus 24, plus 2
    /// for a QoS data frame, rounded up to 4 when radiotap says the frame is padded (libpcap's
    /// `off_linkpl` register, computed the way libpcap computes it).
    WlanPl(Radio),
    /// Scratch word `slot`: where a tunnel primitive (`geneve`, `vxlan`) stored an offset of
    /// the tunnelled packet (libpcap's `off_linkhdr`/`off_linktype`/`off_linkpl` registers).
    Mem(u32),
    /// Computes the value, stores it into scratch word `slot` and is that value: how a tunnel
    /// primitive records its offsets on the paths where it matched.
    St(u32, Box<V>),
}

/// The radio header in front of an 802.11 frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Radio {
    /// None (`DLT_IEEE802_11`).
    Bare,
    /// Radiotap (`DLT_IEEE802_11_RADIO`).
    Radiotap,
    /// PPI (`DLT_PPI`).
    Ppi,
    /// Prism or AVS (`DLT_PRISM_HEADER`).
    Prism,
}

impl V {
    /// Whether computing this value uses the X register.
    pub(crate) fn uses_x(&self) -> bool {
        match self {
            V::K(_) | V::Len | V::Ld { .. } | V::Mem(_) => false,
            V::St(_, v) => v.uses_x(),
            V::LdX { .. } | V::Msh(_) | V::Chain { .. } | V::WlanHdr(_) | V::WlanPl(_) => true,
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

/// A computation made for its effect (a store, a load that may reject the packet): the
/// formula is true, and the value is computed where the formula is evaluated.
fn effect(v: V) -> F {
    F::Or(Box::new(F::Test(Test { v, cond: Cond::Set, rhs: V::K(0) })), Box::new(F::Const(true)))
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

/// How `gen_linktype` tests for a network protocol on a link layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// Ethernet: a type/length field, LLC under 1500.
    Ether,
    /// Linux cooked v1: an Ethernet type, or 1 (802.3) or 4 (802.2 LLC follows).
    Sll,
    /// Linux cooked v2 and Cisco HDLC: the Ethernet type compared as is (Cisco HDLC writes OSI
    /// as 0xfefe).
    Plain { chdlc: bool },
    /// No link header: IPv4 or IPv6 by the version nibble of byte 0 of the packet (SLIP too,
    /// whose byte 0 is its direction byte: libpcap reads it there all the same).
    Version,
    /// Only IPv4 (`true`) or only IPv6.
    Only { v4: bool },
    /// A 4-byte address family: `be` when compared big-endian.
    Family { be: bool },
    /// A PPP protocol number (libpcap's `ethertype_to_ppptype`).
    Ppp,
    /// Frame Relay: control byte and NLPID at 2.
    Frelay,
    /// ARCnet: a protocol byte.
    Arcnet,
    /// 802.11: a data frame, then an LLC header.
    Wlan,
}

/// Where the headers are, as the expression read so far has moved them (absolute offsets:
/// the protocol field `lt`, the link payload `pl`, the network header `nl`, and the OSI
/// header after an LLC header without SNAP, `nosnap`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Link {
    kind: Kind,
    /// Behind a header of run-time length: `pl`, `nl` and `nosnap` count from the 802.11
    /// payload's start computed per packet (libpcap's variable `off_linkpl`).
    radio: Option<Radio>,
    lt: u32,
    pl: u32,
    nl: u32,
    nosnap: u32,
    /// MPLS labels passed (`mpls` moves the network header 4 bytes on each time).
    mpls: u32,
    /// Inside a tunnel (`geneve`, `vxlan`): the scratch words holding where the tunnelled
    /// packet's link header, type field and payload start; `lt` counts from the second, `pl`,
    /// `nl` and `nosnap` from the third.
    tun: Option<Tun>,
    /// Where a link header pushed by the expression starts, in the link payload's frame of
    /// reference (`pppoes`: the PPP header; libpcap's `PUSH_LINKHDR`): `link[...]` counts from
    /// it. `None`: the link type's own header (or the tunnelled one).
    hdr: Option<u32>,
}

/// The scratch words of one tunnel primitive (libpcap's registers after `geneve`/`vxlan`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tun {
    /// The tunnel header's start (the UDP payload).
    start: u32,
    /// The tunnelled link header (after the tunnel header).
    hdr: u32,
    /// The tunnelled type field.
    lt: u32,
    /// The tunnelled link payload.
    pl: u32,
}

impl Link {
    fn nl(self) -> u32 {
        self.nl
    }

    fn of(t: LinkType) -> Link {
        let l = |kind, lt, pl, nl, nosnap| Link {
            kind,
            radio: None,
            lt,
            pl,
            nl,
            nosnap,
            mpls: 0,
            tun: None,
            hdr: None,
        };
        let wlan = |r| Link {
            kind: Kind::Wlan,
            radio: Some(r),
            lt: 0,
            pl: 0,
            nl: 8,
            nosnap: 3,
            mpls: 0,
            tun: None,
            hdr: None,
        };
        match t {
            LinkType::En10mb => l(Kind::Ether, 12, 14, 14, 17),
            LinkType::Raw => l(Kind::Version, 0, 0, 0, 0),
            LinkType::Slip => l(Kind::Version, 0, 16, 16, 16),
            LinkType::Ipv4 => l(Kind::Only { v4: true }, 0, 0, 0, 0),
            LinkType::Ipv6 => l(Kind::Only { v4: false }, 0, 0, 0, 0),
            LinkType::LinuxSll => l(Kind::Sll, 14, 16, 16, 16),
            LinkType::LinuxSll2 => l(Kind::Plain { chdlc: false }, 0, 20, 20, 20),
            // libpcap compares the family in the capture file's byte order (libpcap takes a
            // little-endian host: the word is loaded big-endian, so a little-endian family is
            // compared byte-swapped).
            LinkType::Null { big_endian } => l(Kind::Family { be: big_endian }, 0, 4, 4, 4),
            LinkType::Loop => l(Kind::Family { be: true }, 0, 4, 4, 4),
            LinkType::Ppp | LinkType::PppHdlc => l(Kind::Ppp, 2, 4, 4, 4),
            LinkType::PppEther => l(Kind::Ppp, 6, 8, 8, 8),
            LinkType::CHdlc => l(Kind::Plain { chdlc: true }, 2, 4, 4, 4),
            // libpcap reads Frame Relay's network header at 0 (its `off_nl` is not applied).
            LinkType::Frelay => l(Kind::Frelay, 0, 0, 0, 0),
            LinkType::ArcnetLinux => l(Kind::Arcnet, 4, 8, 8, 8),
            LinkType::Ieee80211 => wlan(Radio::Bare),
            LinkType::Ieee80211Radio => wlan(Radio::Radiotap),
            LinkType::Ppi => wlan(Radio::Ppi),
            LinkType::Prism => wlan(Radio::Prism),
        }
    }
}

type R<T> = Result<T, Diagnostic>;

/// Whether computing `v` loads packet bytes.
fn reads_packet(v: &V) -> bool {
    match v {
        V::K(_) | V::Len | V::Mem(_) => false,
        V::Ld { .. }
        | V::LdX { .. }
        | V::Msh(_)
        | V::Chain { .. }
        | V::WlanHdr(_)
        | V::WlanPl(_) => true,
        V::Alu(_, a, b) => reads_packet(a) || reads_packet(b),
        V::Neg(a) | V::St(_, a) => reads_packet(a),
    }
}

/// Whether a formula computes `what` anywhere.
fn uses(f: &F, what: &V) -> bool {
    let v_uses = |v: &V| {
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            if v == what {
                return true;
            }
            match v {
                V::LdX { x, .. } => stack.push(x),
                V::Alu(_, a, b) => {
                    stack.push(a);
                    stack.push(b);
                }
                V::Neg(a) | V::St(_, a) => stack.push(a),
                _ => {}
            }
        }
        false
    };
    let mut stack = vec![f];
    while let Some(f) = stack.pop() {
        match f {
            F::Const(_) => {}
            F::Test(t) => {
                if v_uses(&t.v) || v_uses(&t.rhs) {
                    return true;
                }
            }
            F::And(a, b) | F::Or(a, b) => {
                stack.push(a);
                stack.push(b);
            }
            F::Not(a) => stack.push(a),
        }
    }
    false
}

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
    /// Set when a protocol other than IPv4 or IPv6 was asked for inside MPLS (libpcap's
    /// "unsupported protocol over mpls").
    over_mpls: std::cell::Cell<bool>,
    /// The lowest scratch word tunnel primitives use (they take them from the top down; the
    /// emitter's temporaries stay below).
    next_slot: u32,
    /// Each tunnel primitive: its scratch words, its keyword and where it is written.
    tunnels: Vec<(Tun, &'static str, Span)>,
}

impl Gen {
    pub(crate) fn new(opts: &CompileOptions) -> Gen {
        Gen {
            opts: *opts,
            link: Link::of(opts.link),
            over_mpls: std::cell::Cell::new(false),
            next_slot: crate::cbpf::op::MEMWORDS,
            tunnels: Vec::new(),
        }
    }

    /// Whether the expression has `geneve` (libpcap does not optimise it then).
    pub(crate) fn has_geneve(&self) -> bool {
        self.tunnels.iter().any(|t| t.1 == "geneve")
    }

    /// The lowest scratch word the tunnel primitives took (the emitter's temporaries must stay
    /// below it).
    pub(crate) fn scratch_floor(&self) -> u32 {
        self.next_slot
    }

    /// Where the link payload starts when that is computed per packet: behind an 802.11 radio
    /// header, or inside a tunnel.
    fn pl_base(&self) -> Option<V> {
        match (self.link.tun, self.link.radio) {
            (Some(t), _) => Some(V::Mem(t.pl)),
            (None, Some(r)) => Some(V::WlanPl(r)),
            (None, None) => None,
        }
    }

    /// `size` bytes at `off` in the link payload's frame of reference: `off` itself on fixed
    /// link layers, past the 802.11 payload's run-time start behind a radio header, past the
    /// tunnelled payload's start inside a tunnel.
    fn ld(&self, size: u8, off: u32) -> V {
        match self.pl_base() {
            None => ld(size, off),
            Some(b) => V::LdX { size, off, x: Box::new(b) },
        }
    }

    /// `size` bytes at `off` from the link-layer type field's frame of reference (the
    /// tunnelled type field's start inside a tunnel).
    fn lt_ld(&self, size: u8, off: u32) -> V {
        match self.link.tun {
            None => ld(size, off),
            Some(t) => V::LdX { size, off, x: Box::new(V::Mem(t.lt)) },
        }
    }

    /// `[off:size] == k` in the type field's frame of reference.
    fn lt_cmp(&self, size: u8, off: u32, k: u32) -> F {
        test(self.lt_ld(size, off), Cond::Eq, k)
    }

    /// `size` bytes at `off` from the link header's start (the tunnelled Ethernet header's
    /// inside a tunnel).
    fn hdr_ld(&self, size: u8, off: u32) -> V {
        match self.link.tun {
            None => ld(size, off),
            Some(t) => V::LdX { size, off, x: Box::new(V::Mem(t.hdr)) },
        }
    }

    /// Inside a tunnel, libpcap's check before a link-layer address test: the tunnelled
    /// packet has a link header (its header and payload starts differ: Geneve carrying
    /// Ethernet; always for VXLAN). Outside, nothing.
    fn encap_ll_check(&self) -> F {
        match self.link.tun {
            None => F::Const(true),
            Some(t) => not(F::Test(Test { v: V::Mem(t.hdr), cond: Cond::Eq, rhs: V::Mem(t.pl) })),
        }
    }

    /// `[off:size] == k` in the link payload's frame of reference.
    fn cmp(&self, size: u8, off: u32, k: u32) -> F {
        test(self.ld(size, off), Cond::Eq, k)
    }

    /// `[off:size] & mask == k` in the link payload's frame of reference.
    fn mcmp(&self, size: u8, off: u32, mask: u32, k: u32) -> F {
        match self.pl_base() {
            None => mcmp(size, off, mask, k),
            Some(_) => {
                let full = match size {
                    1 => 0xff,
                    2 => 0xffff,
                    _ => u32::MAX,
                };
                if mask & full == 0 {
                    F::Const(k == 0)
                } else if mask & full == full {
                    self.cmp(size, off, k)
                } else {
                    let v =
                        V::Alu(ArithOp::And, Box::new(self.ld(size, off)), Box::new(V::K(mask)));
                    test(v, Cond::Eq, k)
                }
            }
        }
    }

    /// The X of a transport-header load `[x + nl + k]`: the IPv4 header length, plus the
    /// payload's start where that is computed per packet (802.11, tunnels).
    fn msh(&self) -> V {
        let nl = self.link.nl;
        match self.pl_base() {
            None => V::Msh(nl),
            Some(b) => {
                let ihl = V::Alu(ArithOp::And, Box::new(self.ld(1, nl)), Box::new(V::K(0xf)));
                let len = V::Alu(ArithOp::Lsh, Box::new(ihl), Box::new(V::K(2)));
                V::Alu(ArithOp::Add, Box::new(len), Box::new(b))
            }
        }
    }

    /// libpcap's refusal of a protocol other than IPv4 or IPv6 inside MPLS, if one was asked.
    pub(crate) fn over_mpls(&self) -> bool {
        self.over_mpls.get()
    }

    /// Refuses a filter that reads a tunnel's scratch words on a path where the tunnel did not
    /// match (`geneve or tcp`, `not vxlan and ip`, `vxlan 1 or vxlan 2`): libpcap's code reads
    /// scratch memory never written there, so its answer is undefined (and Linux refuses such
    /// a program).
    pub(crate) fn check_tunnels(&self, f: &F) -> R<()> {
        if self.tunnels.is_empty() {
            return Ok(());
        }
        // The scratch words stored on every path to this point; returns those after the
        // formula is true and after it is false.
        fn mems(v: &V, out: &mut Vec<u32>) {
            match v {
                V::Mem(s) => out.push(*s),
                V::St(_, a) | V::Neg(a) => mems(a, out),
                V::LdX { x, .. } => mems(x, out),
                V::Alu(_, a, b) => {
                    mems(a, out);
                    mems(b, out);
                }
                _ => {}
            }
        }
        type Set = u32;
        fn walk(f: &F, known: Set) -> Result<(Set, Set), u32> {
            match f {
                F::Const(_) => Ok((known, known)),
                F::Test(t) => {
                    let mut used = Vec::new();
                    mems(&t.v, &mut used);
                    mems(&t.rhs, &mut used);
                    if let Some(&s) = used.iter().find(|&&s| known & (1 << s) == 0) {
                        return Err(s);
                    }
                    let known = match t.v {
                        V::St(s, _) => known | (1 << s),
                        _ => known,
                    };
                    Ok((known, known))
                }
                F::And(a, b) => {
                    let (at, af) = walk(a, known)?;
                    let (bt, bf) = walk(b, at)?;
                    Ok((bt, af & bf))
                }
                F::Or(a, b) => {
                    let (at, af) = walk(a, known)?;
                    let (bt, bf) = walk(b, af)?;
                    Ok((at & bt, bf))
                }
                F::Not(a) => walk(a, known).map(|(t, f)| (f, t)),
            }
        }
        match walk(f, 0) {
            Ok(_) => Ok(()),
            Err(slot) => {
                let (_, name, span) = self
                    .tunnels
                    .iter()
                    .find(|(t, ..)| [t.start, t.hdr, t.lt, t.pl].contains(&slot))
                    .expect("a tunnel's scratch word");
                Err(unsupported(
                    *span,
                    format!(
                        "a test written after `{name}` reads the tunnelled packet, and this \
                         expression also evaluates it on packets where `{name}` did not match \
                         (as in `{name} or tcp`): libpcap's code then reads scratch memory that \
                         was never written, so its answer is undefined"
                    ),
                    "its offsets hold only where it matched",
                )
                .help(format!(
                    "put the tests of the tunnelled packet in the same conjunction as the \
                     tunnel (`{name} and (...)`), and tests of the outer packet before it"
                )))
            }
        }
    }

    /// Drops the stores of scratch words nothing reads (as libpcap's optimiser drops dead
    /// stores), keeping their packet loads (a load past the captured bytes still rejects).
    pub(crate) fn prune_stores(&self, f: F) -> F {
        fn reads(v: &V, out: &mut u32) {
            match v {
                V::Mem(s) => *out |= 1 << s,
                V::St(_, a) | V::Neg(a) => reads(a, out),
                V::LdX { x, .. } => reads(x, out),
                V::Alu(_, a, b) => {
                    reads(a, out);
                    reads(b, out);
                }
                _ => {}
            }
        }
        fn live(f: &F, out: &mut u32) {
            match f {
                F::Const(_) => {}
                F::Test(t) => {
                    if !matches!(t.v, V::St(..)) {
                        reads(&t.v, out);
                    }
                    reads(&t.rhs, out);
                }
                F::And(a, b) | F::Or(a, b) => {
                    live(a, out);
                    live(b, out);
                }
                F::Not(a) => live(a, out),
            }
        }
        // The stores of live words, and their inputs, live too (to a fixpoint).
        fn stores(f: &F, used: u32, out: &mut u32) {
            match f {
                F::Const(_) => {}
                F::Test(t) => {
                    if let V::St(s, v) = &t.v
                        && (used & (1 << s) != 0 || reads_packet(v))
                    {
                        reads(v, out);
                    }
                }
                F::And(a, b) | F::Or(a, b) => {
                    stores(a, used, out);
                    stores(b, used, out);
                }
                F::Not(a) => stores(a, used, out),
            }
        }
        // The part of a value that reads the packet (the same loads, in the same order).
        fn core(v: &V) -> &V {
            match v {
                V::Alu(o, a, b) if !matches!(o, ArithOp::Div | ArithOp::Mod) => {
                    if !reads_packet(b) {
                        core(a)
                    } else if !reads_packet(a) {
                        core(b)
                    } else {
                        v
                    }
                }
                V::Neg(a) | V::St(_, a) => core(a),
                v => v,
            }
        }
        fn rewrite(f: F, used: u32) -> F {
            match f {
                F::Test(Test { v: V::St(s, v), cond, rhs }) if used & (1 << s) == 0 => {
                    if reads_packet(&v) {
                        F::Test(Test { v: core(&v).clone(), cond, rhs })
                    } else {
                        // Nothing reads it and it loads nothing: a test that is never true.
                        F::Const(false)
                    }
                }
                F::And(a, b) => and(rewrite(*a, used), rewrite(*b, used)),
                F::Or(a, b) => or(rewrite(*a, used), rewrite(*b, used)),
                F::Not(a) => not(rewrite(*a, used)),
                f => f,
            }
        }
        if self.tunnels.is_empty() {
            return f;
        }
        let mut used = 0;
        live(&f, &mut used);
        loop {
            let mut more = used;
            stores(&f, used, &mut more);
            if more == used {
                break;
            }
            used = more;
        }
        rewrite(f, used)
    }

    /// The whole filter: as libpcap, the 802.11 payload's start is computed first on every
    /// packet when anything uses it (a packet too short for that is rejected), and a PPI
    /// filter accepts only PPI packets carrying 802.11.
    pub(crate) fn finish(&self, f: F) -> F {
        let mut f = f;
        let radio = Link::of(self.opts.link).radio;
        if let Some(r) = radio {
            let probe = |v: V| F::Test(Test { v, cond: Cond::Set, rhs: V::K(0) });
            if uses(&f, &V::WlanPl(r)) {
                f = or(probe(V::WlanPl(r)), f);
            } else if r != Radio::Bare && uses(&f, &V::WlanHdr(r)) {
                f = or(probe(V::WlanHdr(r)), f);
            }
        }
        if self.opts.link == LinkType::Ppi {
            f = and(cmp(4, 4, 0x6900_0000), f);
        }
        f
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
        let Link { kind, lt, pl, nl, mpls, .. } = self.link;
        if mpls > 0 {
            // Inside MPLS: the last label is the bottom of the stack, then the IP version.
            let version = match proto {
                ETHERTYPE_IP => 0x40,
                ETHERTYPE_IPV6 => 0x60,
                _ => {
                    self.over_mpls.set(true);
                    return F::Const(false);
                }
            };
            return and(self.mcmp(1, nl - 2, 0x01, 0x01), self.mcmp(1, nl, 0xf0, version));
        }
        let snap = |snap: u32, oui: u32| and(self.cmp(4, pl + 4, snap), self.cmp(4, pl, oui));
        let appletalk = |proto: u32| {
            if proto == ETHERTYPE_ATALK {
                snap(0x0007_0000 | proto, 0xaaaa_0308)
            } else {
                snap(proto, 0xaaaa_0300)
            }
        };
        match kind {
            Kind::Version => match proto {
                ETHERTYPE_IP => mcmp(1, 0, 0xf0, 0x40),
                ETHERTYPE_IPV6 => mcmp(1, 0, 0xf0, 0x60),
                _ => F::Const(false),
            },
            Kind::Only { v4 } => F::Const(proto == if v4 { ETHERTYPE_IP } else { ETHERTYPE_IPV6 }),
            Kind::Family { be } => {
                let family = |af: u32| cmp(4, lt, if be { af } else { af.swap_bytes() });
                match proto {
                    ETHERTYPE_IP => family(2),
                    // A capture file may come from any system: every BSD value of AF_INET6.
                    ETHERTYPE_IPV6 => any([family(24), family(28), family(30)]),
                    _ => F::Const(false),
                }
            }
            Kind::Ppp => self.cmp(2, lt, ppp_proto(proto)),
            Kind::Wlan => {
                let r = self.link.radio.unwrap_or(Radio::Bare);
                let fc = || match r {
                    Radio::Bare => ld(1, 0),
                    r => V::LdX { size: 1, off: 0, x: Box::new(V::WlanHdr(r)) },
                };
                // A data frame (type 2): frame control bits 0x0c are 0x08.
                let data = and(not(test(fc(), Cond::Set, 0x04)), test(fc(), Cond::Set, 0x08));
                let llc = match proto {
                    LLCSAP_ISONS | LLCSAP_IP | LLCSAP_NETBEUI => {
                        self.cmp(2, pl, (proto << 8) | proto)
                    }
                    ETHERTYPE_ATALK => {
                        and(self.cmp(4, pl + 4, 0x0007_0000 | proto), self.cmp(4, pl, 0xaaaa_0308))
                    }
                    p if p <= ETHERMTU => self.cmp(1, pl, p),
                    p => self.cmp(2, pl + 6, p),
                };
                and(data, llc)
            }
            Kind::Plain { chdlc } => {
                cmp(2, lt, if chdlc && proto == LLCSAP_ISONS { 0xfefe } else { proto })
            }
            Kind::Frelay => {
                let nlpid = |n: u32| cmp(2, 2, 0x0300 | n);
                match proto {
                    ETHERTYPE_IP => nlpid(0xcc),
                    ETHERTYPE_IPV6 => nlpid(0x8e),
                    LLCSAP_ISONS => any([nlpid(ISO_CLNP), nlpid(ISO_ESIS), nlpid(ISO_ISIS)]),
                    _ => F::Const(false),
                }
            }
            Kind::Arcnet => {
                let t = |k: u32| cmp(1, lt, k);
                match proto {
                    ETHERTYPE_IPV6 => t(0xc4),
                    ETHERTYPE_IP => or(t(0xd4), t(0xf0)),
                    ETHERTYPE_ARP => or(t(0xd5), t(0xf1)),
                    ETHERTYPE_REVARP => t(0xd6),
                    ETHERTYPE_ATALK => t(0xdd),
                    _ => F::Const(false),
                }
            }
            Kind::Sll => {
                let llc = || cmp(2, lt, 4);
                match proto {
                    LLCSAP_ISONS | LLCSAP_IP | LLCSAP_NETBEUI => {
                        and(llc(), cmp(2, pl, (proto << 8) | proto))
                    }
                    LLCSAP_IPX => any([
                        cmp(2, lt, ETHERTYPE_IPX),
                        cmp(2, lt, 1),
                        and(llc(), or(cmp(1, pl, LLCSAP_IPX), snap(ETHERTYPE_IPX, 0xaaaa_0300))),
                    ]),
                    ETHERTYPE_ATALK | ETHERTYPE_AARP => {
                        or(cmp(2, lt, proto), and(llc(), appletalk(proto)))
                    }
                    p if p <= ETHERMTU => and(llc(), cmp(1, pl, p)),
                    p => cmp(2, lt, p),
                }
            }
            Kind::Ether => {
                // Inside a tunnel the type field and the payload count from where the tunnel
                // primitive stored them.
                let llc = || not(test(self.lt_ld(2, lt), Cond::Gt, ETHERMTU));
                match proto {
                    LLCSAP_ISONS | LLCSAP_IP | LLCSAP_NETBEUI => {
                        and(llc(), self.cmp(2, pl, (proto << 8) | proto))
                    }
                    LLCSAP_IPX => or(
                        self.lt_cmp(2, lt, ETHERTYPE_IPX),
                        and(
                            llc(),
                            any([
                                snap(ETHERTYPE_IPX, 0xaaaa_0300),
                                self.cmp(1, pl, LLCSAP_IPX),
                                self.cmp(2, pl, 0xffff),
                            ]),
                        ),
                    ),
                    ETHERTYPE_ATALK | ETHERTYPE_AARP => {
                        or(self.lt_cmp(2, lt, proto), and(llc(), appletalk(proto)))
                    }
                    p if p <= ETHERMTU => and(llc(), self.cmp(1, pl, p)),
                    p => self.lt_cmp(2, lt, p),
                }
            }
        }
    }

    /// The offsets of an Ethernet link layer, or an error naming `what`.
    fn ether(&self, span: Span, what: &str) -> R<(u32, u32)> {
        match self.link.kind {
            Kind::Ether => Ok((self.link.lt, self.link.pl)),
            _ => Err(unsupported(
                span,
                format!(
                    "`{what}` needs an Ethernet link layer, and these packets ({}) have none",
                    self.opts.link.name()
                ),
                "needs Ethernet",
            )),
        }
    }

    // ---- keywords ------------------------------------------------------------------------------

    fn keyword(&mut self, kw: Keyword, arg: Option<(u32, Span)>, span: Span) -> R<F> {
        match kw {
            Keyword::Inbound | Keyword::Outbound if self.link.tun.is_some() => Err(self.in_tunnel(
                span,
                "inbound/outbound",
                "the tunnelled packet records no direction",
            )),
            Keyword::Ifindex if self.link.tun.is_some() => Err(self.in_tunnel(
                span,
                "ifindex",
                "the tunnelled packet records no interface index",
            )),
            Keyword::Pppoes if self.link.tun.is_some() => Err(self.in_tunnel(
                span,
                "pppoes",
                "this front end models only Ethernet, VLAN, MPLS and IP headers inside a tunnel",
            )),
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
                if self.link.mpls > 0 {
                    return Err(unsupported(span, "no VLAN match after MPLS", "after `mpls`"));
                }
                if let Some((id, s)) = arg {
                    at_most(id, 4095, s, "VLAN tag")?;
                }
                let tpid = any([
                    self.lt_cmp(2, lt, 0x8100),
                    self.lt_cmp(2, lt, 0x88a8),
                    self.lt_cmp(2, lt, 0x9100),
                ]);
                let f = match arg {
                    Some((id, _)) => and(tpid, self.mcmp(2, nl, 0x0fff, id)),
                    None => tpid,
                };
                let l = self.link;
                self.link =
                    Link { lt: l.lt + 4, pl: l.pl + 4, nl: l.nl + 4, nosnap: l.nosnap + 4, ..l };
                Ok(f)
            }
            Keyword::Pppoed => Ok(self.linktype(ETHERTYPE_PPPOED)),
            Keyword::Pppoes => {
                if matches!(self.link.radio, Some(r) if r != Radio::Bare) {
                    // libpcap 1.10 gives the radio header's length and the payload's start one
                    // scratch register here, so its code reads a wrong offset.
                    return Err(unsupported(
                        span,
                        format!(
                            "`pppoes` is not supported on {} captures (libpcap's code for it \
                             is wrong there)",
                            self.opts.link.name()
                        ),
                        "not supported here",
                    ));
                }
                if let Some((id, s)) = arg {
                    at_most(id, 0xffff, s, "PPPoE session number")?;
                }
                let mut f = self.linktype(ETHERTYPE_PPPOES);
                let Link { pl, nl, .. } = self.link;
                if let Some((id, _)) = arg {
                    f = and(f, self.cmp(2, pl + 2, id));
                }
                // PPP follows the 6-byte PPPoE header, without HDLC framing.
                let ppp = nl + 6;
                self.link = Link {
                    kind: Kind::Ppp,
                    lt: ppp,
                    pl: ppp + 2,
                    nl: ppp + 2,
                    nosnap: ppp + 2,
                    hdr: Some(ppp),
                    ..self.link
                };
                Ok(f)
            }
            Keyword::Llc(kind) => {
                let (lt, nl) = self.ether(span, "llc")?;
                let is_llc = and(
                    not(test(self.lt_ld(2, lt), Cond::Gt, ETHERMTU)),
                    not(self.cmp(2, nl, 0xffff)),
                );
                let ctl = |mask: u32, k: u32| self.mcmp(1, nl + 2, mask, k);
                let sub = match kind {
                    None => F::Const(true),
                    Some(Llc::I) => not(test(self.ld(1, nl + 2), Cond::Set, 1)),
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
            Keyword::Mpls => {
                let l = self.link;
                let unchanged = l == Link::of(self.opts.link);
                let supported = match l.kind {
                    Kind::Ether | Kind::Plain { chdlc: true } => true,
                    // PPP, and PPP inside PPPoE; not PPP_SERIAL or PPP_ETHER themselves.
                    Kind::Ppp => {
                        !(unchanged
                            && matches!(self.opts.link, LinkType::PppHdlc | LinkType::PppEther))
                    }
                    _ => false,
                };
                if !supported || l.radio.is_some() {
                    return Err(unsupported(
                        span,
                        format!("no MPLS support for {} captures", self.opts.link.name()),
                        "not available for this link type",
                    ));
                }
                let mut f = if l.mpls == 0 {
                    self.linktype(ETHERTYPE_MPLS)
                } else {
                    // The label before is not the bottom of the stack.
                    not(test(self.ld(1, l.nl - 2), Cond::Set, 0x01))
                };
                if let Some((label, s)) = arg {
                    at_most(label, 0xf_ffff, s, "MPLS label")?;
                    f = and(f, self.mcmp(4, l.nl, 0xffff_f000, label << 12));
                }
                self.link = Link { nl: l.nl + 4, nosnap: l.nosnap + 4, mpls: l.mpls + 1, ..l };
                Ok(f)
            }
            Keyword::Geneve | Keyword::Vxlan => self.tunnel(kw == Keyword::Geneve, arg, span),
            Keyword::Inbound | Keyword::Outbound => {
                let outgoing = match self.opts.link {
                    // Linux's packet type: 4 is PACKET_OUTGOING.
                    LinkType::LinuxSll => cmp(2, 0, 4),
                    LinkType::LinuxSll2 => cmp(1, 10, 4),
                    // SLIP's direction byte: 0 is inbound.
                    LinkType::Slip => not(cmp(1, 0, 0)),
                    other => {
                        return Err(unsupported(
                            span,
                            format!(
                                "inbound/outbound not supported on {} captures: the link type \
                                 records no packet direction",
                                other.name()
                            ),
                            "not available for this link type",
                        ));
                    }
                };
                Ok(if kw == Keyword::Outbound { outgoing } else { not(outgoing) })
            }
            Keyword::WlanType { ty, sub } => {
                let (v, mask) = match sub {
                    None => (ty, 0x0c),
                    Some(sub) => (ty | sub, 0x0c | 0xf0),
                };
                self.wlan_fc(span, 0, mask, v)
            }
            Keyword::WlanSubtype(v) => self.wlan_fc(span, 0, 0xfc, v),
            Keyword::WlanDir(d) => self.wlan_fc(span, 1, 0x03, d),
            Keyword::Ifindex => {
                let (n, _) = arg.ok_or_else(|| bad_value(span, "`ifindex` needs a number"))?;
                match self.opts.link {
                    LinkType::LinuxSll2 => Ok(cmp(4, 4, n)),
                    other => Err(unsupported(
                        span,
                        format!(
                            "ifindex not supported on {} captures: only LINUX_SLL2 records the \
                             interface index",
                            other.name()
                        ),
                        "not available for this link type",
                    )),
                }
            }
        }
    }

    /// The refusal of `what` inside a tunnel.
    fn in_tunnel(&self, span: Span, what: &str, why: &str) -> Diagnostic {
        let tunnel = self.tunnels.last().map_or("geneve", |t| t.1);
        unsupported(
            span,
            format!("`{what}` is not supported after `{tunnel}`: {why}"),
            "inside a tunnel",
        )
    }

    /// `geneve [VNI]` (`geneve`) or `vxlan [VNI]`: libpcap's `gen_geneve` / `gen_vxlan`.
    /// UDP to port 6081 (Geneve, version 0) or 4789 (VXLAN, flags exactly 0x08) over IPv4 or
    /// IPv6, the VNI when given; then, on the paths where that matched, the tunnelled packet's
    /// offsets go to scratch words and everything written after reads the tunnelled packet
    /// (libpcap's registers; its link type becomes Ethernet). Geneve carries Ethernet when its
    /// protocol type is 0x6558 (Transparent Ethernet Bridging); otherwise the "link type
    /// field" is Geneve's protocol type and the payload follows the Geneve header.
    fn tunnel(&mut self, geneve: bool, arg: Option<(u32, Span)>, span: Span) -> R<F> {
        let name = if geneve { "geneve" } else { "vxlan" };
        if self.link.mpls > 0 {
            return Err(unsupported(
                span,
                format!(
                    "`{name}` after `mpls` is not supported: libpcap keeps reading the \
                     tunnelled packet as MPLS"
                ),
                "after `mpls`",
            ));
        }
        if self.link.radio.is_some() {
            // libpcap computes the 802.11 payload's start into the tunnel's register, not the
            // one its loads of the outer packet read (those read a word never written).
            return Err(unsupported(
                span,
                format!(
                    "`{name}` is not supported on {} captures (libpcap's code for it is wrong \
                     there: it reads the 802.11 payload's start from a scratch word it never \
                     writes)",
                    self.opts.link.name()
                ),
                "not supported here",
            ));
        }
        if let Some((vni, s)) = arg {
            at_most(vni, 0xff_ffff, s, if geneve { "Geneve VNI" } else { "VXLAN VNI" })?;
        }
        // Four scratch words from the top (libpcap allocates registers the same way).
        if self.next_slot < 4 + 4 {
            return Err(unsupported(
                span,
                format!(
                    "too many tunnel primitives: `{name}` needs scratch words that are used up"
                ),
                "one too many",
            ));
        }
        let top = self.next_slot;
        self.next_slot -= 4;
        let t = Tun { start: top - 1, hdr: top - 2, lt: top - 3, pl: top - 4 };
        let port = if geneve { 6081 } else { 4789 };
        let nl = self.link.nl;
        // The first byte of the tunnel header: Geneve's version (2 high bits) must be 0;
        // VXLAN's flags must be exactly 0x08 (the I flag).
        let first = |v: V| {
            if geneve {
                test(V::Alu(ArithOp::And, Box::new(v), Box::new(V::K(0xc0))), Cond::Eq, 0)
            } else {
                test(v, Cond::Eq, 0x08)
            }
        };
        // The VNI: the high 24 bits of the word at 4 in the tunnel header.
        let vni = |v: V| match arg {
            None => F::Const(true),
            Some((n, _)) => test(
                V::Alu(ArithOp::And, Box::new(v), Box::new(V::K(0xffff_ff00))),
                Cond::Eq,
                n << 8,
            ),
        };
        let store = |slot: u32, v: V| effect(V::St(slot, Box::new(v)));
        let add = |a: V, k: u32| V::Alu(ArithOp::Add, Box::new(a), Box::new(V::K(k)));
        // IPv4: UDP, not a later fragment, the destination port; the header checks; the
        // tunnel header's start is the IPv4 header length (plus the payload's start where
        // that is computed per packet) + nl + 8.
        let tr4 = |off: u32| V::LdX { size: 1, off: nl + off, x: Box::new(self.msh()) };
        let tr4w = |off: u32| V::LdX { size: 4, off: nl + off, x: Box::new(self.msh()) };
        let v4 = all([
            self.linktype(ETHERTYPE_IP),
            self.cmp(1, nl + 9, IPPROTO_UDP),
            self.not_frag(),
            test(V::LdX { size: 2, off: nl + 2, x: Box::new(self.msh()) }, Cond::Eq, port),
            first(tr4(8)),
            vni(tr4w(12)),
            store(t.start, add(self.msh(), nl + 8)),
        ]);
        // IPv6: next header UDP (no extension headers), the destination port; 40 bytes of
        // header.
        let v6_start = match self.pl_base() {
            None => V::K(40 + nl + 8),
            Some(b) => add(V::Alu(ArithOp::Add, Box::new(V::K(40)), Box::new(b)), nl + 8),
        };
        let v6 = all([
            self.linktype(ETHERTYPE_IPV6),
            self.cmp(1, nl + 6, IPPROTO_UDP),
            self.cmp(2, nl + 42, port),
            first(self.ld(1, nl + 48)),
            vni(self.ld(4, nl + 52)),
            store(t.start, v6_start),
        ]);
        let start = || V::Mem(t.start);
        let hdr = || V::Mem(t.hdr);
        let offsets = if geneve {
            // The Geneve header: 8 bytes and 4 * the option length (low 6 bits of byte 0).
            let optlen = V::Alu(
                ArithOp::Mul,
                Box::new(V::Alu(
                    ArithOp::And,
                    Box::new(V::LdX { size: 1, off: 0, x: Box::new(start()) }),
                    Box::new(V::K(0x3f)),
                )),
                Box::new(V::K(4)),
            );
            let end = V::Alu(ArithOp::Add, Box::new(add(optlen, 8)), Box::new(start()));
            let teb =
                test(V::LdX { size: 2, off: 2, x: Box::new(start()) }, Cond::Eq, ETHERTYPE_TEB);
            all([
                store(t.hdr, end),
                or(
                    all([teb, store(t.lt, add(hdr(), 12)), store(t.pl, add(hdr(), 14))]),
                    all([store(t.lt, add(start(), 2)), store(t.pl, hdr())]),
                ),
            ])
        } else {
            all([
                store(t.hdr, add(start(), 8)),
                store(t.lt, add(start(), 8 + 12)),
                store(t.pl, add(start(), 8 + 14)),
            ])
        };
        let f = and(or(v4, v6), offsets);
        let l = self.link;
        // Past the link payload's start: libpcap keeps its `off_nl_nosnap`.
        let nosnap = if l.radio.is_some() || l.tun.is_some() { l.nosnap } else { l.nosnap - l.pl };
        self.link = Link {
            kind: Kind::Ether,
            radio: None,
            lt: 0,
            pl: 0,
            nl: 0,
            nosnap,
            mpls: 0,
            tun: Some(t),
            hdr: None,
        };
        self.tunnels.push((t, name, span));
        Ok(f)
    }

    /// `(frame control byte i) & mask == v`, on 802.11 link types only.
    fn wlan_fc(&self, span: Span, i: u32, mask: u32, v: u32) -> R<F> {
        // libpcap 1.10 allows these on 802.11 with or without radiotap or Prism, not PPI.
        let radio = self.link.radio.filter(|_| self.opts.link != LinkType::Ppi);
        let Some(r) = radio else {
            return Err(unsupported(
                span,
                format!(
                    "802.11 frame types and directions exist only on 802.11 link types, not {}",
                    self.opts.link.name()
                ),
                "needs 802.11",
            ));
        };
        let fc = match r {
            Radio::Bare => ld(1, i),
            r => V::LdX { size: 1, off: i, x: Box::new(V::WlanHdr(r)) },
        };
        Ok(test(V::Alu(ArithOp::And, Box::new(fc), Box::new(V::K(mask))), Cond::Eq, v))
    }

    fn broadcast(&self, p: Option<Proto>, span: Span) -> R<F> {
        match p {
            None | Some(Proto::Link) => {
                if self.opts.link == LinkType::ArcnetLinux && self.link.tun.is_none() {
                    // ARCnet's broadcast: destination address 0.
                    return Ok(cmp(1, 1, 0));
                }
                if self.link.radio.is_some() {
                    return Ok(self.wlan_host(Dir::Dst, &[0xff; 6]));
                }
                self.ether(span, "ether broadcast")?;
                Ok(and(self.encap_ll_check(), self.bcmp(0, &[0xff; 6])))
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
                    or(self.mcmp(4, nl + 16, hmask, 0), self.mcmp(4, nl + 16, hmask, hmask)),
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
                if self.opts.link == LinkType::ArcnetLinux && self.link.tun.is_none() {
                    // Every ARCnet multicast is a broadcast.
                    return Ok(cmp(1, 1, 0));
                }
                if self.link.radio.is_some() {
                    let group = |off: u32| test(self.wlan_ld(1, off), Cond::Set, 1);
                    return Ok(self.wlan_dst(&group));
                }
                self.ether(span, "ether multicast")?;
                Ok(and(self.encap_ll_check(), test(self.hdr_ld(1, 0), Cond::Set, 1)))
            }
            Some(Proto::Ip) => {
                Ok(and(self.linktype(ETHERTYPE_IP), test(self.ld(1, nl + 16), Cond::Ge, 224)))
            }
            Some(Proto::Ip6) => Ok(and(self.linktype(ETHERTYPE_IPV6), self.cmp(1, nl + 24, 255))),
            Some(_) => Err(unsupported(
                span,
                "only `ether`, `ip` and `ip6 multicast` exist",
                "no multicast for this protocol",
            )),
        }
    }

    /// Compares `bytes` with the link header at `off`, four bytes at a time from the end, as
    /// libpcap's `gen_bcmp` does.
    fn bcmp(&self, off: u32, bytes: &[u8]) -> F {
        let mut f = F::Const(true);
        let mut size = bytes.len();
        while size >= 4 {
            let at = size - 4;
            let w = u32::from_be_bytes(bytes[at..size].try_into().expect("4 bytes"));
            f = and(f, test(self.hdr_ld(4, off + at as u32), Cond::Eq, w));
            size -= 4;
        }
        while size >= 2 {
            let at = size - 2;
            let w = u16::from_be_bytes(bytes[at..size].try_into().expect("2 bytes"));
            f = and(f, test(self.hdr_ld(2, off + at as u32), Cond::Eq, w.into()));
            size -= 2;
        }
        if size > 0 {
            f = and(f, test(self.hdr_ld(1, off), Cond::Eq, bytes[0].into()));
        }
        f
    }
}
