//! polyboot-hook: polyboot's `/init` inside the booted Linux.
//!
//! The boot manager serves each initrd of a Linux ISO wrapped as
//! `[our cpio: /init = this program, /polyboot/handoff.bin][/polyboot/initrds/NNNN = the
//! original initrd]` (core `initrd_wrap`), so the kernel unpacks only those files and runs
//! us. We then:
//!
//! 1. mount `/proc`, `/sys` and `/dev` (devtmpfs) and log to `/dev/kmsg` (`polyboot:` prefix);
//! 2. read the hand-off record ([`polyboot_core::handoff`]);
//! 3. unpack the original initrd into `/` ([`cpio::unpack_initramfs`], every compression the
//!    kernel reads but lzo) — first, because its module tree is what step 4 may need; its
//!    `/init` replaces ours (the running binary is unlinked, not overwritten);
//! 4. wait for the drive ([`discover`]: size + GPT disk GUID / MBR signature), loading
//!    usb-storage, uas, sd_mod and dm-mod from the unpacked module tree if it does not appear
//!    ([`modules`]);
//! 5. map the image read-only as `/dev/mapper/polyboot` ([`dm`]);
//! 6. place the files the record lists (hand-off version 2): copies, auto-install templates
//!    with Ventoy's variables expanded, tar archives extracted over `/` ([`files`]);
//! 7. map the persistence backend read-write as `/dev/mapper/polyboot-persist` ([`persist`];
//!    dm-crypt after a passphrase when it is LUKS2, [`crypt`]);
//! 8. tell the init family where the image and the backend are ([`hints`]);
//! 9. unmount what we mounted and exec `/init` (now the original) with our arguments and
//!    environment, as PID 1.
//!
//! Any failure is logged and skipped: the original init always runs. If the original initrd
//! brought no `/init` (we can tell: `/init` is still the inode we were started from), we try
//! `/sbin/init`, `/etc/init`, `/bin/init`, `/bin/sh` like the kernel.
pub mod cpio;
pub mod crypt;
pub mod decompress;
pub mod discover;
pub mod dm;
pub mod files;
pub mod hints;
pub mod modules;
pub mod nbd;
pub mod persist;
pub mod run;
