# polyboot stage 1: entry, BIOS-call thunk, the loader of its own tail, and the resident
# INT 13h / INT 15h hooks (GNU as, AT&T syntax).
#
# Stage 0 loads stage 1 to 0800:0000 (linear 0x8000, the load area of link.ld) and jumps here
# with DL = boot drive. The first instructions copy this page (the 16-bit code and data) to
# where it is linked, 8000:0000 (STAGE1_LOW), and continue there; once in protected mode, the
# 32-bit part is copied from the load area to where it is linked, above 1 MiB.
#
# Stage 1 may be larger than the load area (0x8000..0x80000, 480 KiB). Then stage 0 loads only
# its head (this page and the beginning of the 32-bit part; `head_bytes` in the header below)
# and `s1_load_tail` reads the rest, the tail, from wherever the host put it (`tail_lba`: a
# contiguous file on the boot partition, see crates/polyboot/src/drive/bootcode.rs) with INT 13h
# AH=42h through a bounce buffer in the spent load area, copies it to its link addresses and
# checks its CRC-32 before anything of the 32-bit part runs and before .bss is zeroed. The
# loader is all in this page, which stage 0 always loads: it uses nothing of the 32-bit part.
# A read error or a wrong checksum prints a message (VGA and COM1) and waits there.
#
# This file holds only what the CPU mode requires in assembly:
# - the switch to 32-bit protected mode (flat segments, no paging, interrupts off), then
#   `stage1_main` in Rust;
# - `bios_call`: drop back to real mode to run one BIOS routine, return to protected mode;
# - `int13_hook`: the INT 13h handler installed when an image boots. Requests for the
#   emulated drive switch to protected mode and run `int13_emulate` (Rust); others go to the
#   original handler untouched;
# - `int15_hook`: E820 answers with our resident memory (stage 1, the heap) taken out.
# The 16-bit code runs with CS = 0x8000: it addresses its data as (symbol - stage1_start).
#
# Once an image boots, this first page (the 16-bit code and data, `.p2align 12` below) is
# copied to the top of conventional memory (segment `rm_seg`), the rest of stage 1 to the
# heap above 1 MiB, and the hooks run the Rust code with paging on (`pm_cr3`, `pm_cr0`):
# the link addresses of this page map to the low copy, those of the rest to the high copy,
# and everything else is identity-mapped, so the booted system may use conventional memory
# (GRUB's scratch area at 0x68000, memtest's 0x10000..0x94000) and the memory from 1 MiB up
# without overwriting us.
# The far jumps back to real mode go through `far_*` pointers for the same reason.

    .set    SEG1, 0x8000                # = stage1_start >> 4 (checked in link.ld)
    .set    LOAD_SEG, 0x0800            # where stage 0 loads us (STAGE1_LOAD >> 4)

# CR0 |= pm_cr0 (PE, and PG once relocated: CR3 = pm_cr3, CR4.PSE for the 4 MiB identity
# pages), from real mode; a far jump to 32-bit code must follow. Clobbers EAX. A macro, not
# a call: with paging on, the caller's stack may lie in memory that is mapped elsewhere.
.macro pm_on
    movl    %cs:(pm_cr3 - stage1_start), %eax
    testl   %eax, %eax
    jz      77f
    movl    %eax, %cr3
    movl    %cr4, %eax
    orb     $0x10, %al                  # PSE
    movl    %eax, %cr4
77: movl    %cr0, %eax
    orl     %cs:(pm_cr0 - stage1_start), %eax
    movl    %eax, %cr0
.endm

# Load DS, ES, FS, GS and SS with one selector (or segment). Clobbers AX.
.macro load_data_segments sel
    movw    $\sel, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %fs
    movw    %ax, %gs
    movw    %ax, %ss
.endm

# From 16-bit protected mode: PE off (and PG, when the hooks run paged). Clobbers EAX; a far
# jump to real-mode code must follow.
.macro pm_off
    movl    %cr0, %eax
    andl    $0x7FFFFFFE, %eax
    movl    %eax, %cr0
.endm

