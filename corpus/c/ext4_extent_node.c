/* owns: an ext4 extent tree block (1 KiB or 4 KiB): the header, then leaf extents (depth 0)
 * or index entries pointing at child nodes. A leaf owns its extents' blocks (an unwritten extent,
 * ee_len > 32768, owns ee_len - 32768), an index node its children's blocks. A bad magic, more
 * entries than eh_max or than fit in the block, a depth past 5, or an empty extent is malformed.
 * ctx-size: 1024 4096 */
#include "udf.h"

#define EXT4_EXT_MAGIC 0xf30a
#define EXT4_MAX_DEPTH 5
#define EXT_INIT_MAX_LEN 32768
#define KIND_DATA 0
#define KIND_NODE 5

struct ext4_extent_header {
	u16 eh_magic;
	u16 eh_entries;
	u16 eh_max;
	u16 eh_depth;
	u32 eh_generation;
};

struct ext4_extent {
	u32 ee_block;
	u16 ee_len;
	u16 ee_start_hi;
	u32 ee_start_lo;
};

struct ext4_extent_idx {
	u32 ei_block;
	u32 ei_leaf_lo;
	u16 ei_leaf_hi;
	u16 ei_unused;
};

static inline unsigned int ext4_ext_get_actual_len(const struct ext4_extent *ex)
{
	return ex->ee_len <= EXT_INIT_MAX_LEN ? ex->ee_len : ex->ee_len - EXT_INIT_MAX_LEN;
}

SEC("owns")
unsigned long ext4_extent_node(const unsigned char *blk, unsigned long len)
{
	const struct ext4_extent_header *eh = (const void *)blk;
	unsigned int entries = eh->eh_entries;
	unsigned int i;

	if (eh->eh_magic != EXT4_EXT_MAGIC || eh->eh_depth > EXT4_MAX_DEPTH)
		return 1;
	if (entries > eh->eh_max || entries > (len - sizeof(*eh)) / sizeof(struct ext4_extent))
		return 1;

	if (eh->eh_depth == 0) {
		const struct ext4_extent *ex = (const void *)(eh + 1);

		for (i = 0; i < entries; i++, ex++) {
			unsigned int n = ext4_ext_get_actual_len(ex);

			if (n == 0)
				return 1;
			emit((u64)ex->ee_start_hi << 32 | ex->ee_start_lo, n, KIND_DATA);
		}
	} else {
		const struct ext4_extent_idx *ix = (const void *)(eh + 1);

		for (i = 0; i < entries; i++, ix++)
			emit((u64)ix->ei_leaf_hi << 32 | ix->ei_leaf_lo, 1, KIND_NODE);
	}
	return 0;
}
