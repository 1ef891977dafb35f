/*
 * linux_verify: the host kernel's eBPF verifier as a peer in udfkit's verifier benchmark.
 *
 * The Rust code reaches the bpf() system call through this program rather than through FFI
 * (udfkit has no `unsafe` outside the runtime and the JIT). Build:
 *
 *     cc -O2 -Wall -Wextra -o target/linux_verify tools/linux_verify.c
 *
 * (`cargo run --release -p udf-bench -- verify` builds it next to its own executable when
 * UDF_LINUX_VERIFY does not name one.)
 *
 * Usage: linux_verify [-n RUNS] [FILE]
 *
 * Reads raw eBPF bytecode (8-byte little-endian instructions, as `Program::encode` writes it)
 * from FILE, or from standard input when FILE is absent or `-`, and loads it RUNS times
 * (default 1) as a BPF_PROG_TYPE_SOCKET_FILTER program with bpf(BPF_PROG_LOAD) and
 * log_level = BPF_LOG_STATS (4), closing each loaded program at once. From the kernel's own log
 * it reads "verification time N usec" and "processed N insns". It prints one line of
 * space-separated key=value pairs:
 *
 *     ok=1 runs=R insns=N verify_usec=T processed=P wall_usec=W
 *
 * verify_usec: the best (smallest) verification time the kernel logged over the runs;
 * processed: the instructions the kernel's verifier processed (the same in every run);
 * wall_usec: the best wall-clock time of the whole system call (verification, the kernel's
 * rewrites and its JIT compile when the JIT is on).
 *
 * When the kernel refuses the program, the load is not repeated; it is loaded once more with
 * log_level = 1 | 4 (the verifier's messages; untimed, logging slows it down) to learn why,
 * and the line is
 *
 *     ok=0 runs=1 insns=N errno=NAME verify_usec=T processed=P reason=TEXT
 *
 * errno: the load's error (E2BIG, ENOMEM, EINVAL, EACCES, ...); TEXT (the rest of the line):
 * the kernel's last message before its statistics, such as "The sequence of 8193 jumps is too
 * complex.". verify_usec and processed are absent when the kernel logged none.
 *
 * Exit status: 0 when the kernel accepted the program, 1 when it refused it, 2 on bad usage,
 * unreadable input or an input that is not whole instructions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *prog_name = "linux_verify";

/* Enough for the statistics lines of log level 4. */
#define STATS_LOG_SIZE (64u * 1024)
/* The verifier's messages (level 1) for a refused program: the kernel keeps the log's tail
 * when it does not fit (since Linux 6.4), and the tail is what is read here. */
#define REASON_LOG_SIZE (16u * 1024 * 1024)

static void usage(void)
{
    fprintf(stderr, "usage: %s [-n RUNS] [FILE]\n", prog_name);
    exit(2);
}

static void die(const char *what, const char *why)
{
    fprintf(stderr, "%s: %s: %s\n", prog_name, what, why);
    exit(2);
}

static unsigned long parse_count(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long n = strtoul(s, &end, 0);
    if (errno != 0 || *s == '\0' || *end != '\0' || n == 0)
        die(s, what);
    return n;
}

/* The whole of FILE (or standard input) in memory. */
static unsigned char *read_all(FILE *f, const char *name, size_t *len)
{
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    if (buf == NULL)
        die(name, "out of memory");
    for (;;) {
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (buf == NULL)
                die(name, "out of memory");
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) {
            if (ferror(f))
                die(name, strerror(errno));
            break;
        }
    }
    *len = n;
    return buf;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* One BPF_PROG_LOAD: the program's descriptor, or -1 with errno set. */
static int load(const void *insns, size_t count, unsigned level, char *log, unsigned log_size)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = (uint32_t)count;
    attr.license = (uint64_t)(uintptr_t) "GPL";
    attr.log_level = level;
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = log_size;
    log[0] = '\0';
    return (int)syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
}

/* The number after `key` in the log, or -1. */
static long long find_number(const char *log, const char *key)
{
    const char *p = strstr(log, key);
    if (p == NULL)
        return -1;
    return strtoll(p + strlen(key), NULL, 10);
}

