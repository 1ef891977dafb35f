/* UNSAFE: reads the TCP flags at an offset taken from the packet (IHL) after checking only the
 * length of an option-less header. */
#include "udf.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IPPROTO_TCP 6
#define TCP_FLAG_RST 0x04

SEC("filter")
unsigned long tcp_rst(const unsigned char *pkt, unsigned long len, unsigned long wirelen)
{
	const u8 *ip = pkt + ETH_HLEN;
	unsigned long ihl;

	if (len < ETH_HLEN + 20 + 20)
		return 0;
	if (get_be16(pkt + 12) != ETH_P_IP || ip[9] != IPPROTO_TCP)
		return 0;
	ihl = (ip[0] & 0x0f) * 4;
	if (ip[ihl + 13] & TCP_FLAG_RST) /* UNSAFE */
		return wirelen;
	return 0;
}