# Store EAX..EBP, DS and ES into a `struct Regs` block (bios.rs) through CS.
.macro store_regs block
    movl    %eax, %cs:(\block + 0 - stage1_start)
    movl    %ebx, %cs:(\block + 4 - stage1_start)
    movl    %ecx, %cs:(\block + 8 - stage1_start)
    movl    %edx, %cs:(\block + 12 - stage1_start)
    movl    %esi, %cs:(\block + 16 - stage1_start)
    movl    %edi, %cs:(\block + 20 - stage1_start)
    movl    %ebp, %cs:(\block + 24 - stage1_start)
    movw    %ds, %cs:(\block + 28 - stage1_start)
    movw    %es, %cs:(\block + 30 - stage1_start)
.endm

# Load EAX..EBP, ES and DS (last) from a `struct Regs` block through CS.
.macro load_regs block
    movl    %cs:(\block + 0 - stage1_start), %eax
    movl    %cs:(\block + 4 - stage1_start), %ebx
    movl    %cs:(\block + 8 - stage1_start), %ecx
    movl    %cs:(\block + 12 - stage1_start), %edx
    movl    %cs:(\block + 16 - stage1_start), %esi
    movl    %cs:(\block + 20 - stage1_start), %edi
    movl    %cs:(\block + 24 - stage1_start), %ebp
    movw    %cs:(\block + 30 - stage1_start), %es
    movw    %cs:(\block + 28 - stage1_start), %ds
.endm

    .section .stage1.entry, "awx"
    .code16
    .global stage1_start
stage1_start:
    jmp     s1_copy_page
    .org    stage1_start + 2            # (the short jump is 2 bytes: the offsets below hold)
    .ascii  "PBS1"                      # at offset 2: lets the host check the artifact
# The header, at offsets the host pins (crates/polyboot/src/drive/bootcode.rs). As built,
# head_bytes is 0: stage 0 loads all of stage 1. When stage 1 is larger than the load area,
# `polyboot install` / `update` patch in where its tail is.
    .word   0                           # 6: reserved
s1_high_bytes:  .long __high_bytes      # 8: bytes of the 32-bit part (as linked)
s1_head_bytes:  .long 0                 # 12: bytes of stage 1 that stage 0 loads (0: all)
s1_tail_lba:    .quad 0                 # 16: first sector of the tail on the boot drive
s1_tail_crc:    .long 0                 # 24: CRC-32 (IEEE) of the tail's bytes
s1_sector_size: .word 0                 # 28: the boot drive's sector size (512 or 4096)
                .word 0                 # 30: reserved

# Runs at LOAD_SEG:0000, where stage 0 put it: this page to SEG1:0000, then on from there.
s1_copy_page:
    cli
    cld
    movw    $LOAD_SEG, %ax
    movw    %ax, %ds
    movw    $SEG1, %ax
    movw    %ax, %es
    xorw    %si, %si
    xorw    %di, %di
    movw    $2048, %cx                  # 4 KiB in words
    rep movsw
    ljmp    $SEG1, $(s1_real_entry - stage1_start)

s1_real_entry:
    cli
    movw    $SEG1, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    $(rm_stack_top - stage1_start), %sp
    movb    %dl, (bios_drive - stage1_start)
    sti

    # A20 on, so addresses above 1 MiB (the heap) do not wrap: ask the BIOS (INT 15h
    # AX=2401h), and set the "fast A20" bit of port 92h too (harmless if already on).
    movw    $0x2401, %ax
    int     $0x15
    inb     $0x92, %al
    testb   $2, %al
    jnz     1f
    orb     $2, %al
    andb    $0xFE, %al                  # bit 0 would reset the machine
    outb    %al, $0x92
1:
    cli                                 # no IDT in protected mode: interrupts stay off there
    lgdtl   (gdt_desc - stage1_start)
    movl    %cr0, %eax
    orb     $1, %al                     # PE
    movl    %eax, %cr0
    ljmpl   $0x08, $s1_pm_entry         # load CS with the flat 32-bit code segment

    .code32
s1_pm_entry:
    load_data_segments 0x10
    movl    $__stack_top, %esp          # in .bss: neither the copy nor the tail touch it
    cld
    movl    $__high_bytes, %ecx         # the 32-bit part stage 0 loaded, from the load area
    movl    s1_head_bytes, %eax         # to 1 MiB up: all of it, or head_bytes - this page
    testl   %eax, %eax
    jz      1f
    subl    $4096, %eax
    cmpl    %ecx, %eax
    jae     1f
    movl    %eax, %ecx
