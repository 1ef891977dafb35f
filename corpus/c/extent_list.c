/* owns: a list of extents with a header, in the manner of an ext4 extent leaf: a magic number,
 * the number of entries in use and the capacity, then {start, len} pairs. The entries must be
 * sorted and disjoint; each is emitted.
 * ctx-size: 256 */
#include "udf.h"

#define EXTENT_MAGIC 0xe47e
#define EXTENT_SLOTS 31
#define KIND_DATA 0

struct extent {
	u32 start;
	u32 len;
};

struct extent_list {
	u16 magic;
	u16 count;
	u16 max;
	u16 depth;
	struct extent ext[EXTENT_SLOTS];
};

SEC("owns")
unsigned long extent_list_owns(const struct extent_list *el, unsigned long len)
{
	u64 end = 0;
	unsigned int i;

	if (el->magic != EXTENT_MAGIC || el->depth != 0)
		return 1;
	if (el->count > el->max || el->max > EXTENT_SLOTS)
		return 1;

	for (i = 0; i < el->count && i < EXTENT_SLOTS; i++) {
		const struct extent *e = &el->ext[i];

		if (e->len == 0 || e->start < end)
			return 1;
		emit(e->start, e->len, KIND_DATA);
		end = (u64)e->start + e->len;
	}
	return 0;
}
