/* The native oracle: one C program of corpus/c built with gcc and run on context bytes, printing
 * what `udf run` prints for the same bytes:
 *
 *   r0 = VALUE
 *   extent START COUNT KIND      (one line per emit, in order; owns only)
 *
 * Build (the test does this; the sanitizers turn any out-of-bounds read of the C into a crash):
 *   gcc -O2 -DUDF_NATIVE -DUDF_FIXTURE='"ipv4_ports.c"' -DUDF_ENTRY=ipv4_ports -DUDF_FILTER \
 *       -fsanitize=address,undefined -fno-sanitize-recover=all driver.c -o oracle
 * UDF_FILTER: the entry takes (pkt, len, wirelen); otherwise (object, len).
 *
 * Usage:
 *   oracle FILE            the bytes of FILE are the context (wire length = its length)
 *   oracle --batch FILE    FILE holds records: u64 len, u64 wirelen (little-endian), len bytes;
 *                          each record's output is followed by a line "--"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include UDF_FIXTURE

struct extent_rec {
	unsigned long start, count;
	unsigned int kind;
};

static struct extent_rec *extents;
static size_t n_extents, cap_extents;

long emit(unsigned long start, unsigned long count, unsigned int kind)
{
	if (n_extents == cap_extents) {
		cap_extents = cap_extents ? 2 * cap_extents : 64;
		extents = realloc(extents, cap_extents * sizeof(*extents));
		if (!extents) {
			perror("realloc");
			exit(2);
		}
	}
	extents[n_extents].start = start;
	extents[n_extents].count = count;
	extents[n_extents].kind = kind;
	n_extents++;
	return 0;
}

/* Runs the entry on a copy of the bytes in a buffer of exactly their length. */
static void run(const unsigned char *bytes, unsigned long len, unsigned long wirelen)
{
	unsigned char *ctx = malloc(len ? len : 1);
	unsigned long r0;
	size_t i;

	if (!ctx) {
		perror("malloc");
		exit(2);
	}
	memcpy(ctx, bytes, len);
	n_extents = 0;
#ifdef UDF_FILTER
	r0 = UDF_ENTRY(ctx, len, wirelen);
#else
	(void)wirelen;
	r0 = UDF_ENTRY((const void *)ctx, len);
#endif
	free(ctx);
	printf("r0 = %lu\n", r0);
	for (i = 0; i < n_extents; i++)
		printf("extent %lu %lu %u\n", extents[i].start, extents[i].count, extents[i].kind);
}

static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	size_t cap = 0, n = 0, got;

	if (!f) {
		perror(path);
		exit(2);
	}
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			buf = realloc(buf, cap);
			if (!buf) {
				perror("realloc");
				exit(2);
			}
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got);
	if (ferror(f)) {
		perror(path);
		exit(2);
	}
	fclose(f);
	*len = n;
	return buf;
}

static unsigned long long le64(const unsigned char *p)
{
	unsigned long long v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

int main(int argc, char **argv)
{
	unsigned char *buf;
	size_t len, at = 0;

	if (argc == 2) {
		buf = slurp(argv[1], &len);
		run(buf, len, len);
		free(buf);
		return 0;
	}
	if (argc != 3 || strcmp(argv[1], "--batch") != 0) {
		fprintf(stderr, "usage: %s FILE | --batch FILE\n", argv[0]);
		return 2;
	}
	buf = slurp(argv[2], &len);
	while (at < len) {
		unsigned long long n, wire;

		if (len - at < 16) {
			fprintf(stderr, "%s: truncated record header at byte %zu\n", argv[2], at);
			return 2;
		}
		n = le64(buf + at);
		wire = le64(buf + at + 8);
		at += 16;
		if (n > len - at) {
			fprintf(stderr, "%s: truncated record at byte %zu\n", argv[2], at);
			return 2;
		}
		run(buf + at, n, wire);
		at += n;
		printf("--\n");
	}
	free(buf);
	free(extents);
	return 0;
}
