//! Protocols, addresses and ports: `tcp`, `host`, `net`, `port`, `proto`, ... as gencode.c
//! writes them.

use super::*;

impl Gen {
    /// A protocol name alone (`tcp`, `ip`, `arp`, `isis`, ...).
    pub(super) fn proto_abbrev(&self, p: Proto, span: Span) -> R<F> {
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
            Proto::Ipx => self.linktype(LLCSAP_IPX),
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
    pub(super) fn ip_proto(&self, p: u32) -> F {
        and(self.linktype(ETHERTYPE_IP), self.cmp(1, self.link.nl() + 9, p))
    }

    /// IPv6 with next header `p`, directly or after one fragment header.
    pub(super) fn ip6_proto(&self, p: u32) -> F {
        let nl = self.link.nl();
        and(
            self.linktype(ETHERTYPE_IPV6),
            or(
                self.cmp(1, nl + 6, p),
                and(self.cmp(1, nl + 6, IPPROTO_FRAGMENT), self.cmp(1, nl + 40, p)),
            ),
        )
    }

    pub(super) fn ip_proto_any(&self, p: u32) -> F {
        or(self.ip_proto(p), self.ip6_proto(p))
    }

    /// The OSI network layer after the 3-byte LLC header: NLPID `p`.
    pub(super) fn iso_proto(&self, p: u32) -> F {
        let nosnap = self.link.nosnap;
        match self.link.kind {
            // Frame Relay: control byte (UI) and NLPID in one test.
            Kind::Frelay => cmp(2, 2, 0x0300 | p),
            // Cisco HDLC: a padding byte before the NLPID.
            Kind::Plain { chdlc: true } => and(self.linktype(LLCSAP_ISONS), cmp(1, nosnap + 1, p)),
            _ => and(self.linktype(LLCSAP_ISONS), self.cmp(1, nosnap, p)),
        }
    }

    pub(super) fn isis_pdus(&self, types: &[u32]) -> F {
        let nosnap = self.link.nosnap;
        any(types.iter().map(|&t| and(self.iso_proto(ISO_ISIS), self.mcmp(1, nosnap + 4, 0x1f, t))))
    }

    /// Not a later IPv4 fragment.
    pub(super) fn not_frag(&self) -> F {
        not(test(self.ld(2, self.link.nl() + 6), Cond::Set, 0x1fff))
    }

    // ---- qualified primitives ------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub(super) fn qualified(
        &mut self,
        proto: Option<Proto>,
        pspan: Option<Span>,
        dir: Dir,
        kind: Option<(IdKind, Span)>,
        id: &Id,
        id_span: Span,
        span: Span,
    ) -> R<F> {
        let k = kind.map(|k| k.0);
        if matches!(dir, Dir::Addr1 | Dir::Addr2 | Dir::Addr3 | Dir::Addr4 | Dir::Ra | Dir::Ta) {
            if self.link.radio.is_none() {
                return Err(unsupported(
                    span,
                    format!(
                        "802.11 address qualifiers (addr1..addr4, ra, ta) exist only on 802.11 \
                         link types, not {}",
                        self.opts.link.name()
                    ),
                    "needs 802.11",
                ));
            }
            // As libpcap: `wlan addr1 MAC` (or `ether`, `link`), not a bare `addr1 MAC`.
            let mac = matches!(id, Id::Mac(_))
                && proto == Some(Proto::Link)
                && matches!(k, None | Some(IdKind::Host));
            if !mac {
                return Err(unsupported(
                    span,
                    "802.11 address qualifiers (addr1..addr4, ra, ta) apply only to a \
                     link-layer host address",
                    "not valid here",
                ));
            }
        }
        match k {
            Some(IdKind::Port) | Some(IdKind::Portrange) => {
                let (lo, hi) = self.port_range(id, id_span, k == Some(IdKind::Portrange))?;
                self.port(proto, pspan.unwrap_or(span), dir, lo, hi)
            }
            Some(IdKind::Proto) => self.proto_kind(proto, pspan.unwrap_or(span), id, id_span),
            Some(IdKind::Protochain) => {
                let n = num_or_name(id, id_span, ip_proto_name, "IP protocol")?;
                at_most(n, 255, id_span, "IP protocol")?;
                if self.link.radio.is_some() || self.link.tun.is_some() {
                    return Err(unsupported(
                        kind.map_or(span, |k| k.1),
                        if self.link.tun.is_some() {
                            "`protochain` is not supported after `geneve` or `vxlan`: it would \
                             walk from a header start computed per packet"
                                .to_string()
                        } else {
                            format!(
                                "`protochain` is not supported on {} captures: it would walk \
                                 from a header start computed per packet",
                                self.opts.link.name()
                            )
                        },
                        "not supported here",
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
            Some(IdKind::Gateway) => Err(unsupported(
                kind.map_or(span, |k| k.1),
                "`gateway` needs host-name resolution, which this compiler does not do",
                "not supported",
            )),
            Some(IdKind::Host) | Some(IdKind::Net) | None => {
                self.host(proto, pspan, dir, k == Some(IdKind::Net), id, id_span, span)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn host(
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
                if self.link.radio.is_some() {
                    return Ok(self.wlan_host(dir, mac));
                }
                self.ether(span, "ether host")?;
                Ok(and(self.encap_ll_check(), dirop(dir, self.bcmp(6, mac), self.bcmp(0, mac))))
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
                _ => Err(bad_value(id_span, "a network with a prefix length must be an address")),
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
                let mask = if net || matches!(id, Id::Dotted(_)) { mask } else { u32::MAX };
                self.host4(proto, pspan, dir, addr, mask, span)
            }
            Id::Name(n) => Err(unsupported(
                id_span,
                format!("host name `{n}`: this compiler does not resolve names"),
                "give an address",
            )),
        }
    }

    pub(super) fn host4(
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
                dirop(dir, self.mcmp(4, nl + src, mask, addr), self.mcmp(4, nl + dst, mask, addr)),
            )
        };
        match proto {
            // Inside MPLS only IPv4 (libpcap does not look for ARP there).
            None if self.link.mpls > 0 => Ok(one(ETHERTYPE_IP, 12, 16)),
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

    pub(super) fn host6(
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
            *m = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
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
                    self.mcmp(4, nl + off + 4 * i as u32, mask[i], words[i])
                }
            }))
        };
        Ok(and(self.linktype(ETHERTYPE_IPV6), dirop(dir, side(8), side(24))))
    }

