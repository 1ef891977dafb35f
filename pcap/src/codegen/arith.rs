//! Comparisons of arithmetic over packet bytes: `expr relop expr`, `proto[index : size]`.

use super::*;

impl Gen {
    pub(super) fn relation(&mut self, lhs: &Arith, op: RelOp, rhs: &Arith) -> R<F> {
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
    pub(super) fn arith(&mut self, a: &Arith) -> R<(V, F)> {
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
            Arith::Index { proto, index, size, span } => {
                let (idx, ci) = self.arith(index)?;
                let (v, c) = self.index(proto.0, proto.1, idx, *size, *span)?;
                (v, and(ci, c))
            }
        })
    }

    pub(super) fn index(
        &mut self,
        p: Proto,
        pspan: Span,
        idx: V,
        size: u8,
        span: Span,
    ) -> R<(V, F)> {
        let nl = self.link.nl();
        // Relative to a start computed per packet: `base + k`, or `x + base` for a computed
        // index (as libpcap adds the index to the register).
        let rel = |base: &V, off: u32, idx: V| match idx {
            V::K(k) => match off.checked_add(k) {
                Some(off) => V::LdX { size, off, x: Box::new(base.clone()) },
                None => V::LdX {
                    size,
                    off,
                    x: Box::new(V::Alu(ArithOp::Add, Box::new(V::K(k)), Box::new(base.clone()))),
                },
            },
            x => V::LdX {
                size,
                off,
                x: Box::new(V::Alu(ArithOp::Add, Box::new(x), Box::new(base.clone()))),
            },
        };
        // Past the link layer: on 802.11 relative to the payload's start computed per packet,
        // inside a tunnel to the tunnelled payload's.
        let pl_base = self.pl_base();
        let at_net = |off: u32, idx: V| match &pl_base {
            None => at_abs(size, off, idx),
            Some(b) => rel(b, off, idx),
        };
        // The link header: inside a tunnel, the tunnelled one; behind a radio header, the
        // 802.11 header (libpcap's `off_linkhdr`, computed per packet).
        let hdr_base = match (self.link.tun, self.link.radio) {
            (Some(t), _) => Some(V::Mem(t.hdr)),
            (None, Some(r)) if r != Radio::Bare => Some(V::WlanHdr(r)),
            _ => None,
        };
        let at = |off: u32, idx: V| match &hdr_base {
            None => at_abs(size, off, idx),
            Some(b) => rel(b, off, idx),
        };
        Ok(match p {
            // After `pppoes`, from the PPP header (in the payload's frame).
            Proto::Link => match self.link.hdr {
                Some(h) => (at_net(h, idx), F::Const(true)),
                None => (at(0, idx), F::Const(true)),
            },
            Proto::Ip
            | Proto::Ip6
            | Proto::Arp
            | Proto::Rarp
            | Proto::Atalk
            | Proto::Decnet
            | Proto::Lat
            | Proto::Sca
            | Proto::Moprc
            | Proto::Mopdl => (at_net(nl, idx), self.proto_abbrev(p, pspan)?),
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
                    V::K(0) => self.msh(),
                    V::K(k) => {
                        return Ok((
                            V::LdX {
                                size,
                                off: nl
                                    .checked_add(k)
                                    .ok_or_else(|| bad_value(span, "offset too large"))?,
                                x: Box::new(self.msh()),
                            },
                            self.transport_check(p, pspan)?,
                        ));
                    }
                    i => V::Alu(ArithOp::Add, Box::new(self.msh()), Box::new(i)),
                };
                (V::LdX { size, off: nl, x: Box::new(x) }, self.transport_check(p, pspan)?)
            }
            Proto::Icmp6 => (at_net(nl + 40, idx), self.ip6_direct(IPPROTO_ICMPV6)),
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
    pub(super) fn ip6_direct(&self, p: u32) -> F {
        and(self.linktype(ETHERTYPE_IPV6), self.cmp(1, self.link.nl() + 6, p))
    }

    /// The tests before a transport-header load: IPv4 with this protocol, not a later fragment
    /// (libpcap's `tcp[...]` reads the transport header after an IPv4 header only).
    pub(super) fn transport_check(&self, p: Proto, pspan: Span) -> R<F> {
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

/// `size` bytes at `base + idx` from the start of the packet.
fn at_abs(size: u8, base: u32, idx: V) -> V {
    match idx {
        V::K(k) => match base.checked_add(k) {
            Some(off) => ld(size, off),
            None => V::LdX { size, off: base, x: Box::new(V::K(k)) },
        },
        x => V::LdX { size, off: base, x: Box::new(x) },
    }
}

pub(super) fn fold_neg(v: V) -> V {
    match v {
        V::K(k) => V::K(k.wrapping_neg()),
        v => V::Neg(Box::new(v)),
    }
}

pub(super) fn fold_alu(op: ArithOp, a: V, b: V) -> V {
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