static int is_stats_line(const char *s, size_t n)
{
    static const char *prefixes[] = {"processed ", "verification time ", "stack depth ", NULL};
    for (int i = 0; prefixes[i] != NULL; i++) {
        size_t k = strlen(prefixes[i]);
        if (n >= k && memcmp(s, prefixes[i], k) == 0)
            return 1;
    }
    return 0;
}

/* Copies the last non-empty line of the log that is not a statistics line into out. */
static void last_message(const char *log, char *out, size_t out_size)
{
    const char *end = log + strlen(log);
    out[0] = '\0';
    while (end > log) {
        const char *e = end;
        while (e > log && e[-1] == '\n')
            e--;
        const char *s = e;
        while (s > log && s[-1] != '\n')
            s--;
        if (e > s && !is_stats_line(s, (size_t)(e - s))) {
            size_t n = (size_t)(e - s);
            if (n >= out_size)
                n = out_size - 1;
            memcpy(out, s, n);
            out[n] = '\0';
            for (char *c = out; *c != '\0'; c++)
                if (*c == '\t' || *c == '\r')
                    *c = ' ';
            return;
        }
        end = s;
    }
}

/* The kernel's internal "operation not supported" (no name in the C library). */
#define ENOTSUPP_KERNEL 524

static const char *errno_name(int e)
{
    switch (e) {
    case E2BIG: return "E2BIG";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ENOSPC: return "ENOSPC";
    case EFAULT: return "EFAULT";
    case ENOSYS: return "ENOSYS";
    case ENOTSUPP_KERNEL: return "ENOTSUPP";
    default: return NULL;
    }
}

int main(int argc, char **argv)
{
    unsigned long runs = 1;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0) {
            if (++i == argc)
                usage();
            runs = parse_count(argv[i], "not a number of runs");
        } else if (path == NULL) {
            path = argv[i];
        } else {
            usage();
        }
    }
    FILE *f = stdin;
    const char *name = "<stdin>";
    if (path != NULL && strcmp(path, "-") != 0) {
        f = fopen(path, "rb");
        if (f == NULL)
            die(path, strerror(errno));
        name = path;
    }
    size_t len;
    unsigned char *code = read_all(f, name, &len);
    if (f != stdin)
        fclose(f);
    if (len == 0 || len % 8 != 0)
        die(name, "not a whole number of 8-byte instructions");
    size_t count = len / 8;

    char *log = malloc(STATS_LOG_SIZE);
    if (log == NULL)
        die("log", "out of memory");
    double best_wall = -1;
    long long best_verify = -1, processed = -1;
    for (unsigned long r = 0; r < runs; r++) {
        double t = now_us();
        int fd = load(code, count, 4, log, STATS_LOG_SIZE);
        double wall = now_us() - t;
        if (fd < 0) {
            int e = errno;
            long long v = find_number(log, "verification time ");
            long long p = find_number(log, "processed ");
            char *big = malloc(REASON_LOG_SIZE);
            char reason[512] = "";
            if (big != NULL) {
                int fd2 = load(code, count, 1 | 4, big, REASON_LOG_SIZE);
                if (fd2 >= 0)
                    close(fd2);
                last_message(big, reason, sizeof reason);
                free(big);
            }
            if (reason[0] == '\0')
                snprintf(reason, sizeof reason, "%s", strerror(e));
            const char *en = errno_name(e);
            printf("ok=0 runs=1 insns=%zu errno=", count);
            if (en != NULL)
                printf("%s", en);
            else
                printf("%d", e);
            if (v >= 0)
                printf(" verify_usec=%lld", v);
            if (p >= 0)
                printf(" processed=%lld", p);
            printf(" reason=%s\n", reason);
            return fflush(stdout) == 0 ? 1 : 2;
        }
        close(fd);
        long long v = find_number(log, "verification time ");
        processed = find_number(log, "processed ");
        if (v >= 0 && (best_verify < 0 || v < best_verify))
            best_verify = v;
        if (best_wall < 0 || wall < best_wall)
            best_wall = wall;
    }
    printf("ok=1 runs=%lu insns=%zu", runs, count);
    if (best_verify >= 0)
        printf(" verify_usec=%lld", best_verify);
    if (processed >= 0)
        printf(" processed=%lld", processed);
    printf(" wall_usec=%.0f\n", best_wall);
    return fflush(stdout) == 0 ? 0 : 2;
}
