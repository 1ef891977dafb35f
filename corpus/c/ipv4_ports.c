/* Ethernet + IPv4 with options (the header length comes from IHL), then a TCP or UDP
 * destination port test: ssh, http, https over TCP; dns, ntp over UDP. Later fragments carry
 * no transport header and are dropped. */
#include "udf.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IP_OFFMASK 0x1fff

SEC("filter")
unsigned long ipv4_ports(const unsigned char *pkt, unsigned long len, unsigned long wirelen)
{
	const u8 *ip = pkt + ETH_HLEN;
	unsigned long ihl, l4;
	u16 dport;

	if (len < ETH_HLEN + 20)
		return 0;
	if (get_be16(pkt + 12) != ETH_P_IP)
		return 0;
	if ((ip[0] >> 4) != 4)
		return 0;
	ihl = (ip[0] & 0x0f) * 4;
	if (ihl < 20)
		return 0;
	if (get_be16(ip + 6) & IP_OFFMASK)
		return 0;

	l4 = ETH_HLEN + ihl;
	if (len < l4 + 4)
		return 0;
	dport = get_be16(pkt + l4 + 2);

	switch (ip[9]) {
	case IPPROTO_TCP:
		if (dport == 22 || dport == 80 || dport == 443)
			return wirelen;
		break;
	case IPPROTO_UDP:
		if (dport == 53 || dport == 123)
			return wirelen;
		break;
	}
	return 0;
}