1:  movl    $__high_load, %esi
    movl    $__high_start, %edi
    rep movsb
    cmpl    $__stage1_end, %edi         # EDI: where the tail goes, if there is one
    jae     1f
    call    s1_load_tail
1:  movl    $__bss_start, %edi          # zero .bss (the stack is in it, still unused)
    movl    $__bss_end, %ecx
    subl    %edi, %ecx
    xorl    %eax, %eax
    rep stosb
    movzbl  bios_drive, %eax
    pushl   %eax
    call    stage1_main
2:  hlt
    jmp     2b

# The tail: [EDI, __stage1_end) from sector tail_lba on, read through TAIL_BOUNCE (32 KiB at a
# time: under the 127-sector limit of some BIOSes, never across a 64 KiB boundary), copied up
# and checksummed. Returns only when all of it is in place and its CRC-32 is tail_crc; what
# fails ends in s1_fail. Registers: EDI destination, EBP bytes left, EBX the running CRC
# (bios_call keeps all three); the LBA advances in the disk packet.
    .set    TAIL_BOUNCE, 0x10000        # in the load area, spent by now (link.ld checks)
s1_load_tail:
    movl    $__stage1_end, %ebp
    subl    %edi, %ebp
    movl    $0xFFFFFFFF, %ebx
    movl    s1_tail_lba, %eax
    movl    %eax, low_dap + 8
    movl    s1_tail_lba + 4, %eax
    movl    %eax, low_dap + 12
    movzwl  s1_sector_size, %ecx        # 512 or 4096, else the header is not ours
    cmpl    $512, %ecx
    je      s1_tail_chunk
    cmpl    $4096, %ecx
    jne     s1_read_error
s1_tail_chunk:
    movb    $3, s1_tries
s1_tail_try:
    movzwl  s1_sector_size, %ecx
    leal    -1(%ebp, %ecx), %eax        # sectors left, rounded up
    xorl    %edx, %edx
    divl    %ecx
    movl    %eax, %esi
    movl    $0x8000, %eax               # sectors per chunk
    xorl    %edx, %edx
    divl    %ecx
    cmpl    %eax, %esi
    jae     2f
    movl    %esi, %eax
2:  movl    %eax, s1_count
    movw    $16, low_dap                # packet size, reserved byte
    movw    %ax, low_dap + 2
    movl    $(TAIL_BOUNCE << 12), low_dap + 4   # segment TAIL_BOUNCE >> 4, offset 0
    movl    $0x4200, thunk_regs
    movzbl  bios_drive, %eax
    movl    %eax, thunk_regs + 12
    movl    $(low_dap - stage1_start), thunk_regs + 16
    movw    $SEG1, thunk_regs + 28
    pushl   0x13 * 4                    # INT 13h from the IVT
    call    bios_call
    addl    $4, %esp
    testb   $1, thunk_regs + 32         # CF: reset the drive (AH=00h) and try again
    jz      3f
    decb    s1_tries
    jz      s1_read_error
    movl    $0, thunk_regs
    movzbl  bios_drive, %eax
    movl    %eax, thunk_regs + 12
    pushl   0x13 * 4
    call    bios_call
    addl    $4, %esp
    jmp     s1_tail_try
3:  movzwl  s1_sector_size, %eax        # bytes of this chunk that are tail
    mull    s1_count
    cmpl    %ebp, %eax
    jbe     4f
    movl    %ebp, %eax
4:  movl    %eax, s1_bytes
    subl    %eax, %ebp
    movl    %eax, %ecx
    movl    $TAIL_BOUNCE, %esi
