/* The on-disk ext2 inode (the first 128 bytes of every inode), little-endian. */
#ifndef EXT2_H
#define EXT2_H
#include "udf.h"

#define EXT2_NDIR_BLOCKS 12
#define EXT2_IND_BLOCK EXT2_NDIR_BLOCKS
#define EXT2_DIND_BLOCK (EXT2_IND_BLOCK + 1)
#define EXT2_TIND_BLOCK (EXT2_DIND_BLOCK + 1)
#define EXT2_N_BLOCKS (EXT2_TIND_BLOCK + 1)

#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define S_IFLNK 0120000
#define S_IFREG 0100000
#define S_IFBLK 0060000
#define S_IFDIR 0040000
#define S_IFCHR 0020000
#define S_IFIFO 0010000
#define S_IWUSR 00200
#define S_IWOTH 00002

#define EXT4_INLINE_DATA_FL 0x10000000

/* Kinds of the extents an owns program emits (what the blocks hold). */
#define KIND_DATA 0
#define KIND_IND1 1
#define KIND_IND2 2
#define KIND_IND3 3
#define KIND_XATTR 4

struct ext2_inode {
	u16 i_mode;
	u16 i_uid;
	u32 i_size;
	u32 i_atime;
	u32 i_ctime;
	u32 i_mtime;
	u32 i_dtime;
	u16 i_gid;
	u16 i_links_count;
	u32 i_blocks;
	u32 i_flags;
	u32 osd1;
	u32 i_block[EXT2_N_BLOCKS];
	u32 i_generation;
	u32 i_file_acl;
	u32 i_size_high; /* i_dir_acl in ext2 revision 0 */
	u32 i_faddr;
	struct {
		u8 l_i_frag;
		u8 l_i_fsize;
		u16 i_pad1;
		u16 l_i_uid_high;
		u16 l_i_gid_high;
		u32 l_i_reserved2;
	} osd2;
};

#endif
