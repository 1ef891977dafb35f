/* size: the size in bytes of the file an ext2 inode describes (64 bits for regular files, whose
 * high half is in i_size_high; directories and the rest use only i_size).
 * ctx-size: 128 */
#include "ext2.h"

SEC("size")
unsigned long ext2_size(const struct ext2_inode *inode, unsigned long len)
{
	if ((inode->i_mode & S_IFMT) == S_IFREG)
		return (u64)inode->i_size_high << 32 | inode->i_size;
	return inode->i_size;
}
