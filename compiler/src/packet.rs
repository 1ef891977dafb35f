//! The built-in packet views (`p.ether`, `p.ipv4`, `p.tcp`, ...): big-endian layouts at a fixed
//! offset or after the IPv4 header, and the raw accessors (`p.u8[i]`, `p.u16be[i]`, `p.u32be[i]`).

use crate::ast::Order;
use crate::items::{FieldTy, Layout, LayoutField, ScalarType};

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

type FieldSpec = (&'static str, ScalarType, Option<u32>, u32);

const ETHER: &[FieldSpec] = &[
    ("dst", ScalarType::U8, Some(6), 0),
    ("src", ScalarType::U8, Some(6), 6),
    ("type", ScalarType::U16, None, 12),
];
const VLAN: &[FieldSpec] = &[("tci", ScalarType::U16, None, 0), ("type", ScalarType::U16, None, 2)];
const ARP: &[FieldSpec] = &[
    ("htype", ScalarType::U16, None, 0),
    ("ptype", ScalarType::U16, None, 2),
    ("hlen", ScalarType::U8, None, 4),
    ("plen", ScalarType::U8, None, 5),
    ("op", ScalarType::U16, None, 6),
    ("sha", ScalarType::U8, Some(6), 8),
    ("spa", ScalarType::U32, None, 14),
    ("tha", ScalarType::U8, Some(6), 18),
    ("tpa", ScalarType::U32, None, 24),
];
const IPV4_FIELDS: &[FieldSpec] = &[
    ("vihl", ScalarType::U8, None, 0),
    ("tos", ScalarType::U8, None, 1),
    ("len", ScalarType::U16, None, 2),
    ("id", ScalarType::U16, None, 4),
    ("frag", ScalarType::U16, None, 6),
    ("ttl", ScalarType::U8, None, 8),
    ("proto", ScalarType::U8, None, 9),
    ("csum", ScalarType::U16, None, 10),
    ("src", ScalarType::U32, None, 12),
    ("dst", ScalarType::U32, None, 16),
];
const IPV6: &[FieldSpec] = &[
    ("vtcfl", ScalarType::U32, None, 0),
    ("plen", ScalarType::U16, None, 4),
    ("next", ScalarType::U8, None, 6),
    ("hlim", ScalarType::U8, None, 7),
    ("src", ScalarType::U8, Some(16), 8),
    ("dst", ScalarType::U8, Some(16), 24),
];
const TCP: &[FieldSpec] = &[
    ("src", ScalarType::U16, None, 0),
    ("dst", ScalarType::U16, None, 2),
    ("seq", ScalarType::U32, None, 4),
    ("ack", ScalarType::U32, None, 8),
    ("off", ScalarType::U8, None, 12),
    ("flags", ScalarType::U8, None, 13),
    ("win", ScalarType::U16, None, 14),
    ("csum", ScalarType::U16, None, 16),
    ("urp", ScalarType::U16, None, 18),
];
const UDP: &[FieldSpec] = &[
    ("src", ScalarType::U16, None, 0),
    ("dst", ScalarType::U16, None, 2),
    ("len", ScalarType::U16, None, 4),
    ("csum", ScalarType::U16, None, 6),
];
const ICMP: &[FieldSpec] = &[
    ("type", ScalarType::U8, None, 0),
    ("code", ScalarType::U8, None, 1),
    ("csum", ScalarType::U16, None, 2),
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
pub const RAW: &[(&str, ScalarType)] =
    &[("u8", ScalarType::U8), ("u16be", ScalarType::U16), ("u32be", ScalarType::U32)];

/// A view as a layout (big-endian fields).
pub fn view_layout(name: &str, fields: &[FieldSpec]) -> Layout {
    let fields: Vec<LayoutField> = fields
        .iter()
        .map(|&(n, s, arr, off)| LayoutField {
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
    Layout { name: format!("packet.{name}"), size, fields }
}

/// The request an `acl` program is given before the object.
pub fn request_layout() -> Layout {
    let f = |name: &str, s, offset| LayoutField {
        name: name.to_string(),
        ty: FieldTy::Scalar(s),
        offset,
        order: Order::Le,
    };
    Layout {
        name: "request".to_string(),
        size: 16,
        fields: vec![
            f("principal", ScalarType::U64, 0),
            f("op", ScalarType::U32, 8),
            f("reserved", ScalarType::U32, 12),
        ],
    }
}
