//! PVH boot: the `.note.Xen` note naming the 32-bit entry, the entry itself (zero `.bss`,
//! identity-map the first GiB with 2 MiB pages, turn on PAE, long mode, NX and write-protect,
//! far-return into 64-bit code), and the 64-bit start that calls [`crate::kmain`].
//!
//! The boot page tables live only until [`crate::mem`] installs the kernel's own (4 KiB pages
//! with W^X permissions).

core::arch::global_asm!(
    r#"
    .section .note.Xen, "a"
    .p2align 2
    .long 4              /* name size: "Xen\0" */
    .long 4              /* descriptor size */
    .long 18             /* XEN_ELFNOTE_PHYS32_ENTRY */
    .asciz "Xen"
    .p2align 2
    .long pvh_start

    .section .text.boot, "ax"
    .code32
    .global pvh_start
pvh_start:
    cli
    cld
    mov esi, ebx                  /* the start info (kept for the 64-bit side) */
    /* Zero .bss (page tables, the boot stack, every static). */
    mov edi, offset __bss_start
    mov ecx, offset __bss_end
    sub ecx, edi
    xor eax, eax
    rep stosb
    mov esp, offset boot_stack_top
    /* boot_pd: 512 2 MiB pages, present + writable + huge, identity. */
    mov edi, offset boot_pd
    mov eax, 0x83
    mov ecx, 512
2:
    mov dword ptr [edi], eax
    mov dword ptr [edi + 4], 0
    add eax, 0x200000
    add edi, 8
    dec ecx
    jnz 2b
    mov eax, offset boot_pd
    or eax, 3
    mov dword ptr [boot_pdpt], eax
    mov eax, offset boot_pdpt
    or eax, 3
    mov dword ptr [boot_pml4], eax
    mov eax, offset boot_pml4
    mov cr3, eax
    /* CR4.PAE (5), CR4.OSFXSR (9), CR4.OSXMMEXCPT (10). */
    mov eax, cr4
    or eax, 0x620
    mov cr4, eax
    /* EFER.LME (8) and EFER.NXE (11). */
    mov ecx, 0xC0000080
    rdmsr
    or eax, 0x900
    wrmsr
    /* CR0.PG (31), CR0.WP (16), CR0.PE (0). */
    mov eax, cr0
    or eax, 0x80010001
    mov cr0, eax
    lgdt [boot_gdt_ptr]
    push 0x08
    mov eax, offset long_start
    push eax
    retf

    .code64
long_start:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    xor eax, eax
    mov fs, ax
    mov gs, ax
    mov rsp, offset boot_stack_top
    mov edi, esi
    call {kmain}
3:
    hlt
    jmp 3b

    .section .rodata
    .p2align 3
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF      /* 0x08: 64-bit code, ring 0 */
    .quad 0x00CF92000000FFFF      /* 0x10: data */
boot_gdt_end:
boot_gdt_ptr:
    .word boot_gdt_end - boot_gdt - 1
    .quad boot_gdt

    .section .bss
    .p2align 12
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4096
    .global boot_stack_bottom
boot_stack_bottom:
    .skip 262144
boot_stack_top:
    .code64
"#,
    kmain = sym crate::kmain,
);