    /// An 802.11 address test as libpcap writes it: which of the four addresses is the
    /// source, destination, receiver or transmitter depends on the frame type and DS bits.
    pub(super) fn wlan_host(&self, dir: Dir, mac: &[u8; 6]) -> F {
        let h = |size: u8, off: u32| self.wlan_ld(size, off);
        let set = |byte: u32, bit: u32| test(h(1, byte), Cond::Set, bit);
        let is = |byte: u32, mask: u32, v: u32| {
            test(V::Alu(ArithOp::And, Box::new(h(1, byte)), Box::new(V::K(mask))), Cond::Eq, v)
        };
        // Compares the address at `off` four bytes at a time from the end, as `bcmp`.
        let addr = |off: u32| {
            let w = u32::from_be_bytes([mac[2], mac[3], mac[4], mac[5]]);
            let hw = u32::from(u16::from_be_bytes([mac[0], mac[1]]));
            and(test(h(4, off + 2), Cond::Eq, w), test(h(2, off), Cond::Eq, hw))
        };
        // Address 2, absent from CTS and ACK control frames.
        let addr2 =
            || and(not(and(is(0, 0x0c, 0x04), or(is(0, 0xf0, 0xc0), is(0, 0xf0, 0xd0)))), addr(10));
        // Not a control frame; management frames: SA is address 2, DA address 1; data frames
        // by their DS bits.
        let src = || {
            and(
                not(set(0, 0x04)),
                or(
                    and(not(set(0, 0x08)), addr(10)),
                    and(
                        set(0, 0x08),
                        or(
                            and(not(set(1, 0x02)), addr(10)),
                            and(
                                set(1, 0x02),
                                or(and(not(set(1, 0x01)), addr(16)), and(set(1, 0x01), addr(24))),
                            ),
                        ),
                    ),
                ),
            )
        };
        let dst = || self.wlan_dst(&addr);
        match dir {
            Dir::Addr1 => addr(4),
            Dir::Addr2 => addr2(),
            Dir::Addr3 => and(not(is(0, 0x0c, 0x04)), addr(16)),
            Dir::Addr4 => and(is(1, 0x03, 0x03), addr(24)),
            Dir::Ra => and(set(0, 0x08), addr(4)),
            Dir::Ta => and(set(0, 0x08), addr2()),
            Dir::Src => src(),
            Dir::Dst => dst(),
            Dir::SrcOrDst => or(src(), dst()),
            Dir::SrcAndDst => and(src(), dst()),
        }
    }

    /// The destination address test of 802.11 (`at` tests the address at an offset): not a
    /// control frame; address 1 for management frames and for data frames not to the DS,
    /// address 3 for data frames to the DS.
    pub(super) fn wlan_dst(&self, at: &dyn Fn(u32) -> F) -> F {
        let set = |byte: u32, bit: u32| test(self.wlan_ld(1, byte), Cond::Set, bit);
        and(
            not(set(0, 0x04)),
            or(
                and(not(set(0, 0x08)), at(4)),
                and(set(0, 0x08), or(and(not(set(1, 0x01)), at(4)), and(set(1, 0x01), at(16)))),
            ),
        )
    }

    /// `size` bytes at `off` in the 802.11 header.
    pub(super) fn wlan_ld(&self, size: u8, off: u32) -> V {
        match self.link.radio {
            None | Some(Radio::Bare) => ld(size, off),
            Some(r) => V::LdX { size, off, x: Box::new(V::WlanHdr(r)) },
        }
    }

