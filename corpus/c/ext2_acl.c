/* acl: who may change the blocks of an ext2 inode. The request (principal, operation) comes first,
 * then the inode. Root may do anything; the owner may allocate, free and write when the owner
 * write bit is set; anyone may write a world-writable file.
 * The object is the inode: 128 bytes after the 16-byte request.
 * ctx-size: 128 */
#include "ext2.h"

#define XN_ALLOC 1
#define XN_FREE 2
#define XN_WRITE 3

struct xn_request {
	u64 principal;
	u32 op;
	u32 reserved;
	struct ext2_inode inode;
};

SEC("acl")
unsigned long ext2_acl(const struct xn_request *req, unsigned long len)
{
	const struct ext2_inode *inode = &req->inode;
	u32 uid = inode->i_uid | (u32)inode->osd2.l_i_uid_high << 16;

	if (req->op < XN_ALLOC || req->op > XN_WRITE)
		return 0;
	if (req->principal == 0)
		return 1;
	if (req->principal == uid)
		return (inode->i_mode & S_IWUSR) != 0;
	return req->op == XN_WRITE && (inode->i_mode & S_IWOTH);
}
