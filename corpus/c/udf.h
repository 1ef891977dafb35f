/* udf.h: the entry conventions of udfkit programs written in C.
 *
 * Built two ways from the same source:
 *   clang -target bpf -O2 -g -mcpu=vN -c prog.c        eBPF object for `udf verify/run/filter`
 *   gcc -O2 -DUDF_NATIVE driver.c prog.c                 native build, the test oracle
 *
 * Entry points (one per file, in a section named after the program type):
 *   filter:          unsigned long f(const unsigned char *pkt, unsigned long len, unsigned long wirelen)
 *                    0 = drop, otherwise accept (bytes to keep)
 *   owns/acl/size:   unsigned long f(const struct obj *o, unsigned long len)
 *                    or (const unsigned char *obj, unsigned long len); with a struct pointer the
 *                    object size is the struct's size (from BTF)
 *   owns may call emit(start, count, kind) once per extent it owns; it returns 0 when the object
 *   is well-formed.
 */
#ifndef UDF_H
#define UDF_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#ifdef UDF_NATIVE
#define SEC(name)
/* Provided by the driver: records the extent. */
long emit(unsigned long start, unsigned long count, unsigned int kind);
#else
#define SEC(name) __attribute__((section(name), used))
/* Helper 1 of the owns type. */
static long (*emit)(unsigned long start, unsigned long count, unsigned int kind) = (void *)1;
#endif

/* Both targets are little-endian: network order needs a swap. */
#define be16_to_cpu(x) __builtin_bswap16(x)
#define be32_to_cpu(x) __builtin_bswap32(x)

/* Big-endian fields of a packet at any alignment, tcpdump style. */
static inline u16 get_be16(const u8 *p)
{
	return (u16)(p[0] << 8 | p[1]);
}

static inline u32 get_be32(const u8 *p)
{
	return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3];
}

#endif
