/*
 * pcap_oracle: libpcap as the reference for udfkit's pcap-filter and classic-BPF front ends.
 *
 * The Rust code reaches libpcap through this program rather than through FFI (udfkit has no
 * `unsafe` outside the runtime and the JIT). Build:
 *
 *     cc -O2 -o target/pcap_oracle tools/pcap_oracle.c -lpcap
 *
 * Subcommands (exit 0 on success, 2 on bad usage, an unreadable capture or an expression
 * libpcap refuses; libpcap's error text goes to stderr):
 *
 *   pcap_oracle filter EXPR CAPTURE [NETMASK]
 *       compiles EXPR (optimised) for the capture's link type and snap length and prints
 *       pcap_offline_filter's return value for each packet, one line per packet (the format of
 *       `udf filter`). NETMASK is A.B.C.D (default: PCAP_NETMASK_UNKNOWN).
 *   pcap_oracle dd EXPR DLTNAME [SNAPLEN [NETMASK]]
 *       compiles EXPR (optimised) for link type DLTNAME (`EN10MB`, `RAW`, ...; snap length
 *       default 262144) and prints the program as `tcpdump -dd` does.
 *   pcap_oracle bench EXPR CAPTURE ITERS
 *       loads every packet of the capture into memory, compiles EXPR, then times ITERS passes
 *       of pcap_offline_filter over all of them; prints `ns_per_packet=<float> accepted=<n>`
 *       (accepted: packets one pass accepts).
 *   pcap_oracle compile-bench EXPR DLTNAME ITERS
 *       times ITERS rounds of pcap_compile (optimised) + pcap_freecode; prints
 *       `ns_per_compile=<float>`.
 *   pcap_oracle bench-many EXPRFILE CAPTURE ITERS
 *       as bench, for many filters run one after another on each packet (one expression a line
 *       of EXPRFILE): the cost of demultiplexing with one filter per socket; prints
 *       `ns_per_packet=<float> accepted=<n>` (accepted: filter-packet pairs one pass accepts).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_SNAPLEN 262144

static const char *prog_name = "pcap_oracle";

static void usage(void)
{
    fprintf(stderr,
            "usage: %s filter EXPR CAPTURE [NETMASK]\n"
            "       %s dd EXPR DLTNAME [SNAPLEN [NETMASK]]\n"
            "       %s bench EXPR CAPTURE ITERS\n"
            "       %s compile-bench EXPR DLTNAME ITERS\n"
            "       %s bench-many EXPRFILE CAPTURE ITERS\n",
            prog_name, prog_name, prog_name, prog_name, prog_name);
    exit(2);
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", prog_name, what, why);
    exit(2);
}

/* A.B.C.D to a mask in host byte order, as pcap_compile takes it. */
static bpf_u_int32 parse_netmask(const char *s)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        die(s, "not a netmask (A.B.C.D)");
    return ntohl(a.s_addr);
}

static unsigned long parse_count(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(s, &end, 0);
    if (errno != 0 || *s == '\0' || *end != '\0')
        die(s, what);
    return n;
}

static pcap_t *open_dead(const char *dltname, int snaplen)
{
    int dlt = pcap_datalink_name_to_val(dltname);
    if (dlt < 0)
        die(dltname, "unknown link type name");
    pcap_t *p = pcap_open_dead(dlt, snaplen);
    if (p == NULL)
        die(dltname, "pcap_open_dead failed");
    return p;
}

static pcap_t *open_capture(const char *path)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_open_offline(path, errbuf);
    if (p == NULL)
        die(path, errbuf);
    return p;
}

/* 1: pcap_compile optimises (tcpdump's default); 0 for `filter-unoptimized`. */
static int optimize = 1;