    pub(super) fn decnet(&self, dir: Dir, id: &Id, id_span: Span) -> R<F> {
        let addr = match id {
            Id::Dotted(p) if p.len() == 2 && p[0] <= 63 && p[1] <= 1023 => (p[0] << 10) | p[1],
            _ => {
                return Err(bad_value(
                    id_span,
                    "invalid DECnet address: it is AREA.NODE (AREA <= 63, NODE <= 1023)",
                ));
            }
        };
        let nl = self.link.nl();
        // The address is stored little-endian.
        let le = ((addr & 0xff) << 8) | (addr >> 8);
        // The address's offset after each of the four header forms (short or long, with or
        // without a padding byte), as libpcap's `gen_dnhostop` tests them.
        let side = |at: [u32; 4]| {
            any([
                and(self.mcmp(1, nl + 2, 0x07, 0x02), self.cmp(2, nl + at[0], le)),
                and(self.mcmp(2, nl + 2, 0xff07, 0x8102), self.cmp(2, nl + at[1], le)),
                and(self.mcmp(1, nl + 2, 0x07, 0x06), self.cmp(2, nl + at[2], le)),
                and(self.mcmp(2, nl + 2, 0xff07, 0x8106), self.cmp(2, nl + at[3], le)),
            ])
        };
        Ok(and(self.linktype(ETHERTYPE_DN), dirop(dir, side([5, 6, 17, 18]), side([3, 4, 9, 10]))))
    }

    pub(super) fn proto_kind(
        &self,
        proto: Option<Proto>,
        span: Span,
        id: &Id,
        id_span: Span,
    ) -> R<F> {
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
                // Any link layer: where it cannot carry `n`, the test is false (as libpcap's).
                at_most(n, 0xffff, id_span, "EtherType")?;
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
                at_most(n, 255, id_span, "ISO protocol")?;
                Ok(self.iso_proto(n))
            }
            Some(Proto::Isis) => {
                let n = num_or_name(id, id_span, |_| None, "IS-IS PDU type")?;
                at_most(n, 31, id_span, "IS-IS PDU type")?;
                Ok(and(self.iso_proto(ISO_ISIS), self.mcmp(1, self.link.nosnap + 4, 0x1f, n)))
            }
            None | Some(Proto::Ip) | Some(Proto::Ip6) => {
                let n = num_or_name(id, id_span, ip_proto_name, "IP protocol")?;
                at_most(n, 255, id_span, "IP protocol")?;
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

    pub(super) fn port_range(&self, id: &Id, span: Span, range: bool) -> R<(u32, u32)> {
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
            at_most(p, 65535, span, "port")?;
        }
        Ok((lo.min(hi), lo.max(hi)))
    }

    pub(super) fn port(
        &self,
        proto: Option<Proto>,
        span: Span,
        dir: Dir,
        lo: u32,
        hi: u32,
    ) -> R<F> {
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
                    format!("`{} port`: ports belong to tcp, udp and sctp", Proto::name(p)),
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
            let at = |o: u32| V::LdX { size: 2, off: nl + o, x: Box::new(self.msh()) };
            all([
                self.linktype(ETHERTYPE_IP),
                any(protos.iter().map(|&p| self.cmp(1, nl + 9, p))),
                self.not_frag(),
                dirop(dir, field(at(0)), field(at(2))),
            ])
        };
        let v6 = || {
            all([
                self.linktype(ETHERTYPE_IPV6),
                any(protos.iter().map(|&p| self.cmp(1, nl + 6, p))),
                dirop(dir, field(self.ld(2, nl + 40)), field(self.ld(2, nl + 42))),
            ])
        };
        Ok(or(v6(), v4()))
    }
}

/// `src`, `dst`, `src or dst`, `src and dst` over the two sides.
pub(super) fn dirop(dir: Dir, src: F, dst: F) -> F {
    match dir {
        Dir::Src => src,
        Dir::Dst => dst,
        Dir::SrcOrDst => or(src, dst),
        Dir::SrcAndDst => and(src, dst),
        // `Gen::qualified` refuses the 802.11 address qualifiers everywhere but 802.11 hosts,
        // which `Gen::wlan_host` writes.
        Dir::Addr1 | Dir::Addr2 | Dir::Addr3 | Dir::Addr4 | Dir::Ra | Dir::Ta => F::Const(false),
    }
}

/// An IPv4 address and the mask its spelling implies (libpcap's rules: dotted parts fill from
/// the left; a plain number that is a network is shifted up past its zero high bytes).
pub(super) fn ipv4_of(id: &Id, span: Span, net: bool) -> R<(u32, u32)> {
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
            let mask = if bits == 32 { u32::MAX } else { !(u32::MAX >> bits) };
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

pub(super) fn num_or_name(
    id: &Id,
    span: Span,
    names: fn(&str) -> Option<u32>,
    what: &str,
) -> R<u32> {
    match id {
        Id::Num(n) => Ok(*n),
        Id::Name(s) => names(s).ok_or_else(|| bad_value(span, format!("unknown {what} `{s}`"))),
        _ => Err(bad_value(span, format!("a {what} is a number or a name"))),
    }
}
