//! Protocol numbers and the names libpcap knows (EtherTypes, LLC SAPs, IP protocols, ISO
//! protocols, services).

pub(super) const ETHERTYPE_IP: u32 = 0x0800;
pub(super) const ETHERTYPE_IPV6: u32 = 0x86dd;
/// Transparent Ethernet Bridging: Geneve carrying an Ethernet frame.
pub(super) const ETHERTYPE_TEB: u32 = 0x6558;
pub(super) const ETHERTYPE_ARP: u32 = 0x0806;
pub(super) const ETHERTYPE_REVARP: u32 = 0x8035;
pub(super) const ETHERTYPE_ATALK: u32 = 0x809b;
pub(super) const ETHERTYPE_AARP: u32 = 0x80f3;
pub(super) const ETHERTYPE_IPX: u32 = 0x8137;
pub(super) const ETHERTYPE_DN: u32 = 0x6003;
pub(super) const ETHERTYPE_LAT: u32 = 0x6004;
pub(super) const ETHERTYPE_SCA: u32 = 0x6007;
pub(super) const ETHERTYPE_MOPRC: u32 = 0x6002;
pub(super) const ETHERTYPE_MOPDL: u32 = 0x6001;
pub(super) const ETHERTYPE_PPPOED: u32 = 0x8863;
pub(super) const ETHERTYPE_PPPOES: u32 = 0x8864;
pub(super) const ETHERTYPE_NS: u32 = 0x0600;
pub(super) const ETHERTYPE_MPLS: u32 = 0x8847;
pub(super) const ETHERMTU: u32 = 1500;
pub(super) const LLCSAP_ISONS: u32 = 0xfe;
pub(super) const LLCSAP_IP: u32 = 0x06;
pub(super) const LLCSAP_NETBEUI: u32 = 0xf0;
pub(super) const LLCSAP_8021D: u32 = 0x42;
pub(super) const LLCSAP_IPX: u32 = 0xe0;

pub(super) const IPPROTO_ICMP: u32 = 1;
pub(super) const IPPROTO_IGMP: u32 = 2;
pub(super) const IPPROTO_TCP: u32 = 6;
pub(super) const IPPROTO_IGRP: u32 = 9;
pub(super) const IPPROTO_UDP: u32 = 17;
pub(super) const IPPROTO_FRAGMENT: u32 = 44;
pub(super) const IPPROTO_ESP: u32 = 50;
pub(super) const IPPROTO_AH: u32 = 51;
pub(super) const IPPROTO_ICMPV6: u32 = 58;
pub(super) const IPPROTO_PIM: u32 = 103;
pub(super) const IPPROTO_VRRP: u32 = 112;
pub(super) const IPPROTO_SCTP: u32 = 132;

pub(super) const ISO_CLNP: u32 = 0x81;
pub(super) const ISO_ESIS: u32 = 0x82;
pub(super) const ISO_ISIS: u32 = 0x83;

pub(super) fn ppp_proto(ethertype: u32) -> u32 {
    match ethertype {
        ETHERTYPE_IP => 0x0021,
        ETHERTYPE_IPV6 => 0x0057,
        ETHERTYPE_DN => 0x0027,
        ETHERTYPE_ATALK => 0x0029,
        ETHERTYPE_NS => 0x0025,
        LLCSAP_IPX => 0x002b,
        LLCSAP_ISONS => 0x0023,
        LLCSAP_8021D => 0x0031,
        ETHERTYPE_MPLS => 0x0281,
        // Anything else is compared as is.
        other => other,
    }
}

/// Ethernet protocol names (libpcap's `pcap_nametoeproto` and `pcap_nametollc`).
pub(super) fn ether_proto(s: &str) -> Option<u32> {
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
        // libpcap names IPX by its LLC SAP (which on Ethernet also matches the IPX type).
        "ipx" => LLCSAP_IPX,
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

pub(super) fn iso_proto_name(s: &str) -> Option<u32> {
    Some(match s {
        "clnp" => ISO_CLNP,
        "esis" | "es-is" => ISO_ESIS,
        "isis" | "is-is" => ISO_ISIS,
        _ => return None,
    })
}

/// IP protocol names (the usual `/etc/protocols` entries).
pub(super) fn ip_proto_name(s: &str) -> Option<u32> {
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
pub(super) fn service_port(s: &str) -> Option<u32> {
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
