/* size: the file size of a FAT directory entry (32 bytes, little-endian): DIR_FileSize for files,
 * 0 for directories, volume labels, long-name slots and free entries.
 * ctx-size: 32 */
#include "udf.h"

#define ATTR_VOLUME_ID 0x08
#define ATTR_DIRECTORY 0x10
#define ATTR_LONG_NAME 0x0f
#define DIR_ENTRY_FREE 0xe5

SEC("size")
unsigned long fat_dirent_size(const unsigned char *de, unsigned long len)
{
	u8 attr = de[11];

	if (de[0] == 0 || de[0] == DIR_ENTRY_FREE)
		return 0;
	if ((attr & ATTR_LONG_NAME) == ATTR_LONG_NAME)
		return 0;
	if (attr & (ATTR_DIRECTORY | ATTR_VOLUME_ID))
		return 0;
	return (u32)de[28] | (u32)de[29] << 8 | (u32)de[30] << 16 | (u32)de[31] << 24;
}
