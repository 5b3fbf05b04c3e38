# polyboot stage 0: the 440 bytes of MBR boot code (GNU as, AT&T syntax, 16-bit real mode).
#
# The BIOS loads sector 0 to 0000:7C00 and jumps to it with DL = its drive number. The same
# code serves the MBR layout and GPT's protective MBR: it never looks at the partition table,
# it only reads stage 1 from the loader gap, whose position `polyboot install` patches into
# the fields at offset 416 (see `patch area` below), loads it to 0800:0000 (linear 0x8000,
# link.ld's load area) and jumps there with DL still the boot drive.

    .section .stage0, "awx"
    .code16
    .global stage0_start
stage0_start:
    cli
    xorw    %ax, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    $0x7C00, %sp            # stack grows down from our own code into free low memory
    ljmp    $0, $s0_norm            # some BIOSes enter at 07C0:0000: make CS = 0
s0_norm:
    sti
    movb    %dl, s0_drive

    # INT 13h extensions (AH=41h): CF clear, BX = AA55h and CX bit 0 (packet calls) set.
    movb    $0x41, %ah
    movw    $0x55AA, %bx
    int     $0x13
    jc      s0_no_ext
    cmpw    $0xAA55, %bx
    jne     s0_no_ext
    testb   $1, %cl
    jz      s0_no_ext

    # Read at most 32 KiB per call (well under the 127-sector limit some BIOSes have, and
    # never crossing a 64 KiB boundary because each chunk starts 32 KiB-aligned).
    movw    $0x8000, %ax
    xorw    %dx, %dx
    divw    s0_sector_size
    movw    %ax, %bp                # BP = sectors per chunk

s0_loop:
    movw    s0_remaining, %ax
    testw   %ax, %ax
    jz      s0_done
    cmpw    %bp, %ax
    jbe     1f
    movw    %bp, %ax
1:  movw    %ax, s0_dap_count
    movw    $s0_dap, %si
    movb    s0_drive, %dl
    movb    $0x42, %ah
    int     $0x13
    jc      s0_read_error
    movw    s0_dap_count, %ax
    subw    %ax, s0_remaining
    addw    %ax, s0_dap_lba             # 64-bit LBA += count
    adcw    $0, s0_dap_lba + 2
    adcw    $0, s0_dap_lba + 4
    adcw    $0, s0_dap_lba + 6
    mulw    s0_sector_size              # AX = bytes read (<= 32 KiB)
    shrw    $4, %ax
    addw    %ax, s0_dap_seg             # next buffer: segment += bytes / 16
    jmp     s0_loop

s0_done:
    movb    s0_drive, %dl
    ljmp    $0x0800, $0

s0_no_ext:
    movw    $s0_msg_ext, %si
    jmp     s0_fail
s0_read_error:
    movw    $s0_msg_read, %si
s0_fail:                                # print the NUL-terminated message at SI, then halt
    lodsb
    testb   %al, %al
    jz      s0_halt
    movb    $0x0E, %ah
    movw    $7, %bx
    int     $0x10
    jmp     s0_fail
s0_halt:
    hlt
    jmp     s0_halt

s0_msg_ext:  .asciz "polyboot: no INT 13h extensions\r\n"
s0_msg_read: .asciz "polyboot: cannot read stage 1\r\n"
s0_drive:    .byte 0

# Patch area (offsets pinned by the host's `patch_stage0`): 416 "PBS0", 420 sector size,
# 422 stage-1 sector count, 424 the INT 13h disk address packet with its LBA at 432.
    .org 416
    .ascii "PBS0"
s0_sector_size: .word 512
s0_remaining:   .word 0
s0_dap:         .byte 16, 0
s0_dap_count:   .word 0
s0_dap_off:     .word 0
s0_dap_seg:     .word 0x0800
s0_dap_lba:     .quad 0
    .org 440
