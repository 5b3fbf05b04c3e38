# Windows To Go BIOS loader: the hand-off to BOOTMGR (GNU as, AT&T syntax).
#
# void wtg_handoff(u32 source, u32 length, u32 drive), called from 32-bit protected mode:
# copies `length` bytes of BOOTMGR from `source` (the heap, above 1 MiB) to linear 0x20000
# (2000:0000), drops to real mode and far-jumps to 2000:0000 with DL = `drive`, DS = ES =
# SS = 0 and SP = 7C00h, as an NT6 NTFS boot record starts BOOTMGR. The caller has already
# put the partition's NTFS boot sector at 0000:7C00, where BOOTMGR reads the BPB.
#
# BOOTMGR may be up to ~500 KiB and so overwrites stage 1's 16-bit page (at 0x80000), its GDT
# and its stack: the code below first copies its tail (`wtg_low` .. `wtg_low_end`, position
# independent, with its own 16-bit GDT) to WTG_LOW in free low memory and runs from there.

    .set    WTG_LOW, 0x600

    .section .text.wtg_handoff, "ax"
    .code32
    .global wtg_handoff
wtg_handoff:
    cli
    movl    4(%esp), %ebx               # source
    movl    8(%esp), %ebp               # length
    movl    12(%esp), %edx              # boot drive (DL)
    cld
    movl    $wtg_low, %esi
    movl    $WTG_LOW, %edi
    movl    $(wtg_low_end - wtg_low), %ecx
    rep movsb
    movl    %ebx, %esi
    movl    %ebp, %ecx
    movl    $WTG_LOW, %eax
    jmp     *%eax

wtg_low:                                # runs at WTG_LOW from here on
    movl    $0x20000, %edi
    rep movsb                           # BOOTMGR to 2000:0000 (overwrites stage 1)
    lgdtl   WTG_LOW + (wtg_gdtr - wtg_low)
    ljmpl   $0x08, $(WTG_LOW + (wtg_pm16 - wtg_low))

    .code16
wtg_pm16:                               # 16-bit protected mode, 64 KiB segments based at 0
    movw    $0x10, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %fs
    movw    %ax, %gs
    movw    %ax, %ss
    movl    %cr0, %eax
    andl    $0x7FFFFFFE, %eax           # PE (and PG) off
    movl    %eax, %cr0
    ljmpw   $0, $(WTG_LOW + (wtg_real - wtg_low))
wtg_real:
    xorw    %ax, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %fs
    movw    %ax, %gs
    movw    %ax, %ss
    movw    $0x7C00, %sp
    sti
    ljmpw   $0x2000, $0

    .p2align 3
wtg_gdt:
    .quad   0
    .quad   0x00009A000000FFFF          # 0x08: 16-bit code, base 0, limit 64 KiB
    .quad   0x000092000000FFFF          # 0x10: 16-bit data, base 0, limit 64 KiB
wtg_gdtr:
    .word   23
    .long   WTG_LOW + (wtg_gdt - wtg_low)
wtg_low_end:
    .code32
