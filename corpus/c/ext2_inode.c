/* owns: the blocks an ext2 inode maps directly: its 12 direct block pointers, the single, double
 * and triple indirect blocks, and the extended-attribute block. Devices and fast symlinks keep
 * other things in i_block and own no blocks through it. An unknown file type is malformed.
 * ctx-size: 128 */
#include "ext2.h"

static inline int ext2_has_block_map(const struct ext2_inode *inode)
{
	u16 fmt = inode->i_mode & S_IFMT;

	if (inode->i_flags & EXT4_INLINE_DATA_FL)
		return 0;
	if (fmt == S_IFREG || fmt == S_IFDIR)
		return 1;
	/* A symlink whose target fits in i_block (60 bytes) is "fast" and stored there. */
	return fmt == S_IFLNK && inode->i_size >= sizeof(inode->i_block);
}

SEC("owns")
unsigned long ext2_inode_owns(const struct ext2_inode *inode, unsigned long len)
{
	int i;

	if (inode->i_mode == 0 && inode->i_links_count == 0)
		return 0; /* free */

	switch (inode->i_mode & S_IFMT) {
	case S_IFSOCK:
	case S_IFLNK:
	case S_IFREG:
	case S_IFBLK:
	case S_IFDIR:
	case S_IFCHR:
	case S_IFIFO:
		break;
	default:
		return 1;
	}

	if (ext2_has_block_map(inode)) {
		for (i = 0; i < EXT2_NDIR_BLOCKS; i++)
			if (inode->i_block[i])
				emit(inode->i_block[i], 1, KIND_DATA);
		if (inode->i_block[EXT2_IND_BLOCK])
			emit(inode->i_block[EXT2_IND_BLOCK], 1, KIND_IND1);
		if (inode->i_block[EXT2_DIND_BLOCK])
			emit(inode->i_block[EXT2_DIND_BLOCK], 1, KIND_IND2);
		if (inode->i_block[EXT2_TIND_BLOCK])
			emit(inode->i_block[EXT2_TIND_BLOCK], 1, KIND_IND3);
	}
	if (inode->i_file_acl)
		emit(inode->i_file_acl, 1, KIND_XATTR);
	return 0;
}