5:  movzbl  (%esi), %eax                # CRC-32, reflected, four bits at a time
    xorl    %eax, %ebx
    movl    %ebx, %eax
    andl    $15, %eax
    shrl    $4, %ebx
    xorl    crc_nibbles(, %eax, 4), %ebx
    movl    %ebx, %eax
    andl    $15, %eax
    shrl    $4, %ebx
    xorl    crc_nibbles(, %eax, 4), %ebx
    incl    %esi
    decl    %ecx
    jnz     5b
    movl    $TAIL_BOUNCE, %esi          # then the copy up (EDI advances)
    movl    s1_bytes, %ecx
    rep movsb
    movl    s1_count, %eax              # next sectors
    addl    %eax, low_dap + 8
    adcl    $0, low_dap + 12
    testl   %ebp, %ebp
    jnz     s1_tail_chunk
    notl    %ebx
    cmpl    s1_tail_crc, %ebx
    jne     s1_bad_tail
    ret

s1_read_error:
    movl    $s1_msg_read, %esi
    jmp     s1_fail
s1_bad_tail:
    movl    $s1_msg_crc, %esi
# Print the NUL-terminated message at ESI on COM1 and the screen (INT 10h AH=0Eh), then wait
# in real mode with interrupts on, forever (Ctrl-Alt-Del still restarts).
s1_fail:
    movzbl  (%esi), %ebx
    testl   %ebx, %ebx
    jz      2f
    incl    %esi
    movl    $100000, %ecx               # COM1: wait (a while) for room, then send
    movw    $0x3FD, %dx
1:  inb     %dx, %al
    testb   $0x20, %al
    loopz   1b
    movw    $0x3F8, %dx
    movl    %ebx, %eax
    outb    %al, %dx
    orl     $0x0E00, %ebx
    movl    %ebx, thunk_regs
    movl    $7, thunk_regs + 4
    pushl   0x10 * 4
    call    bios_call
    addl    $4, %esp
    jmp     s1_fail
2:  pushl   $((SEG1 << 16) + (rm_idle - stage1_start))
    call    bios_call
    addl    $4, %esp
    jmp     2b

# void bios_call(uint32_t vector): run the real-mode routine at vector (segment:offset as in
# the IVT, offset in the low word) as if by INT, with the registers in `thunk_regs`, and store
# the registers and flags it returns there. Callee-saved registers are preserved (cdecl).
    .global bios_call
bios_call:
    pushl   %ebp
    pushl   %ebx
    pushl   %esi
    pushl   %edi
    movl    20(%esp), %eax
    movl    %eax, thunk_vector
    movl    %esp, saved_esp
    ljmp    $0x18, $(s1_pm16 - stage1_start)   # 16-bit protected mode first

    .code16
s1_pm16:
    load_data_segments 0x20             # 64 KiB-limit data segments, as real mode expects
    pm_off
    ljmpw   *%cs:(far_s1_real - stage1_start)   # reload CS with a real-mode segment

s1_real:
    movw    %cs, %ax
    movw    %ax, %ss
    movl    $(rm_stack_top - stage1_start), %esp   # all of ESP: the BIOS may use it
    xorw    %ax, %ax
    movw    %ax, %fs
    movw    %ax, %gs
    load_regs thunk_regs
    # What INT does: push FLAGS (with IF set, so IRET re-enables interrupts), enter the
    # handler with IF clear, far call through the vector.
    sti
    pushfw
    cli
    lcallw  *%cs:(thunk_vector - stage1_start)

    # DS may have changed: store through CS.
    store_regs thunk_regs
    pushfl
    popl    %cs:(thunk_regs + 32 - stage1_start)
    cli
    lgdtl   %cs:(gdt_desc - stage1_start)   # the BIOS may have loaded its own GDT
    pm_on
    ljmpl   $0x08, $s1_pm_back

    .code32
s1_pm_back:
    load_data_segments 0x10
    movl    saved_esp, %esp
    cld                                 # the Rust ABI wants DF clear; the BIOS may not
    popl    %edi
    popl    %esi
    popl    %ebx
    popl    %ebp
    ret

# A real-mode "handler" for idling: wait for the next interrupt (timer, keyboard, serial)
# with interrupts on, so waiting costs no CPU and the BIOS tick count advances.
    .code16
    .global rm_idle
rm_idle:
    sti
    hlt
    iret

# Start a boot image (reached through bios_call, with DL set): give it the conventional
# stack below 0000:7C00 rather than our thunk's, and far-jump to boot_target.
    .global rm_boot
rm_boot:
    cli
    xorw    %ax, %ax
    movw    %ax, %ss
    movw    $0x7C00, %sp
    movw    %ax, %ds
    movw    %ax, %es
    sti
    ljmpw   *%cs:(boot_target - stage1_start)

