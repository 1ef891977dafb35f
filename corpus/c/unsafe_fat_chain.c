/* UNSAFE: follows a FAT cluster chain through one sector of the table until end-of-chain. A chain
 * that loops (a corrupt table) never ends: there is no bound on the walk.
 * ctx-size: 512 */
#include "udf.h"

#define FAT_ENTRIES 127
#define FAT32_MASK 0x0fffffff
#define FAT32_EOC 0x0ffffff8
#define KIND_FILE 0

struct fat_sector {
	u32 first_cluster;
	u32 fat[FAT_ENTRIES];
};

SEC("owns")
unsigned long fat_chain(const struct fat_sector *s, unsigned long len)
{
	u32 c = s->first_cluster & FAT32_MASK;

	while (c >= 2 && c < FAT32_EOC) { /* UNSAFE */
		emit(c, 1, KIND_FILE);
		c = s->fat[c % FAT_ENTRIES] & FAT32_MASK;
	}
	return 0;
}
