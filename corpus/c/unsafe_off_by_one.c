/* UNSAFE: TCP SYNs to port 22 over IPv4 without options; the length check is one byte short of
 * the flags byte it guards (offset 47 needs 48 bytes). */
#include "udf.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IPPROTO_TCP 6
#define TCP_FLAG_SYN 0x02

SEC("filter")
unsigned long ssh_syn(const unsigned char *pkt, unsigned long len, unsigned long wirelen)
{
	const u8 *ip = pkt + ETH_HLEN;
	const u8 *th = ip + 20;

	if (len < ETH_HLEN + 20 + 13)
		return 0;
	if (get_be16(pkt + 12) != ETH_P_IP || ip[0] != 0x45 || ip[9] != IPPROTO_TCP)
		return 0;
	if (get_be16(th + 2) != 22)
		return 0;
	return th[13] & TCP_FLAG_SYN ? wirelen : 0; /* UNSAFE */
}
