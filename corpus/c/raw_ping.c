/* Pings on a raw-IP link (link type 101: a packet starts with its IP header): ICMP echo
 * requests over IPv4 (any header length, first fragments only) and ICMPv6 echo requests over
 * IPv6 without extension headers. */
#include "udf.h"

#define IPPROTO_ICMP 1
#define IPPROTO_ICMPV6 58
#define IP_OFFMASK 0x1fff
#define ICMP_ECHO 8
#define ICMPV6_ECHO_REQUEST 128
#define IPV6_HLEN 40

SEC("filter")
unsigned long raw_ping(const unsigned char *pkt, unsigned long len, unsigned long wirelen)
{
	unsigned long ihl;

	if (len < 1)
		return 0;
	switch (pkt[0] >> 4) {
	case 4:
		if (len < 20)
			return 0;
		ihl = (pkt[0] & 0x0f) * 4;
		if (ihl < 20 || pkt[9] != IPPROTO_ICMP || (get_be16(pkt + 6) & IP_OFFMASK))
			return 0;
		if (len <= ihl)
			return 0;
		return pkt[ihl] == ICMP_ECHO ? wirelen : 0;
	case 6:
		if (len <= IPV6_HLEN)
			return 0;
		return pkt[6] == IPPROTO_ICMPV6 && pkt[IPV6_HLEN] == ICMPV6_ECHO_REQUEST ? wirelen : 0;
	}
	return 0;
}
