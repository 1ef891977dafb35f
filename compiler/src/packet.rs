//! The built-in packet views (`p.ether`, `p.ipv4`, `p.tcp`, ...): big-endian layouts at a fixed
//! offset or after the IPv4 header, and the raw accessors (`p.u8[i]`, `p.u16be[i]`, `p.u32be[i]`).

use crate::ast::Order;
use crate::items::{Field, FieldTy, Layout, Scalar};

/// Where a view starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViewBase {
    /// At this byte of the packet.
    Fixed(u32),
    /// After the IPv4 header (14 + 4 * IHL): the transport header.
    Transport,
}

/// The offset of the IPv4 header, and so of IHL's byte.
pub const IPV4: u32 = 14;

type FieldSpec = (&'static str, Scalar, Option<u32>, u32);

const ETHER: &[FieldSpec] = &[
    ("dst", Scalar::U8, Some(6), 0),
    ("src", Scalar::U8, Some(6), 6),
    ("type", Scalar::U16, None, 12),
];
const VLAN: &[FieldSpec] = &[
    ("tci", Scalar::U16, None, 0),
    ("type", Scalar::U16, None, 2),
];
const ARP: &[FieldSpec] = &[
    ("htype", Scalar::U16, None, 0),
    ("ptype", Scalar::U16, None, 2),
    ("hlen", Scalar::U8, None, 4),
    ("plen", Scalar::U8, None, 5),
    ("op", Scalar::U16, None, 6),
    ("sha", Scalar::U8, Some(6), 8),
    ("spa", Scalar::U32, None, 14),
    ("tha", Scalar::U8, Some(6), 18),
    ("tpa", Scalar::U32, None, 24),
];
const IPV4_FIELDS: &[FieldSpec] = &[
    ("vihl", Scalar::U8, None, 0),
    ("tos", Scalar::U8, None, 1),
    ("len", Scalar::U16, None, 2),
    ("id", Scalar::U16, None, 4),
    ("frag", Scalar::U16, None, 6),
    ("ttl", Scalar::U8, None, 8),
    ("proto", Scalar::U8, None, 9),
    ("csum", Scalar::U16, None, 10),
    ("src", Scalar::U32, None, 12),
    ("dst", Scalar::U32, None, 16),
];
const IPV6: &[FieldSpec] = &[
    ("vtcfl", Scalar::U32, None, 0),
    ("plen", Scalar::U16, None, 4),
    ("next", Scalar::U8, None, 6),
    ("hlim", Scalar::U8, None, 7),
    ("src", Scalar::U8, Some(16), 8),
    ("dst", Scalar::U8, Some(16), 24),
];
const TCP: &[FieldSpec] = &[
    ("src", Scalar::U16, None, 0),
    ("dst", Scalar::U16, None, 2),
    ("seq", Scalar::U32, None, 4),
    ("ack", Scalar::U32, None, 8),
    ("off", Scalar::U8, None, 12),
    ("flags", Scalar::U8, None, 13),
    ("win", Scalar::U16, None, 14),
    ("csum", Scalar::U16, None, 16),
    ("urp", Scalar::U16, None, 18),
];
const UDP: &[FieldSpec] = &[
    ("src", Scalar::U16, None, 0),
    ("dst", Scalar::U16, None, 2),
    ("len", Scalar::U16, None, 4),
    ("csum", Scalar::U16, None, 6),
];
const ICMP: &[FieldSpec] = &[
    ("type", Scalar::U8, None, 0),
    ("code", Scalar::U8, None, 1),
    ("csum", Scalar::U16, None, 2),
];

/// The views: name, base, fields.
pub const VIEWS: &[(&str, ViewBase, &[FieldSpec])] = &[
    ("ether", ViewBase::Fixed(0), ETHER),
    ("vlan", ViewBase::Fixed(14), VLAN),
    ("arp", ViewBase::Fixed(14), ARP),
    ("ipv4", ViewBase::Fixed(IPV4), IPV4_FIELDS),
    ("ipv6", ViewBase::Fixed(14), IPV6),
    ("tcp", ViewBase::Transport, TCP),
    ("udp", ViewBase::Transport, UDP),
    ("icmp", ViewBase::Transport, ICMP),
];

/// Raw accessors: name and the scalar each reads (big-endian).
pub const RAW: &[(&str, Scalar)] = &[
    ("u8", Scalar::U8),
    ("u16be", Scalar::U16),
    ("u32be", Scalar::U32),
];

/// A view as a layout (big-endian fields).
pub fn view_layout(name: &str, fields: &[FieldSpec]) -> Layout {
    let fields: Vec<Field> = fields
        .iter()
        .map(|&(n, s, arr, off)| Field {
            name: n.to_string(),
            ty: match arr {
                Some(len) => FieldTy::Array(Box::new(FieldTy::Scalar(s)), len),
                None => FieldTy::Scalar(s),
            },
            offset: off,
            order: Order::Be,
        })
        .collect();
    let size = fields
        .iter()
        .map(|f| {
            f.offset
                + match &f.ty {
                    FieldTy::Array(_, n) => *n,
                    FieldTy::Scalar(s) => s.bytes(),
                    FieldTy::Layout(_) => 0,
                }
        })
        .max()
        .unwrap_or(0);
    Layout {
        name: format!("packet.{name}"),
        size,
        fields,
    }
}

/// The request an `acl` program is given before the object.
pub fn request_layout() -> Layout {
    let f = |name: &str, s, offset| Field {
        name: name.to_string(),
        ty: FieldTy::Scalar(s),
        offset,
        order: Order::Le,
    };
    Layout {
        name: "request".to_string(),
        size: 16,
        fields: vec![
            f("principal", Scalar::U64, 0),
            f("op", Scalar::U32, 8),
            f("reserved", Scalar::U32, 12),
        ],
    }
}