# INT 13h while an image boots. Drives outside [hook_route_lo, hook_route_hi] (drives the
# emulation neither is nor renumbers): straight to the original handler. Others: save the
# caller's registers in hook_regs, run int13_emulate(&hook_regs) in protected mode (the
# emulation, or the original handler with the drive number shifted), return its registers,
# and its CF in the caller's saved FLAGS.
    .global int13_hook
int13_hook:
    cmpb    %cs:(hook_route_lo - stage1_start), %dl
    jb      0f
    cmpb    %cs:(hook_route_hi - stage1_start), %dl
    jbe     1f
0:  ljmpw   *%cs:(hook_orig13 - stage1_start)
1:
    store_regs hook_regs
    movw    %fs, %cs:(caller_fs - stage1_start)
    movw    %gs, %cs:(caller_gs - stage1_start)
    movw    %ss, %cs:(caller_ss - stage1_start)
    movl    %esp, %cs:(caller_sp - stage1_start)   # all of it: callers such as GRUB
                                        # use ESP (not only SP) when they switch modes
    cli
    sgdtl   %cs:(caller_gdtr - stage1_start)   # the caller may rely on its GDT register
    lgdtl   %cs:(gdt_desc - stage1_start)
    pm_on
    ljmpl   $0x08, $h_pm

    .code32
h_pm:
    load_data_segments 0x10
    movl    $__stack_top, %esp          # the menu's stack: the menu is gone by now
    cld
    pushl   $hook_regs
    call    int13_emulate
    addl    $4, %esp
    ljmp    $0x18, $(h_pm16 - stage1_start)

    .code16
h_pm16:
    movw    $0x20, %ax                  # DS, ES, SS only: FS and GS keep their flat
    movw    %ax, %ds                    # limits (as before the call) and get the caller's
    movw    %ax, %es                    # selectors back in h_real
    movw    %ax, %ss
    pm_off
    ljmpw   *%cs:(far_h_real - stage1_start)
h_real:
    lgdtl   %cs:(caller_gdtr - stage1_start)
    movw    %cs:(caller_ss - stage1_start), %ss
    movl    %cs:(caller_sp - stage1_start), %esp
    movw    %cs:(caller_fs - stage1_start), %fs
    movw    %cs:(caller_gs - stage1_start), %gs
    pushw   %bp                         # the caller's FLAGS are at 6(%bp): IP, CS, FLAGS
    movw    %sp, %bp
    testb   $1, %cs:(hook_regs + 32 - stage1_start)
    jz      2f
    orb     $1, 6(%bp)
    jmp     3f
2:  andb    $0xFE, 6(%bp)
3:  popw    %bp
    load_regs hook_regs
    iret

# INT 15h: E820 answers (from the original handler) with our resident ranges taken out of
# usable memory: [hook_res_low, 0xA0000) and [hook_res_high, hook_res_high_end). An entry
# that starts inside one becomes reserved (type 2); one that runs into one is cut short.
# Everything else goes to the original handler.
    .global int15_hook
int15_hook:
    cmpl    $0xE820, %eax
    jne     9f
    cmpl    $0x534D4150, %edx
    jne     9f
    pushfw
    lcallw  *%cs:(hook_orig15 - stage1_start)
    pushw   %bp
    movw    %sp, %bp
    jc      8f
    andb    $0xFE, 6(%bp)
    pushal
    movl    %cs:(hook_res_low - stage1_start), %ebx
    movl    $0xA0000, %ecx
    call    e820_clip
    movl    %cs:(hook_res_high - stage1_start), %ebx
    movl    %cs:(hook_res_high_end - stage1_start), %ecx
    call    e820_clip
    popal
    popw    %bp
    iret
8:  orb     $1, 6(%bp)
    popw    %bp
    iret
9:  ljmpw   *%cs:(hook_orig15 - stage1_start)

