/* UNSAFE: the size of a name record is the length of its NUL-terminated name, but nothing stops
 * the scan at the end of the 64-byte record when the name has no NUL.
 * ctx-size: 64 */
#include "udf.h"

SEC("size")
unsigned long name_size(const unsigned char *rec, unsigned long len)
{
	unsigned long n = 0;

	while (rec[n] != 0) /* UNSAFE */
		n++;
	return n;
}
