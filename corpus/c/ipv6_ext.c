/* Ethernet + IPv6: walk the extension headers (hop-by-hop, routing, destination options,
 * fragment) to the transport header and accept TCP to port 80 or 443. The walk stops after
 * IPV6_MAX_EXT headers, as a kernel parser would. */
#include "udf.h"

#define ETH_HLEN 14
#define ETH_P_IPV6 0x86dd
#define IPV6_HLEN 40

#define NEXTHDR_HOP 0
#define NEXTHDR_TCP 6
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_DEST 60

#define IPV6_MAX_EXT 8

/* Offset of the transport header, its protocol in *proto; 0 when the chain is truncated, too
 * long, or the packet is a later fragment. The caller has checked the fixed IPv6 header. */
static __attribute__((noinline)) unsigned long
ipv6_transport(const u8 *pkt, unsigned long len, unsigned int *proto)
{
	unsigned long off = ETH_HLEN + IPV6_HLEN;
	unsigned int nexthdr = pkt[ETH_HLEN + 6];
	int i;

	for (i = 0; i < IPV6_MAX_EXT; i++) {
		switch (nexthdr) {
		case NEXTHDR_HOP:
		case NEXTHDR_ROUTING:
		case NEXTHDR_DEST:
			if (off + 8 > len)
				return 0;
			nexthdr = pkt[off];
			off += (pkt[off + 1] + 1) * 8;
			break;
		case NEXTHDR_FRAGMENT:
			if (off + 8 > len)
				return 0;
			if (get_be16(pkt + off + 2) & 0xfff8)
				return 0;
			nexthdr = pkt[off];
			off += 8;
			break;
		default:
			*proto = nexthdr;
			return off;
		}
	}
	return 0;
}

SEC("filter")
unsigned long ipv6_tcp_web(const unsigned char *pkt, unsigned long len, unsigned long wirelen)
{
	unsigned int proto = 0;
	unsigned long off;
	u16 dport;

	if (len < ETH_HLEN + IPV6_HLEN)
		return 0;
	if (get_be16(pkt + 12) != ETH_P_IPV6)
		return 0;
	if ((pkt[ETH_HLEN] >> 4) != 6)
		return 0;

	off = ipv6_transport(pkt, len, &proto);
	if (!off || proto != NEXTHDR_TCP)
		return 0;
	if (off + 4 > len)
		return 0;
	dport = get_be16(pkt + off + 2);
	return dport == 80 || dport == 443 ? wirelen : 0;
}
