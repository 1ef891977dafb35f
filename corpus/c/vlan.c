/* 802.1Q and 802.1ad (QinQ) tagged Ethernet, XDP style: struct pointers checked against the end
 * of the packet. Accepts IPv4 and IPv6 frames whose outer VLAN is 100-199 (up to two tags). */
#include "udf.h"

#define ETH_ALEN 6
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86dd
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88a8
#define VLAN_VID_MASK 0x0fff
#define VLAN_MAX_DEPTH 2

struct ethhdr {
	u8 h_dest[ETH_ALEN];
	u8 h_source[ETH_ALEN];
	u16 h_proto;
};

struct vlan_hdr {
	u16 h_vlan_TCI;
	u16 h_vlan_encapsulated_proto;
};

static inline int proto_is_vlan(u16 h_proto)
{
	return h_proto == be16_to_cpu(ETH_P_8021Q) || h_proto == be16_to_cpu(ETH_P_8021AD);
}

SEC("filter")
unsigned long vlan_ip(const unsigned char *pkt, unsigned long len, unsigned long wirelen)
{
	const void *data = pkt;
	const void *data_end = pkt + len;
	const struct ethhdr *eth = data;
	const struct vlan_hdr *vh;
	int outer_vid = -1;
	u16 proto;
	int i;

	if ((const void *)(eth + 1) > data_end)
		return 0;
	proto = eth->h_proto;
	vh = (const void *)(eth + 1);

	for (i = 0; i < VLAN_MAX_DEPTH; i++) {
		if (!proto_is_vlan(proto))
			break;
		if ((const void *)(vh + 1) > data_end)
			return 0;
		if (outer_vid < 0)
			outer_vid = be16_to_cpu(vh->h_vlan_TCI) & VLAN_VID_MASK;
		proto = vh->h_vlan_encapsulated_proto;
		vh++;
	}

	if (outer_vid < 100 || outer_vid > 199)
		return 0;
	if (proto != be16_to_cpu(ETH_P_IP) && proto != be16_to_cpu(ETH_P_IPV6))
		return 0;
	return wirelen;
}
