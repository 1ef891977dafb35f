/*
 * Hand-written C for the filter benchmark's four expressions (bench/src/filter.rs), as a
 * programmer would write them against libpcap's meaning on Ethernet: big-endian fields,
 * the IPv4 header length from the packet, IPv4 fragments other than the first refused, the
 * IPv6 next header taken as is (no extension headers, as libpcap), and every read checked
 * against the captured length in libpcap's order (a read past the end refuses the packet,
 * as bpf_filter does). Built by bench/build.rs with `gcc -O2`.
 *
 *   filters_c bench N CAPTURE ITERS
 *       loads every packet of the capture (a little-endian pcap file as the benchmark
 *       writes it) into memory, then times ITERS passes of filter N (0-3, in the order of
 *       bench/src/filter.rs) over all of them, one call through a function pointer per
 *       packet (the filter is not inlined into the loop); prints
 *       `ns_per_packet=<float> accepted=<n>`, as tools/pcap_oracle bench does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ACCEPT 262144UL

typedef unsigned long (*filter_fn)(const uint8_t *p, unsigned long len, unsigned long wire);

static inline uint32_t be16(const uint8_t *p)
{
    return (uint32_t)p[0] << 8 | p[1];
}

static inline uint32_t be32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}

/* `tcp port PORT` with the EtherType at `l2`. */
static inline unsigned long tcp_port(const uint8_t *p, unsigned long len, unsigned long l2,
                                     uint32_t port)
{
    if (len < l2 + 2)
        return 0;
    uint32_t type = be16(p + l2);
    unsigned long nh = l2 + 2;
    unsigned long th;
    if (type == 0x86dd) {
        if (len < nh + 7 || p[nh + 6] != 6)
            return 0;
        th = nh + 40;
    } else if (type == 0x0800) {
        if (len < nh + 10 || p[nh + 9] != 6 || (be16(p + nh + 6) & 0x1fff) != 0)
            return 0;
        th = nh + 4 * (p[nh] & 0xf);
    } else {
        return 0;
    }
    if (len < th + 2)
        return 0;
    if (be16(p + th) == port)
        return ACCEPT;
    if (len < th + 4)
        return 0;
    return be16(p + th + 2) == port ? ACCEPT : 0;
}

/* tcp port 80 */
__attribute__((noinline)) unsigned long udf_c_tcp_port_80(const uint8_t *p, unsigned long len,
                                                          unsigned long wire)
{
    (void)wire;
    return tcp_port(p, len, 12, 80);
}

/* host 10.1.2.3 (IPv4 source or destination, ARP and RARP sender or target) */
__attribute__((noinline)) unsigned long udf_c_host(const uint8_t *p, unsigned long len,
                                                   unsigned long wire)
{
    (void)wire;
    const uint32_t host = 0x0a010203;
    if (len < 14)
        return 0;
    uint32_t type = be16(p + 12);
    unsigned long src, dst;
    if (type == 0x0800) {
        src = 26;
        dst = 30;
    } else if (type == 0x0806 || type == 0x8035) {
        src = 28;
        dst = 38;
    } else {
        return 0;
    }
    if (len < src + 4)
        return 0;
    if (be32(p + src) == host)
        return ACCEPT;
    if (len < dst + 4)
        return 0;
    return be32(p + dst) == host ? ACCEPT : 0;
}

/* vlan and tcp port 443 */
__attribute__((noinline)) unsigned long udf_c_vlan_tcp_443(const uint8_t *p, unsigned long len,
                                                           unsigned long wire)
{
    (void)wire;
    if (len < 14)
        return 0;
    uint32_t type = be16(p + 12);
    if (type != 0x8100 && type != 0x88a8 && type != 0x9100)
        return 0;
    return tcp_port(p, len, 16, 443);
}

/* tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn */
__attribute__((noinline)) unsigned long udf_c_syn(const uint8_t *p, unsigned long len,
                                                  unsigned long wire)
{
    (void)wire;
    if (len < 24 || be16(p + 12) != 0x0800 || p[23] != 6 || (be16(p + 20) & 0x1fff) != 0)
        return 0;
    unsigned long flags = 14 + 4 * (p[14] & 0xf) + 13;
    if (len < flags + 1)
        return 0;
    return (p[flags] & 0x12) == 0x02 ? ACCEPT : 0;
}

static filter_fn const filters[4] = {udf_c_tcp_port_80, udf_c_host, udf_c_vlan_tcp_443, udf_c_syn};

/* Read through a volatile pointer, so the compiler cannot inline the chosen filter. */
static filter_fn volatile chosen;

struct packet {
    uint8_t *data;
    unsigned long len, wire;
};

static void die(const char *what)
{
    fprintf(stderr, "filters_c: %s\n", what);
    exit(2);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 5 || strcmp(argv[1], "bench") != 0)
        die("usage: filters_c bench N CAPTURE ITERS");
    int which = atoi(argv[2]);
    if (which < 0 || which > 3)
        die("N must be 0 to 3");
    unsigned long iters = strtoul(argv[4], NULL, 0);
    FILE *f = fopen(argv[3], "rb");
    if (f == NULL)
        die("cannot open the capture");
    uint8_t hdr[24];
    if (fread(hdr, 1, 24, f) != 24 || le32(hdr) != 0xa1b2c3d4)
        die("not a little-endian pcap file");
    size_t n = 0, cap = 1024;
    struct packet *pkts = malloc(cap * sizeof *pkts);
    uint8_t rec[16];
    while (pkts != NULL && fread(rec, 1, 16, f) == 16) {
        if (n == cap) {
            cap *= 2;
            pkts = realloc(pkts, cap * sizeof *pkts);
            if (pkts == NULL)
                break;
        }
        unsigned long len = le32(rec + 8);
        pkts[n].len = len;
        pkts[n].wire = le32(rec + 12);
        pkts[n].data = malloc(len ? len : 1);
        if (pkts[n].data == NULL || fread(pkts[n].data, 1, len, f) != len)
            die("truncated capture or out of memory");
        n++;
    }
    if (pkts == NULL)
        die("out of memory");
    fclose(f);
    chosen = filters[which];
    filter_fn fn = chosen;
    unsigned long accepted = 0;
    for (size_t i = 0; i < n; i++)
        accepted += fn(pkts[i].data, pkts[i].len, pkts[i].wire) != 0;
    /* The sum keeps the compiler from dropping the calls. */
    volatile unsigned long sink = 0;
    double start = now_ns();
    for (unsigned long it = 0; it < iters; it++) {
        unsigned long acc = 0;
        for (size_t i = 0; i < n; i++)
            acc += fn(pkts[i].data, pkts[i].len, pkts[i].wire) != 0;
        sink += acc;
    }
    double elapsed = now_ns() - start;
    (void)sink;
    double per = n && iters ? elapsed / ((double)n * (double)iters) : 0.0;
    printf("ns_per_packet=%.3f accepted=%lu\n", per, accepted);
    for (size_t i = 0; i < n; i++)
        free(pkts[i].data);
    free(pkts);
    return fflush(stdout) == 0 ? 0 : 2;
}
