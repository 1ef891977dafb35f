/* VXLAN (RFC 7348) over UDP/IPv4: accepts the frames of one tenant network (VNI 100) that carry
 * ARP, or IPv4 ICMP or TCP. Offsets are 32-bit, as kernel parsers usually keep them. */
#include "udf.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IP_OFFMASK 0x1fff
#define UDP_HLEN 8
#define VXLAN_PORT 4789
#define VXLAN_HLEN 8
#define VXLAN_FLAG_VNI 0x08
#define TENANT_VNI 100

SEC("filter")
unsigned long vxlan_tenant(const unsigned char *pkt, unsigned long len, unsigned long wirelen)
{
	u32 off = ETH_HLEN;
	u32 ihl, vni;
	u16 proto;

	if (len < off + 20)
		return 0;
	if (get_be16(pkt + 12) != ETH_P_IP || pkt[off + 9] != IPPROTO_UDP)
		return 0;
	if (get_be16(pkt + off + 6) & IP_OFFMASK)
		return 0;
	ihl = (pkt[off] & 0x0f) << 2;
	if (ihl < 20)
		return 0;
	off += ihl;

	if (len < off + UDP_HLEN + VXLAN_HLEN)
		return 0;
	if (get_be16(pkt + off + 2) != VXLAN_PORT)
		return 0;
	off += UDP_HLEN;
	if (!(pkt[off] & VXLAN_FLAG_VNI))
		return 0;
	vni = get_be32(pkt + off + 4) >> 8;
	if (vni != TENANT_VNI)
		return 0;
	off += VXLAN_HLEN;

	/* The inner frame. */
	if (len < off + ETH_HLEN)
		return 0;
	proto = get_be16(pkt + off + 12);
	off += ETH_HLEN;
	if (proto == ETH_P_ARP)
		return wirelen;
	if (proto != ETH_P_IP || len < off + 20)
		return 0;
	switch (pkt[off + 9]) {
	case IPPROTO_ICMP:
	case IPPROTO_TCP:
		return wirelen;
	}
	return 0;
}