static void compile(pcap_t *p, struct bpf_program *fp, const char *expr, bpf_u_int32 netmask)
{
    if (pcap_compile(p, fp, expr, optimize, netmask) != 0)
        die(expr, pcap_geterr(p));
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmd_filter(int argc, char **argv)
{
    if (argc < 2 || argc > 3)
        usage();
    bpf_u_int32 netmask = argc == 3 ? parse_netmask(argv[2]) : PCAP_NETMASK_UNKNOWN;
    pcap_t *p = open_capture(argv[1]);
    struct bpf_program fp;
    compile(p, &fp, argv[0], netmask);
    struct pcap_pkthdr *hdr;
    const u_char *data;
    int r;
    while ((r = pcap_next_ex(p, &hdr, &data)) == 1)
        printf("%d\n", pcap_offline_filter(&fp, hdr, data));
    if (r == PCAP_ERROR)
        die(argv[1], pcap_geterr(p));
    pcap_freecode(&fp);
    pcap_close(p);
    return fflush(stdout) == 0 ? 0 : 2;
}

static int cmd_dd(int argc, char **argv)
{
    if (argc < 2 || argc > 4)
        usage();
    int snaplen = argc >= 3 ? (int)parse_count(argv[2], "not a snap length") : DEFAULT_SNAPLEN;
    bpf_u_int32 netmask = argc == 4 ? parse_netmask(argv[3]) : PCAP_NETMASK_UNKNOWN;
    pcap_t *p = open_dead(argv[1], snaplen);
    struct bpf_program fp;
    compile(p, &fp, argv[0], netmask);
    /* libpcap's bpf_dump with option 2 (`tcpdump -dd`). */
    for (u_int i = 0; i < fp.bf_len; i++) {
        const struct bpf_insn *in = &fp.bf_insns[i];
        printf("{ 0x%x, %d, %d, 0x%08x },\n", in->code, in->jt, in->jf, in->k);
    }
    pcap_freecode(&fp);
    pcap_close(p);
    return fflush(stdout) == 0 ? 0 : 2;
}

struct packet {
    struct pcap_pkthdr hdr;
    u_char *data;
};

static int cmd_bench(int argc, char **argv)
{
    if (argc != 3)
        usage();
    unsigned long iters = parse_count(argv[2], "not an iteration count");
    pcap_t *p = open_capture(argv[1]);
    size_t n = 0, cap = 1024;
    struct packet *pkts = malloc(cap * sizeof *pkts);
    struct pcap_pkthdr *hdr;
    const u_char *data;
    int r;
    while (pkts != NULL && (r = pcap_next_ex(p, &hdr, &data)) == 1) {
        if (n == cap) {
            cap *= 2;
            pkts = realloc(pkts, cap * sizeof *pkts);
            if (pkts == NULL)
                break;
        }
        pkts[n].hdr = *hdr;
        pkts[n].data = malloc(hdr->caplen ? hdr->caplen : 1);
        if (pkts[n].data == NULL)
            die(argv[1], "out of memory");
        memcpy(pkts[n].data, data, hdr->caplen);
        n++;
    }
    if (pkts == NULL)
        die(argv[1], "out of memory");
    if (r == PCAP_ERROR)
        die(argv[1], pcap_geterr(p));
    struct bpf_program fp;
    compile(p, &fp, argv[0], PCAP_NETMASK_UNKNOWN);
    unsigned long accepted = 0;
    for (size_t i = 0; i < n; i++)
        accepted += pcap_offline_filter(&fp, &pkts[i].hdr, pkts[i].data) != 0;
    /* The sum keeps the compiler from dropping the calls. */
    volatile unsigned long sink = 0;
    double start = now_ns();
    for (unsigned long it = 0; it < iters; it++) {
        unsigned long acc = 0;
        for (size_t i = 0; i < n; i++)
            acc += pcap_offline_filter(&fp, &pkts[i].hdr, pkts[i].data) != 0;
        sink += acc;
    }
    double elapsed = now_ns() - start;
    (void)sink;
    double per = n && iters ? elapsed / ((double)n * (double)iters) : 0.0;
    printf("ns_per_packet=%.3f accepted=%lu\n", per, accepted);
    for (size_t i = 0; i < n; i++)
        free(pkts[i].data);
    free(pkts);
    pcap_freecode(&fp);
    pcap_close(p);
    return fflush(stdout) == 0 ? 0 : 2;
}

static int cmd_compile_bench(int argc, char **argv)
{
    if (argc != 3)
        usage();
    unsigned long iters = parse_count(argv[2], "not an iteration count");
    pcap_t *p = open_dead(argv[1], DEFAULT_SNAPLEN);
    struct bpf_program fp;
    /* Once outside the timing: refuse a bad expression before measuring. */
    compile(p, &fp, argv[0], PCAP_NETMASK_UNKNOWN);
    pcap_freecode(&fp);
    double start = now_ns();
    for (unsigned long it = 0; it < iters; it++) {
        compile(p, &fp, argv[0], PCAP_NETMASK_UNKNOWN);
        pcap_freecode(&fp);
    }
    double elapsed = now_ns() - start;
    printf("ns_per_compile=%.1f\n", iters ? elapsed / (double)iters : 0.0);
    pcap_close(p);
    return fflush(stdout) == 0 ? 0 : 2;
}

static int cmd_bench_many(int argc, char **argv)
{
    if (argc != 3)
        usage();
    unsigned long iters = parse_count(argv[2], "not an iteration count");
    pcap_t *p = open_capture(argv[1]);
    FILE *f = fopen(argv[0], "r");
    if (f == NULL)
        die(argv[0], strerror(errno));
    size_t nf = 0, fcap = 64;
    struct bpf_program *fps = malloc(fcap * sizeof *fps);
    char line[4096];
    while (fps != NULL && fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = 0;
        if (line[0] == 0)
            continue;
        if (nf == fcap) {
            fcap *= 2;
            fps = realloc(fps, fcap * sizeof *fps);
            if (fps == NULL)
                break;
        }
        compile(p, &fps[nf++], line, PCAP_NETMASK_UNKNOWN);
    }
    fclose(f);
    size_t n = 0, cap = 1024;
    struct packet *pkts = malloc(cap * sizeof *pkts);
    if (fps == NULL || pkts == NULL)
        die(argv[1], "out of memory");
    struct pcap_pkthdr *hdr;
    const u_char *data;
    int r;
    while ((r = pcap_next_ex(p, &hdr, &data)) == 1) {
        if (n == cap) {
            cap *= 2;
            pkts = realloc(pkts, cap * sizeof *pkts);
            if (pkts == NULL)
                die(argv[1], "out of memory");
        }
        pkts[n].hdr = *hdr;
        pkts[n].data = malloc(hdr->caplen ? hdr->caplen : 1);
        if (pkts[n].data == NULL)
            die(argv[1], "out of memory");
        memcpy(pkts[n].data, data, hdr->caplen);
        n++;
    }
    if (r == PCAP_ERROR)
        die(argv[1], pcap_geterr(p));
    unsigned long accepted = 0;
    volatile unsigned long sink = 0;
    double elapsed = 0;
    for (unsigned long it = 0; it <= iters; it++) {
        /* The first pass counts and warms up, untimed. */
        double start = now_ns();
        unsigned long acc = 0;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < nf; k++)
                acc += pcap_offline_filter(&fps[k], &pkts[i].hdr, pkts[i].data) != 0;
        if (it == 0)
            accepted = acc;
        else
            elapsed += now_ns() - start;
        sink += acc;
    }
    (void)sink;
    double per = n && iters ? elapsed / ((double)n * (double)iters) : 0.0;
    printf("ns_per_packet=%.3f accepted=%lu\n", per, accepted);
    for (size_t i = 0; i < n; i++)
        free(pkts[i].data);
    free(pkts);
    for (size_t k = 0; k < nf; k++)
        pcap_freecode(&fps[k]);
    free(fps);
    pcap_close(p);
    return fflush(stdout) == 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "filter") == 0)
        return cmd_filter(argc - 2, argv + 2);
    if (strcmp(cmd, "filter-unoptimized") == 0) {
        optimize = 0;
        return cmd_filter(argc - 2, argv + 2);
    }
    if (strcmp(cmd, "dd") == 0)
        return cmd_dd(argc - 2, argv + 2);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc - 2, argv + 2);
    if (strcmp(cmd, "compile-bench") == 0)
        return cmd_compile_bench(argc - 2, argv + 2);
    if (strcmp(cmd, "bench-many") == 0)
        return cmd_bench_many(argc - 2, argv + 2);
    usage();
    return 2;
}
