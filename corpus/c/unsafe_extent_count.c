/* UNSAFE: an extent list whose loop trusts the header's count: nothing bounds it by the slots the
 * object holds, so a count above 31 reads past the object.
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
	unsigned int i;

	if (el->magic != EXTENT_MAGIC)
		return 1;
	for (i = 0; i < el->count; i++) {
		const struct extent *e = &el->ext[i];

		if (e->len == 0) /* UNSAFE */
			return 1;
		emit(e->start, e->len, KIND_DATA);
	}
	return 0;
}
