/* Ethernet + IPv4 + TCP in the XDP style: each header a struct
 * pointer checked against the end of the packet, the IPv4 header's length from IHL. Accepts TCP
 * segments with SYN set to port 22, 80 or 443. */
#include "udf.h"

#define ETH_P_IP 0x0800
#define IPPROTO_TCP 6

struct ethhdr {
	u8 h_dest[6];
	u8 h_source[6];
	u16 h_proto;
};

struct iphdr {
	u8 version_ihl; /* version in the high nibble, header length in 32-bit words in the low */
	u8 tos;
	u16 tot_len;
	u16 id;
	u16 frag_off;
	u8 ttl;
	u8 protocol;
	u16 check;
	u8 saddr[4];
	u8 daddr[4];
};

struct tcphdr {
	u16 source;
	u16 dest;
	u8 seq[4];
	u8 ack_seq[4];
	u8 doff_res;
	u8 flags;
	u16 window;
	u16 check;
	u16 urg_ptr;
};

SEC("filter")
unsigned long xdp_syn(const unsigned char *pkt, unsigned long len, unsigned long wirelen)
{
	const void *data_end = pkt + len;
	const struct ethhdr *eth = (const void *)pkt;
	const struct iphdr *iph;
	const struct tcphdr *th;
	unsigned int hdrsize;
	u16 dport;

	if ((const void *)(eth + 1) > data_end)
		return 0;
	if (eth->h_proto != be16_to_cpu(ETH_P_IP))
		return 0;
	iph = (const void *)(eth + 1);
	if ((const void *)(iph + 1) > data_end)
		return 0;
	hdrsize = (iph->version_ihl & 0x0f) * 4;
	if (hdrsize < sizeof(*iph))
		return 0;
	if ((const void *)iph + hdrsize > data_end)
		return 0;
	if (iph->protocol != IPPROTO_TCP || (iph->frag_off & be16_to_cpu(0x1fff)))
		return 0;
	th = (const void *)iph + hdrsize;
	if ((const void *)(th + 1) > data_end)
		return 0;
	if (!(th->flags & 0x02))
		return 0;
	dport = be16_to_cpu(th->dest);
	return dport == 22 || dport == 80 || dport == 443 ? wirelen : 0;
}
