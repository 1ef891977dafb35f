/* IPv4 TCP SYNs whose MSS option is below 1400: the signature of a path with a small MTU
 * (a tunnel) or of MSS clamping. Walks the TCP options with a bounded loop. */
#include "udf.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define IPPROTO_TCP 6
#define IP_OFFMASK 0x1fff

#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_ACK 0x10

#define TCPOPT_EOL 0
#define TCPOPT_NOP 1
#define TCPOPT_MSS 2
#define TCPOLEN_MSS 4
#define MAX_TCP_OPTLEN 40

/* The MSS option's value, 0 when there is none or the options are malformed. The options are
 * the bytes [opt, end) of the packet, which the caller has checked are captured. */
static __attribute__((noinline)) unsigned int tcp_mss(const u8 *pkt, unsigned long opt, unsigned long end)
{
	int i;

	for (i = 0; i < MAX_TCP_OPTLEN && opt < end; i++) {
		u8 kind = pkt[opt];
		u8 optlen;

		if (kind == TCPOPT_EOL)
			break;
		if (kind == TCPOPT_NOP) {
			opt++;
			continue;
		}
		if (opt + 1 >= end)
			return 0;
		optlen = pkt[opt + 1];
		if (optlen < 2 || opt + optlen > end)
			return 0;
		if (kind == TCPOPT_MSS && optlen == TCPOLEN_MSS)
			return get_be16(pkt + opt + 2);
		opt += optlen;
	}
	return 0;
}

SEC("filter")
unsigned long tcp_small_mss(const unsigned char *pkt, unsigned long len, unsigned long wirelen)
{
	const u8 *ip = pkt + ETH_HLEN;
	unsigned long ihl, th, doff;
	unsigned int mss;

	if (len < ETH_HLEN + 20)
		return 0;
	if (get_be16(pkt + 12) != ETH_P_IP || ip[0] >> 4 != 4 || ip[9] != IPPROTO_TCP)
		return 0;
	if (get_be16(ip + 6) & IP_OFFMASK)
		return 0;
	ihl = (ip[0] & 0xf) << 2;
	if (ihl < 20)
		return 0;

	th = ETH_HLEN + ihl;
	if (len < th + 20)
		return 0;
	if ((pkt[th + 13] & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return 0;
	doff = (pkt[th + 12] >> 4) << 2;
	if (doff < 20 || len < th + doff)
		return 0;

	mss = tcp_mss(pkt, th + 20, th + doff);
	if (mss == 0 || mss >= 1400)
		return 0;
	return wirelen;
}
