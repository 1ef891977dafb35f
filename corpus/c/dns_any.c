/* DNS queries for QTYPE ANY (255) over UDP/IPv4 to port 53: the queries reflection attacks
 * use. Checks the header (a standard query with one question), walks the QNAME labels with a
 * bounded loop (no compression pointers in a question) and reads the QTYPE after it. */
#include "udf.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IPPROTO_UDP 17
#define IP_OFFMASK 0x1fff
#define UDP_HLEN 8
#define DNS_HLEN 12
#define DNS_PORT 53

#define DNS_QR 0x8000
#define DNS_OPCODE 0x7800
#define DNS_MAX_LABELS 127
#define DNS_MAX_LABEL_LEN 63
#define DNS_MAX_NAME_LEN 255
#define DNS_TYPE_ANY 255

/* Offset just past the name starting at `off`, 0 if it is malformed or not captured. */
static __attribute__((noinline)) unsigned long dns_name_end(const u8 *pkt, unsigned long len, unsigned long off)
{
	unsigned long start = off;
	int i;

	for (i = 0; i < DNS_MAX_LABELS; i++) {
		u8 label;

		if (off >= len)
			return 0;
		label = pkt[off];
		if (label == 0)
			return off + 1;
		if (label > DNS_MAX_LABEL_LEN)
			return 0;
		off += label + 1;
		if (off - start > DNS_MAX_NAME_LEN)
			return 0;
	}
	return 0;
}

SEC("filter")
unsigned long dns_any(const unsigned char *pkt, unsigned long len, unsigned long wirelen)
{
	const u8 *ip = pkt + ETH_HLEN;
	unsigned long ihl, udp, dns, q;
	u16 flags;

	if (len < ETH_HLEN + 20)
		return 0;
	if (get_be16(pkt + 12) != ETH_P_IP || (ip[0] >> 4) != 4 || ip[9] != IPPROTO_UDP)
		return 0;
	if (get_be16(ip + 6) & IP_OFFMASK)
		return 0;
	ihl = (ip[0] & 0x0f) * 4;
	if (ihl < 20)
		return 0;

	udp = ETH_HLEN + ihl;
	dns = udp + UDP_HLEN;
	if (len < dns + DNS_HLEN + 1)
		return 0;
	if (get_be16(pkt + udp + 2) != DNS_PORT)
		return 0;

	flags = get_be16(pkt + dns + 2);
	if (flags & (DNS_QR | DNS_OPCODE))
		return 0;
	if (get_be16(pkt + dns + 4) != 1)
		return 0;
	if (pkt[dns + DNS_HLEN] == 0 || pkt[dns + DNS_HLEN] > DNS_MAX_LABEL_LEN)
		return 0;

	q = dns_name_end(pkt, len, dns + DNS_HLEN);
	if (!q || q + 4 > len)
		return 0;
	return get_be16(pkt + q) == DNS_TYPE_ANY ? wirelen : 0;
}
