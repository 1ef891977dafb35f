/* owns: an ext2 single-indirect block, an array of little-endian u32 block numbers (0 = hole),
 * for 1 KiB and 4 KiB blocks. Runs of consecutive blocks are emitted as one extent.
 * ctx-size: 1024 4096 */
#include "ext2.h"

SEC("owns")
unsigned long ext2_indirect(const unsigned char *blk, unsigned long len)
{
	const u32 *ptr = (const u32 *)blk;
	unsigned long n = len / sizeof(u32);
	unsigned long i;
	u64 start = 0, count = 0;

	for (i = 0; i < n; i++) {
		u32 b = ptr[i];

		if (b && count && b == start + count) {
			count++;
			continue;
		}
		if (count)
			emit(start, count, KIND_DATA);
		start = b;
		count = b != 0;
	}
	if (count)
		emit(start, count, KIND_DATA);
	return 0;
}