# Clip the E820 entry at ES:DI against [EBX, ECX). Clobbers EAX, EDX.
e820_clip:
    cmpl    %ecx, %ebx
    jae     2f                          # empty range
    cmpl    $1, %es:16(%di)             # usable RAM only
    jne     2f
    cmpl    $0, %es:4(%di)              # base above 4 GiB: not ours
    jne     2f
    movl    %es:(%di), %eax             # base
    movl    $0xFFFFFFFF, %edx           # end, saturated at 4 GiB
    cmpl    $0, %es:12(%di)
    jne     3f
    movl    %es:8(%di), %edx
    addl    %eax, %edx
    jnc     3f
    movl    $0xFFFFFFFF, %edx
3:  cmpl    %ebx, %eax
    jb      1f
    cmpl    %ecx, %eax
    jae     2f
    movl    $2, %es:16(%di)             # starts inside: reserved
    ret
1:  cmpl    %ebx, %edx                  # starts below: cut it at the range
    jbe     2f
    movl    %ebx, %edx
    subl    %eax, %edx
    movl    %edx, %es:8(%di)
    movl    $0, %es:12(%di)
2:  ret

    .p2align 3
    .global stage1_gdt
stage1_gdt:
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF            # 0x08: 32-bit code, base 0, limit 4 GiB
    .quad 0x00CF92000000FFFF            # 0x10: 32-bit data, base 0, limit 4 GiB
    .quad 0x00009A080000FFFF            # 0x18: 16-bit code, base 0x80000, limit 64 KiB
    .quad 0x000092080000FFFF            # 0x20: 16-bit data, base 0x80000, limit 64 KiB
gdt_end:
gdt_desc:
    .word   gdt_end - gdt - 1
    .long   gdt
caller_gdtr:
    .word   0
    .long   0

    .p2align 2
    .global thunk_regs
thunk_regs:                             # struct Regs in bios.rs: keep the offsets in step
    .space  36
    .global hook_regs
hook_regs:
    .space  36
thunk_vector:
    .long   0
saved_esp:
    .long   0
caller_sp:  .long 0
caller_ss:  .word 0
caller_fs:  .word 0
caller_gs:  .word 0
# struct HookState in bios.rs: keep the order in step.
    .global hook_state
hook_state:
hook_orig13:        .long 0
hook_orig15:        .long 0
hook_res_low:       .long 0xA0000
hook_res_high:      .long 0
hook_res_high_end:  .long 0
hook_route_lo:      .byte 0xFF             # nothing routed until Rust sets the range
hook_route_hi:      .byte 0x00
                    .byte 0, 0
    .global boot_target
boot_target:                            # far pointer for rm_boot
    .long   0
    .global bios_drive
bios_drive:
    .byte   0
# Far pointers to the real-mode re-entry points (segment patched when relocated).
    .global far_s1_real
    .global far_h_real
far_s1_real:        .word s1_real - stage1_start, SEG1
far_h_real:         .word h_real - stage1_start, SEG1
# Paging for the hooks once relocated (0: none), and the CR0 bits that enter protected mode.
    .global pm_cr3
pm_cr3:             .long 0
    .global pm_cr0
pm_cr0:             .long 1
    .global low_dap
    .p2align 4
low_dap:                                # the disk packet for our own reads of the drive
    .space  16                          # (and for s1_load_tail's, before Rust runs)
# s1_load_tail's state and messages.
    .p2align 2
crc_nibbles:                            # CRC-32 of each 4-bit value (polynomial 0xEDB88320)
    .long   0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC
    .long   0x76DC4190, 0x6B6B51F4, 0x4DB26158, 0x5005713C
    .long   0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C
    .long   0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C
s1_count:   .long 0                     # sectors of the current chunk
s1_bytes:   .long 0                     # bytes of it that are tail
s1_tries:   .byte 0
s1_msg_read:
    .asciz  "polyboot: cannot read the rest of stage 1 from the boot drive\r\n"
s1_msg_crc:
    .asciz  "polyboot: the rest of stage 1 (on the boot partition) is damaged: run polyboot update\r\n"
    .p2align 4
rm_stack:
    .space  2048                        # real-mode stack of the thunk (and stage 1's start)
rm_stack_top:
    .p2align 12                         # this page is what gets copied low (see the top)
    .global __stage1_16bit_end
__stage1_16bit_end:

    .section .bss.stack, "aw", @nobits
    .p2align 4
    .space  65536
    .global __stack_top
__stack_top:
