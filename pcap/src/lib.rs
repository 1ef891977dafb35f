//! The pcap-filter(7) front end and classic BPF: a tcpdump expression compiled to classic BPF with
//! libpcap's meaning, then through the classic-BPF translation ([`cbpf`]) to verified eBPF.
//! Errors are `udf-diag` diagnostics located in the expression; the `.udf` compiler reports them
//! for its `filter NAME = pcap "..."` entries.
//!
//! ```text
//! expression ──parse──► syntax tree (qualifiers inherited) ──gen──► decision graph
//!     ──opt──► decision graph (redundant tests folded) ──emit──► classic BPF ──cbpf──► eBPF
//! ```

pub mod ast;
pub mod cbpf;
mod codegen;
mod emit;
mod opt;
mod parse;

pub use parse::parse;

/// The link-layer header type of the packets a filter sees (libpcap's `DLT_*`), with libpcap's
/// offsets and protocol tests for each (gencode.c's `off_linktype`, `off_linkpl`, `off_nl` and
/// `gen_linktype`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// Ethernet (`DLT_EN10MB`, link type 1).
    En10mb,
    /// Raw IPv4 or IPv6, no link header, the version in the first nibble (`DLT_RAW`: link
    /// types 101, and the BSD numbers 12 and 14).
    Raw,
    /// Raw IPv4 only (`LINKTYPE_IPV4`, 228): `ip` always holds, `ip6` never.
    Ipv4,
    /// Raw IPv6 only (`LINKTYPE_IPV6`, 229): `ip6` always holds, `ip` never.
    Ipv6,
    /// Linux cooked capture v1 (`DLT_LINUX_SLL`, 113): 16-byte header, protocol at 14.
    LinuxSll,
    /// Linux cooked capture v2 (`DLT_LINUX_SLL2`, 276): 20-byte header, protocol at 0.
    LinuxSll2,
    /// BSD loopback (`DLT_NULL`, 0): a 4-byte address family in the byte order of the machine
    /// that wrote the capture; `big_endian` says which (libpcap compares in the capture file's
    /// byte order).
    Null {
        /// The family word is big-endian (a capture file written big-endian).
        big_endian: bool,
    },
    /// OpenBSD loopback (`DLT_LOOP`, 108): the family word in network byte order.
    Loop,
    /// PPP with HDLC-like framing (`DLT_PPP`, 9): protocol at 2.
    Ppp,
    /// PPP in HDLC framing (`LINKTYPE_PPP_HDLC`, 50; libpcap's `DLT_PPP_SERIAL`).
    PppHdlc,
    /// A PPPoE session header then PPP (`DLT_PPP_ETHER`, 51): protocol at 6.
    PppEther,
    /// Cisco HDLC (`DLT_C_HDLC`, 104): an Ethernet type at 2.
    CHdlc,
    /// Frame Relay (`DLT_FRELAY`, 107): a 2-byte address, then control and NLPID.
    Frelay,
    /// SLIP (`DLT_SLIP`, 8): a 16-byte header (direction first), then IP.
    Slip,
    /// Linux ARCnet (`DLT_ARCNET_LINUX`, 129): protocol byte at 4, payload at 8.
    ArcnetLinux,
    /// 802.11 (`DLT_IEEE802_11`, 105): a header of 24 bytes, 26 for QoS data.
    Ieee80211,
    /// Radiotap then 802.11 (`DLT_IEEE802_11_RADIO`, 127): the radiotap length is read from
    /// each packet.
    Ieee80211Radio,
    /// PPI then 802.11 (`DLT_PPI`, 192): libpcap filters only PPI packets carrying 802.11.
    Ppi,
    /// Prism or AVS monitor header then 802.11 (`DLT_PRISM_HEADER`, 119).
    Prism,
}

impl LinkType {
    /// The link type of a capture's link-type number, when this front end supports it. A
    /// `DLT_NULL` capture is taken as little-endian (see [`LinkType::for_capture`]).
    pub fn from_linktype(n: u32) -> Option<LinkType> {
        LinkType::for_capture(n, false)
    }
    /// The link type of a capture's link-type number, knowing whether the capture file is
    /// big-endian (which is what `DLT_NULL`'s family word follows).
    pub fn for_capture(n: u32, big_endian: bool) -> Option<LinkType> {
        Some(match n {
            1 => LinkType::En10mb,
            12 | 14 | 101 => LinkType::Raw,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            0 => LinkType::Null { big_endian },
            108 => LinkType::Loop,
            9 => LinkType::Ppp,
            50 => LinkType::PppHdlc,
            51 => LinkType::PppEther,
            104 => LinkType::CHdlc,
            107 => LinkType::Frelay,
            8 => LinkType::Slip,
            129 => LinkType::ArcnetLinux,
            105 => LinkType::Ieee80211,
            127 => LinkType::Ieee80211Radio,
            192 => LinkType::Ppi,
            119 => LinkType::Prism,
            _ => return None,
        })
    }
    /// The link type of a libpcap link-type name (`pcap_datalink_name_to_val`'s names:
    /// `EN10MB`, `LINUX_SLL`, `PPP_SERIAL`, ...); `NULL` as little-endian.
    pub fn from_name(name: &str) -> Option<LinkType> {
        Some(match name {
            "EN10MB" => LinkType::En10mb,
            "RAW" => LinkType::Raw,
            "IPV4" => LinkType::Ipv4,
            "IPV6" => LinkType::Ipv6,
            "LINUX_SLL" => LinkType::LinuxSll,
            "LINUX_SLL2" => LinkType::LinuxSll2,
            "NULL" => LinkType::Null { big_endian: false },
            "LOOP" => LinkType::Loop,
            "PPP" => LinkType::Ppp,
            "PPP_SERIAL" | "PPP_HDLC" => LinkType::PppHdlc,
            "PPP_ETHER" => LinkType::PppEther,
            "C_HDLC" => LinkType::CHdlc,
            "FRELAY" => LinkType::Frelay,
            "SLIP" => LinkType::Slip,
            "ARCNET_LINUX" => LinkType::ArcnetLinux,
            "IEEE802_11" => LinkType::Ieee80211,
            "IEEE802_11_RADIO" => LinkType::Ieee80211Radio,
            "PPI" => LinkType::Ppi,
            "PRISM_HEADER" | "PRISM" => LinkType::Prism,
            _ => return None,
        })
    }
    /// libpcap's name (`EN10MB`, `RAW`, `LINUX_SLL`, ...; `PPP_SERIAL` for link type 50).
    pub fn name(self) -> &'static str {
        match self {
            LinkType::En10mb => "EN10MB",
            LinkType::Raw => "RAW",
            LinkType::Ipv4 => "IPV4",
            LinkType::Ipv6 => "IPV6",
            LinkType::LinuxSll => "LINUX_SLL",
            LinkType::LinuxSll2 => "LINUX_SLL2",
            LinkType::Null { .. } => "NULL",
            LinkType::Loop => "LOOP",
            LinkType::Ppp => "PPP",
            LinkType::PppHdlc => "PPP_SERIAL",
            LinkType::PppEther => "PPP_ETHER",
            LinkType::CHdlc => "C_HDLC",
            LinkType::Frelay => "FRELAY",
            LinkType::Slip => "SLIP",
            LinkType::ArcnetLinux => "ARCNET_LINUX",
            LinkType::Ieee80211 => "IEEE802_11",
            LinkType::Ieee80211Radio => "IEEE802_11_RADIO",
            LinkType::Ppi => "PPI",
            LinkType::Prism => "PRISM_HEADER",
        }
    }
}

/// How to compile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompileOptions {
    /// The packets' link type.
    pub link: LinkType,
    /// What an accepting filter returns (tcpdump's default: 262144).
    pub snaplen: u32,
    /// The network mask `ip broadcast` uses (libpcap's `netmask` argument); `None` makes `ip
    /// broadcast` an error, as `PCAP_NETMASK_UNKNOWN` does.
    pub netmask: Option<u32>,
}

impl Default for CompileOptions {
    fn default() -> CompileOptions {
        CompileOptions { link: LinkType::En10mb, snaplen: 262_144, netmask: None }
    }
}

use udf_bytecode::Program;
use udf_verifier::Verified;

use crate::cbpf::SockFilter;
use udf_diag::Diagnostic;

/// A compiled expression: its classic BPF and the verified eBPF made from it.
#[derive(Clone, Debug)]
pub struct CompiledFilter {
    /// The classic BPF program (what `tcpdump -d` would list).
    pub cbpf: Vec<SockFilter>,
    /// The verified eBPF program (type `filter`).
    pub prog: Program,
    /// What the verifier proved about it (with the program: what native code is made from).
    pub facts: Verified,
}

/// Compiles an expression to classic BPF, then to verified eBPF. Errors are located in `expr`.
pub fn compile(expr: &str, opts: &CompileOptions) -> Result<CompiledFilter, Diagnostic> {
    let cbpf = compile_cbpf(expr, opts)?;
    // `compile_cbpf` keeps within classic BPF's limits: a translation failure is a defect.
    let (prog, facts) = crate::cbpf::compile(&cbpf).map_err(|e| {
        Diagnostic::new(
            "udf::compiler_bug",
            format!("the classic BPF made from this expression does not translate: {e}"),
        )
        .label(whole(expr), "this expression")
    })?;
    Ok(CompiledFilter { cbpf, prog, facts })
}

/// Compiles an expression to classic BPF only.
pub fn compile_cbpf(expr: &str, opts: &CompileOptions) -> Result<Vec<SockFilter>, Diagnostic> {
    let ast = parse(expr)?;
    if depth(&ast) > MAX_DEPTH {
        return Err(Diagnostic::new(
            TOO_LARGE,
            format!(
                "expression too large: operators (`and`, `or`, `not`, arithmetic) nested or \
                 chained more than {MAX_DEPTH} deep"
            ),
        )
        .label(whole(expr), "this expression")
        .help(
            "split it into several filters, or use fewer terms (one `net` for many `host`s, \
             `portrange` for many `port`s)",
        ));
    }
    let mut cg = codegen::Gen::new(opts);
    let f = cg.expr(&ast)?;
    if cg.over_mpls() {
        return Err(Diagnostic::new(
            "udf::pcap::unsupported",
            "unsupported protocol over mpls: only IPv4 and IPv6 are recognised inside MPLS",
        )
        .label(whole(expr), "this expression"));
    }
    let f = cg.finish(f);
    cg.check_tunnels(&f)?;
    let f = cg.prune_stores(f);
    let g = opt::graph(&f);
    // libpcap does not optimise a filter with `geneve` (its code has a jump its optimiser
    // cannot handle), so it does not find such a filter rejecting everything.
    if !g.accepts() && !cg.has_geneve() {
        // As pcap_compile: a filter that can never match is a mistake worth reporting.
        return Err(Diagnostic::new("udf::pcap::value", "expression rejects all packets")
            .label(whole(expr), "never true for this link type")
            .help(format!("the link type is {}", opts.link.name())));
    }
    let cbpf = emit::emit(&g, opts.snaplen, cg.scratch_floor()).map_err(|emit::TooComplex| {
        Diagnostic::new(
            "udf::pcap::unsupported",
            "expression too complex: it needs more than 16 scratch words",
        )
        .label(whole(expr), "this expression")
    })?;
    if cbpf.len() > crate::cbpf::MAXINSNS {
        return Err(Diagnostic::new(
            TOO_LARGE,
            format!(
                "expression too large: it compiles to {} classic BPF instructions, more than \
                 the {} a classic BPF program may have",
                cbpf.len(),
                crate::cbpf::MAXINSNS
            ),
        )
        .label(whole(expr), "this expression")
        .help(
            "split it into several filters, or use fewer terms (one `net` for many `host`s, \
             `portrange` for many `port`s)",
        ));
    }
    Ok(cbpf)
}

/// The code of an expression beyond a limit (of the parser, the code generator or classic BPF).
pub const TOO_LARGE: &str = "udf::pcap::too_large";

/// How deep the code generator and optimiser may recurse (each level is one `and`, `or` or
/// `not`, or one arithmetic operator or index; the parser allows more).
const MAX_DEPTH: usize = 1000;

