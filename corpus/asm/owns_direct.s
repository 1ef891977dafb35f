# owns: the 12 direct block pointers of an ext2 inode (u32 at offset 40 + 4k) that are not 0,
# each emitted as one block of kind 0 (data).
mov %r7, %r1              # the inode
mov %r6, 0                # k
loop:
mov %r2, %r6
lsh %r2, 2
mov %r3, %r7
add %r3, %r2
ldxw %r1, [%r3+40]        # block[k]
jeq %r1, 0, next
mov %r2, 1                # count
mov %r3, 0                # kind: data
call 1                    # emit(start, count, kind)
next:
add %r6, 1
jlt %r6, 12, loop
mov %r0, 0                # well-formed
exit