/// The depth of the tree, boolean and arithmetic, without recursion (the parser accepts very
/// deep trees: a chain of `and`s or `+`s is as deep as it is long).
fn depth(e: &ast::Expr) -> usize {
    use ast::{Arith, Expr};
    enum N<'a> {
        E(&'a Expr),
        A(&'a Arith),
    }
    let mut max = 0;
    let mut stack = vec![(N::E(e), 1usize)];
    while let Some((n, d)) = stack.pop() {
        max = max.max(d);
        match n {
            N::E(Expr::And(a, b) | Expr::Or(a, b)) => {
                stack.push((N::E(a), d + 1));
                stack.push((N::E(b), d + 1));
            }
            N::E(Expr::Not(a, _)) => stack.push((N::E(a), d + 1)),
            N::E(Expr::Rel { lhs, rhs, .. }) => {
                stack.push((N::A(lhs), d + 1));
                stack.push((N::A(rhs), d + 1));
            }
            N::A(Arith::Bin { lhs, rhs, .. }) => {
                stack.push((N::A(lhs), d + 1));
                stack.push((N::A(rhs), d + 1));
            }
            N::A(Arith::Index { index: a, .. } | Arith::Neg(a, _)) => {
                stack.push((N::A(a), d + 1));
            }
            _ => {}
        }
    }
    max
}

fn whole(expr: &str) -> udf_diag::Span {
    udf_diag::Span::new(0, expr.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(k: usize) -> String {
        (0..k)
            .map(|i| format!("host 10.0.{}.{}", i / 256, i % 256))
            .collect::<Vec<_>>()
            .join(" or ")
    }

    /// Past classic BPF's 4096 instructions is the expression's fault, not a compiler bug; just
    /// below, the expression compiles and verifies.
    #[test]
    fn too_many_instructions_is_too_large() {
        let d = compile(&hosts(400), &CompileOptions::default()).unwrap_err();
        assert_eq!(d.code, TOO_LARGE, "{d:?}");
        assert!(d.message.contains("4096"), "{d:?}");
        assert!(d.help.is_some());
        let c = compile(&hosts(200), &CompileOptions::default()).expect("200 hosts fit");
        assert!(c.cbpf.len() <= crate::cbpf::MAXINSNS);
    }

    /// The 802.11 qualifiers: only on 802.11 link types, the address ones only with a
    /// link-layer address; a link type without a direction refuses `inbound`.
    #[test]
    fn link_type_refusals() {
        let on = |link| CompileOptions { link, ..CompileOptions::default() };
        let wifi = on(LinkType::Ieee80211Radio);
        for (expr, opts) in [
            ("ip addr1 1.2.3.4", wifi),
            ("ra 1.2.3.4", wifi),
            ("wlan addr1 0:1:2:3:4:5", on(LinkType::En10mb)),
            ("type mgt", on(LinkType::LinuxSll)),
            ("inbound", on(LinkType::Ppp)),
            ("ifindex 3", on(LinkType::LinuxSll)),
            ("ether host 0:1:2:3:4:5", on(LinkType::Ppp)),
            ("gateway 1.2.3.4", on(LinkType::En10mb)),
        ] {
            let d = compile(expr, &opts).unwrap_err();
            assert_eq!(d.code, "udf::pcap::unsupported", "`{expr}`: {d:?}");
        }
        compile("wlan addr1 0:1:2:3:4:5 and type data", &wifi).expect("802.11 qualifiers");
        compile("outbound", &on(LinkType::LinuxSll2)).expect("SLL2 has a direction");
        assert_eq!(LinkType::from_linktype(228), Some(LinkType::Ipv4));
        assert_eq!(LinkType::from_linktype(14), Some(LinkType::Raw));
        assert_eq!(LinkType::from_linktype(147), None);
        let d = compile("ip6", &on(LinkType::Ipv4)).unwrap_err();
        assert_eq!(d.code, "udf::pcap::value", "IPV4 never carries IPv6: {d:?}");
    }

    /// The depth bound counts arithmetic, which the code generator also recurses on: a chain of
    /// 2,000 `+` is refused before it, 10 compile.
    #[test]
    fn arithmetic_chains_are_bounded() {
        let chain = |n: usize| format!("{} > 0", vec!["len"; n].join("+"));
        let d = compile_cbpf(&chain(2_000), &CompileOptions::default()).unwrap_err();
        assert_eq!(d.code, TOO_LARGE, "{d:?}");
        compile_cbpf(&chain(10), &CompileOptions::default()).expect("10 terms");
        let d = compile_cbpf(&vec!["tcp"; 2_000].join(" and "), &CompileOptions::default())
            .unwrap_err();
        assert_eq!(d.code, TOO_LARGE, "{d:?}");
    }
}
