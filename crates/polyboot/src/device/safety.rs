//! The erase policy: which targets a destructive command may overwrite.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{format_size, inspect_target, DiskInfo, MountInfo, SystemView, Target};

/// What the caller asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    /// `--force`: allow fixed (non-removable, non-USB) disks. Overrides nothing else.
    pub force: bool,
    /// The smallest disk the command can use, in bytes (0 for no minimum). Not applied to
    /// image files, which the command creates or grows to the size it needs.
    pub min_size: u64,
}

/// Names a disk in errors: `/dev/sdb (14.9 GiB, SanDisk Cruzer Blade)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskLabel {
    pub path: PathBuf,
    pub size_bytes: u64,
    pub name: Option<String>,
}

impl fmt::Display for DiskLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.path.display(), format_size(self.size_bytes))?;
        if let Some(name) = &self.name {
            write!(f, ", {name}")?;
        }
        write!(f, ")")
    }
}

/// A kernel device stacked on the disk or one of its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBy {
    /// `sdb` or `sdb2`.
    pub device: String,
    /// `dm-0`, `md127`.
    pub holder: String,
}

impl fmt::Display for HeldBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (on {})", self.holder, self.device)
    }
}

/// Why a target may not be erased. Only [`SafetyError::NotRemovable`] yields to `--force`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SafetyError {
    /// A directory, character device, pipe, socket or dangling symlink.
    NotABlockDeviceOrFile {
        path: PathBuf,
        found: &'static str,
    },
    /// A path under `/dev` that does not exist (a mistyped device name).
    NoSuchDevice {
        path: PathBuf,
    },
    IsPartition {
        partition: PathBuf,
        disk: PathBuf,
    },
    /// The running system's `/` is on the disk (`device` is the partition or holder).
    HoldsRoot {
        disk: DiskLabel,
        device: String,
    },
    Mounted {
        disk: DiskLabel,
        mounts: Vec<MountInfo>,
    },
    /// Something is stacked on it (device-mapper, LVM, LUKS, md RAID).
    InUse {
        disk: DiskLabel,
        holders: Vec<HeldBy>,
    },
    ReadOnly {
        disk: DiskLabel,
    },
    /// Size 0: an empty card reader or an unbound loop device.
    NoMedium {
        disk: DiskLabel,
    },
    TooSmall {
        disk: DiskLabel,
        needed: u64,
        actual: u64,
    },
    NotRemovable {
        disk: DiskLabel,
    },
    /// sysfs or /proc could not be read, so safety cannot be established.
    Unreadable {
        path: PathBuf,
        message: String,
    },
}

impl SafetyError {
    /// Whether re-running with `--force` would get past this refusal.
    pub fn overridable_by_force(&self) -> bool {
        matches!(self, SafetyError::NotRemovable { .. })
    }
}

impl std::error::Error for SafetyError {}

impl fmt::Display for SafetyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NO_FORCE: &str = "--force does not override this";
        match self {
            SafetyError::NotABlockDeviceOrFile { path, found } => {
                write!(f, "{} is {found}, not a disk or an image file", path.display())
            }
            SafetyError::NoSuchDevice { path } => {
                write!(f, "{} does not exist; check the device name with `lsblk`", path.display())
            }
            SafetyError::IsPartition { partition, disk } => write!(
                f,
                "{} is a partition of {}; give the whole disk {}",
                partition.display(),
                disk.display(),
                disk.display()
            ),
            SafetyError::HoldsRoot { disk, device } => write!(
                f,
                "{disk} holds the running system's root filesystem (/ is on {device}); \
                 refusing to erase it, even with --force"
            ),
            SafetyError::Mounted { disk, mounts } => {
                let what: Vec<String> = mounts.iter().map(ToString::to_string).collect();
                let commands: Vec<String> = mounts
                    .iter()
                    .map(|mount| match mount.is_swap() {
                        true => format!("swapoff {}", mount.source),
                        false => format!("umount {}", mount.mount_point),
                    })
                    .collect();
                write!(
                    f,
                    "{disk} is in use: {}; unmount it first ({}); {NO_FORCE}",
                    what.join(", "),
                    commands.join("; ")
                )
            }
            SafetyError::InUse { disk, holders } => {
                let holders: Vec<String> = holders.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "{disk} is in use by {} (device-mapper, LVM, LUKS or RAID); deactivate it \
                     first (e.g. vgchange -an, cryptsetup close, mdadm --stop); {NO_FORCE}",
                    holders.join(", ")
                )
            }
            SafetyError::ReadOnly { disk } => {
                write!(f, "{disk} is read-only (is the write-protect switch on?)")
            }
            SafetyError::NoMedium { disk } => {
                write!(f, "{disk} has size 0: no medium (an empty card reader or an unbound loop device?)")
            }
            SafetyError::TooSmall { disk, needed, actual } => write!(
                f,
                "{disk} is too small: needs at least {} ({needed} bytes), device has {} ({actual} bytes)",
                format_size(*needed),
                format_size(*actual)
            ),
            SafetyError::NotRemovable { disk } => write!(
                f,
                "{disk} is a fixed disk (not removable, not on USB); refusing to erase it. \
                 If it really is the disk to erase, check with `lsblk` and pass --force"
            ),
            SafetyError::Unreadable { path, message } => {
                write!(f, "cannot inspect {}: {message}", path.display())
            }
        }
    }
}

/// Everything stacked on the disk or its partitions.
pub(super) fn held_by(disk: &DiskInfo) -> Vec<HeldBy> {
    let on_disk = disk.holders.iter().map(|holder| (&disk.sysfs_name, holder));
    let on_partitions = disk.partitions.iter().flat_map(|partition| {
        partition.holders.iter().map(move |holder| (&partition.name, holder))
    });
    on_disk
        .chain(on_partitions)
        .map(|(device, holder)| HeldBy { device: device.clone(), holder: holder.clone() })
        .collect()
}

/// Applies the policy to an inspected target. Refusals that `--force` cannot lift come
/// first, so the user is never told to add `--force` only to hit another wall.
pub fn check_policy(target: &Target, policy: &Policy) -> Result<(), SafetyError> {
    let Target::BlockDevice(disk) = target else {
        return Ok(());
    };
    let label = || disk.label();
    if disk.holds_root {
        let root = disk.mounted.iter().find(|mount| mount.mount_point == "/");
        let device = root.map_or(&disk.sysfs_name, |mount| &mount.device).clone();
        return Err(SafetyError::HoldsRoot { disk: label(), device });
    }
    if !disk.mounted.is_empty() {
        return Err(SafetyError::Mounted { disk: label(), mounts: disk.mounted.clone() });
    }
    let holders = held_by(disk);
    if !holders.is_empty() {
        return Err(SafetyError::InUse { disk: label(), holders });
    }
    if disk.read_only {
        return Err(SafetyError::ReadOnly { disk: label() });
    }
    if disk.size_bytes == 0 {
        return Err(SafetyError::NoMedium { disk: label() });
    }
    if disk.size_bytes < policy.min_size {
        return Err(SafetyError::TooSmall {
            disk: label(),
            needed: policy.min_size,
            actual: disk.size_bytes,
        });
    }
    if !disk.counts_as_removable() && !policy.force {
        return Err(SafetyError::NotRemovable { disk: label() });
    }
    Ok(())
}

/// Inspects TARGET and applies the policy: the one call a destructive command makes before
/// asking for confirmation.
pub fn check_erasable(
    view: &SystemView,
    target: &Path,
    policy: &Policy,
) -> Result<Target, SafetyError> {
    let inspected = inspect_target(view, target)?;
    check_policy(&inspected, policy)?;
    Ok(inspected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::fake::{add_nvme_disk, add_sata_disk, add_usb_stick, FakeDisk, FakeSystem};
    use crate::device::DevNum;

    const GIB: u64 = 1 << 30;
    const NO_FORCE: Policy = Policy { force: false, min_size: 0 };
    const FORCE: Policy = Policy { force: true, min_size: 0 };

    fn expect_disk(target: Target) -> DiskInfo {
        match target {
            Target::BlockDevice(disk) => disk,
            other => panic!("expected a block device, got {other:?}"),
        }
    }

    fn usb_system() -> (FakeSystem, PathBuf) {
        let mut system = FakeSystem::new();
        let node = add_usb_stick(&mut system);
        (system, node)
    }

    #[test]
    fn usb_stick_is_erasable_without_force() {
        let (system, node) = usb_system();
        let disk = expect_disk(check_erasable(&system.view, &node, &NO_FORCE).unwrap());
        assert_eq!(disk.path, node);
        assert_eq!(disk.sysfs_name, "sdb");
        assert_eq!(disk.devnum, DevNum::new(8, 16));
        assert_eq!(disk.size_bytes, 16_008_609_792);
        assert_eq!(disk.logical_sector_size, 512);
        assert!(disk.removable && disk.usb && !disk.read_only && !disk.holds_root);
        assert_eq!(disk.vendor.as_deref(), Some("SanDisk"));
        assert_eq!(disk.model.as_deref(), Some("Cruzer Blade"));
        assert_eq!(disk.partitions.len(), 1);
        let partition = &disk.partitions[0];
        assert_eq!(partition.name, "sdb1");
        assert_eq!(partition.path, system.view.dev_root.join("sdb1"));
        assert_eq!(partition.number, 1);
        assert_eq!(partition.start_bytes, 2048 * 512);
        assert_eq!(partition.size_bytes, 31_264_768 * 512);
        assert!(disk.mounted.is_empty() && disk.holders.is_empty());
    }

    #[test]
    fn by_id_symlink_resolves_to_the_disk_node() {
        let (system, node) = usb_system();
        let link =
            system.add_dev_symlink("disk/by-id/usb-SanDisk_Cruzer_Blade_4C5300-0:0", "../../sdb");
        let disk = expect_disk(check_erasable(&system.view, &link, &NO_FORCE).unwrap());
        assert_eq!(disk.path, node);
        assert_eq!(disk.sysfs_name, "sdb");
    }

    #[test]
    fn partition_is_refused_naming_the_whole_disk() {
        let (system, _) = usb_system();
        let partition = system.view.dev_root.join("sdb1");
        let error = check_erasable(&system.view, &partition, &FORCE).unwrap_err();
        let disk = system.view.dev_root.join("sdb");
        assert_eq!(
            error,
            SafetyError::IsPartition { partition: partition.clone(), disk: disk.clone() }
        );
        assert_eq!(
            error.to_string(),
            format!(
                "{} is a partition of {1}; give the whole disk {1}",
                partition.display(),
                disk.display()
            )
        );
        assert!(!error.overridable_by_force());
    }

    #[test]
    fn mounted_partition_is_refused_even_with_force() {
        let (system, node) = usb_system();
        system.add_mount("8:17", "/media/user/CRUZER", "vfat", "/dev/sdb1");
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        let SafetyError::Mounted { disk, mounts } = &error else { panic!("{error:?}") };
        assert_eq!(disk.path, node);
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].device, "sdb1");
        assert_eq!(mounts[0].mount_point, "/media/user/CRUZER");
        let message = error.to_string();
        assert!(message.contains("sdb1 on /media/user/CRUZER (vfat)"), "{message}");
        assert!(message.contains("umount /media/user/CRUZER"), "{message}");
        assert!(message.contains("--force does not override"), "{message}");
    }

    #[test]
    fn mounted_whole_disk_is_refused() {
        // "Superfloppy" sticks carry a filesystem on the whole disk, no partition table.
        let (system, node) = usb_system();
        system.add_mount("8:16", "/mnt/stick", "vfat", "/dev/sdb");
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        let SafetyError::Mounted { mounts, .. } = &error else { panic!("{error:?}") };
        assert_eq!(mounts[0].device, "sdb");
    }

    #[test]
    fn mount_with_anonymous_device_number_is_found_by_source() {
        // btrfs reports an anonymous 0:N device number; only the source names the partition.
        let (system, node) = usb_system();
        system.add_mount("0:45", "/media/user/data", "btrfs", "/dev/sdb1");
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        let SafetyError::Mounted { mounts, .. } = &error else { panic!("{error:?}") };
        assert_eq!(mounts[0].device, "sdb1");
    }

    #[test]
    fn mount_source_symlink_is_resolved_to_its_device() {
        let (system, node) = usb_system();
        system.add_dev_symlink("disk/by-uuid/1234-ABCD", "../../sdb1");
        system.add_mount("0:46", "/media/by-uuid", "vfat", "/dev/disk/by-uuid/1234-ABCD");
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        let SafetyError::Mounted { mounts, .. } = &error else { panic!("{error:?}") };
        assert_eq!(mounts[0].device, "sdb1");
    }

    #[test]
    fn active_swap_partition_is_refused() {
        let (mut system, node) = usb_system();
        system.add_partition("sdb", 2, DevNum::new(8, 18), 31_266_000, 800);
        system.add_swap("/dev/sdb2");
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        let SafetyError::Mounted { mounts, .. } = &error else { panic!("{error:?}") };
        assert_eq!(mounts[0].device, "sdb2");
        assert!(mounts[0].is_swap());
        let message = error.to_string();
        assert!(
            message.contains("sdb2 is active swap") && message.contains("swapoff /dev/sdb2"),
            "{message}"
        );
    }

    #[test]
    fn disk_holding_root_is_refused_even_with_force() {
        let mut system = FakeSystem::new();
        let node = add_nvme_disk(&mut system);
        system.add_mount("259:1", "/boot/efi", "vfat", "/dev/nvme0n1p1");
        system.add_mount("259:2", "/", "ext4", "/dev/nvme0n1p2");
        let inspected = expect_disk(inspect_target(&system.view, &node).unwrap());
        assert!(inspected.holds_root);
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        let SafetyError::HoldsRoot { disk, device } = &error else { panic!("{error:?}") };
        assert_eq!(device, "nvme0n1p2");
        assert_eq!(disk.name.as_deref(), Some("SAMSUNG MZVLB512HAJQ-000L7"));
        let message = error.to_string();
        assert!(message.contains("root filesystem (/ is on nvme0n1p2)"), "{message}");
        assert!(message.contains("even with --force"), "{message}");
    }

    #[test]
    fn root_on_lvm_on_the_disk_counts_as_holding_root() {
        let mut system = FakeSystem::new();
        let node = add_sata_disk(&mut system);
        system.add_holder("sda1", "dm-0", DevNum::new(253, 0));
        system.add_mount("253:0", "/", "ext4", "/dev/mapper/vg-root");
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        assert!(
            matches!(&error, SafetyError::HoldsRoot { device, .. } if device == "dm-0"),
            "{error:?}"
        );
    }

    #[test]
    fn mounted_dm_device_on_a_partition_is_found_through_the_stack() {
        let (mut system, node) = usb_system();
        system.add_holder("sdb1", "dm-3", DevNum::new(253, 3));
        system.add_mount("253:3", "/media/secret", "ext4", "/dev/mapper/luks-1234");
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        let SafetyError::Mounted { mounts, .. } = &error else { panic!("{error:?}") };
        assert_eq!(mounts[0].device, "dm-3");
    }

    #[test]
    fn holders_on_the_disk_are_refused() {
        let (mut system, node) = usb_system();
        system.add_holder("sdb", "md127", DevNum::new(9, 127));
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        let expected = vec![HeldBy { device: "sdb".into(), holder: "md127".into() }];
        assert!(
            matches!(&error, SafetyError::InUse { holders, .. } if *holders == expected),
            "{error:?}"
        );
        assert!(error.to_string().contains("in use by md127 (on sdb)"), "{error}");
    }

    #[test]
    fn holders_on_a_partition_are_refused() {
        // An opened but unmounted LUKS container (or an LVM PV) on sdb1.
        let (mut system, node) = usb_system();
        system.add_holder("sdb1", "dm-0", DevNum::new(253, 0));
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        let SafetyError::InUse { holders, .. } = &error else { panic!("{error:?}") };
        assert_eq!(holders, &[HeldBy { device: "sdb1".into(), holder: "dm-0".into() }]);
        assert!(error.to_string().contains("dm-0 (on sdb1)"), "{error}");
    }

    #[test]
    fn fixed_disk_is_refused_without_force_and_allowed_with_it() {
        let mut system = FakeSystem::new();
        let node = add_sata_disk(&mut system);
        let error = check_erasable(&system.view, &node, &NO_FORCE).unwrap_err();
        assert!(matches!(error, SafetyError::NotRemovable { .. }), "{error:?}");
        assert!(error.overridable_by_force());
        assert_eq!(
            error.to_string(),
            format!(
                "{} (465.8 GiB, Samsung SSD 860) is a fixed disk (not removable, not on USB); refusing to \
                 erase it. If it really is the disk to erase, check with `lsblk` and pass --force",
                node.display()
            )
        );
        assert!(check_erasable(&system.view, &node, &FORCE).is_ok());
    }

    #[test]
    fn refusals_force_cannot_lift_are_reported_before_not_removable() {
        let mut system = FakeSystem::new();
        let node = add_sata_disk(&mut system);
        system.add_mount("8:1", "/home", "ext4", "/dev/sda1");
        let error = check_erasable(&system.view, &node, &NO_FORCE).unwrap_err();
        assert!(matches!(error, SafetyError::Mounted { .. }), "{error:?}");
    }

    #[test]
    fn usb_disk_reporting_not_removable_counts_as_removable() {
        // USB SSDs and many sticks report removable=0; being on USB is what matters.
        let mut system = FakeSystem::new();
        let node = system.add_disk(&FakeDisk {
            name: "sdc",
            devnum: DevNum::new(8, 32),
            parent: "pci0000:00/0000:00:14.0/usb4/4-2/4-2:1.0/host7/target7:0:0/7:0:0:0",
            sectors: 1_953_525_168,
            removable: false,
            attrs: &[("device/vendor", "Samsung "), ("device/model", "PSSD T7         ")],
        });
        let disk = expect_disk(check_erasable(&system.view, &node, &NO_FORCE).unwrap());
        assert!(!disk.removable && disk.usb && disk.counts_as_removable());
    }

    #[test]
    fn sd_card_counts_as_removable_but_emmc_does_not() {
        let mut system = FakeSystem::new();
        let card = system.add_disk(&FakeDisk {
            name: "mmcblk0",
            devnum: DevNum::new(179, 0),
            parent: "pci0000:00/0000:00:14.5/mmc_host/mmc0/mmc0:aaaa",
            sectors: 62_333_952,
            removable: false,
            attrs: &[("device/type", "SD"), ("device/name", "SC32G")],
        });
        let emmc = system.add_disk(&FakeDisk {
            name: "mmcblk1",
            devnum: DevNum::new(179, 8),
            parent: "platform/fe330000.mmc/mmc_host/mmc1/mmc1:0001",
            sectors: 122_142_720,
            removable: false,
            attrs: &[("device/type", "MMC"), ("device/name", "DA4064")],
        });
        let disk = expect_disk(check_erasable(&system.view, &card, &NO_FORCE).unwrap());
        assert!(disk.sd_card);
        assert_eq!(disk.model.as_deref(), Some("SC32G"));
        let error = check_erasable(&system.view, &emmc, &NO_FORCE).unwrap_err();
        assert!(matches!(error, SafetyError::NotRemovable { .. }), "{error:?}");
    }

    #[test]
    fn loop_device_over_a_file_is_allowed_but_over_a_disk_needs_force() {
        let mut system = FakeSystem::new();
        let loop_disk = |name, minor| FakeDisk {
            name,
            devnum: DevNum::new(7, minor),
            parent: "virtual",
            sectors: 2_097_152,
            removable: false,
            attrs: &[],
        };
        let over_file = system.add_disk(&loop_disk("loop0", 0));
        system.set_attr("loop0", "loop/backing_file", "/home/user/polyboot-test.img");
        let over_disk = system.add_disk(&loop_disk("loop1", 1));
        system.set_attr("loop1", "loop/backing_file", "/dev/sda");
        assert!(check_erasable(&system.view, &over_file, &NO_FORCE).is_ok());
        let error = check_erasable(&system.view, &over_disk, &NO_FORCE).unwrap_err();
        assert!(matches!(error, SafetyError::NotRemovable { .. }), "{error:?}");
    }

    #[test]
    fn too_small_disk_is_refused_with_both_sizes() {
        let (system, node) = usb_system();
        let policy = Policy { force: true, min_size: 32 * GIB };
        let error = check_erasable(&system.view, &node, &policy).unwrap_err();
        assert!(matches!(
            error,
            SafetyError::TooSmall { needed, actual: 16_008_609_792, .. } if needed == 32 * GIB
        ));
        assert!(error.to_string().ends_with(
            "is too small: needs at least 32.0 GiB (34359738368 bytes), device has 14.9 GiB (16008609792 bytes)"
        ));
        let exactly = Policy { force: false, min_size: 16_008_609_792 };
        assert!(check_erasable(&system.view, &node, &exactly).is_ok());
    }

    #[test]
    fn read_only_and_empty_readers_are_refused() {
        let (system, node) = usb_system();
        system.set_attr("sdb", "ro", "1");
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        assert!(matches!(error, SafetyError::ReadOnly { .. }), "{error:?}");

        let (system, node) = usb_system();
        system.set_attr("sdb", "size", "0");
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        assert!(matches!(error, SafetyError::NoMedium { .. }), "{error:?}");
    }

    #[test]
    fn existing_image_file_is_always_allowed() {
        let system = FakeSystem::new();
        let image = system.path("polyboot.img");
        std::fs::write(&image, [0u8; 4096]).unwrap();
        let strict = Policy { force: false, min_size: 64 * GIB };
        let target = check_erasable(&system.view, &image, &strict).unwrap();
        assert_eq!(target, Target::ImageFile { path: image, exists: true, size: 4096 });
        assert!(!target.needs_confirmation());
    }

    #[test]
    fn absent_image_file_is_allowed() {
        let system = FakeSystem::new();
        let image = system.path("new.img");
        let target = check_erasable(&system.view, &image, &NO_FORCE).unwrap();
        assert_eq!(target, Target::ImageFile { path: image, exists: false, size: 0 });
    }

    #[test]
    fn directory_is_refused() {
        let system = FakeSystem::new();
        let dir = system.path("proc");
        let error = check_erasable(&system.view, &dir, &FORCE).unwrap_err();
        assert_eq!(
            error,
            SafetyError::NotABlockDeviceOrFile { path: dir.clone(), found: "a directory" }
        );
        assert_eq!(
            error.to_string(),
            format!("{} is a directory, not a disk or an image file", dir.display())
        );
    }

    #[test]
    fn dangling_symlink_is_refused() {
        let system = FakeSystem::new();
        let link = system.path("stale.img");
        std::os::unix::fs::symlink("gone.img", &link).unwrap();
        let error = check_erasable(&system.view, &link, &FORCE).unwrap_err();
        assert!(matches!(
            error,
            SafetyError::NotABlockDeviceOrFile { found: "a dangling symlink", .. }
        ));
    }

    #[test]
    fn mistyped_device_name_is_not_created_as_an_image_file() {
        let system = FakeSystem::new();
        let typo = system.view.dev_root.join("sdx");
        let error = check_erasable(&system.view, &typo, &FORCE).unwrap_err();
        assert_eq!(error, SafetyError::NoSuchDevice { path: typo });
    }

    #[test]
    fn unreadable_mountinfo_fails_closed() {
        let (system, node) = usb_system();
        std::fs::remove_file(system.view.proc_root.join("self/mountinfo")).unwrap();
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        assert!(matches!(error, SafetyError::Unreadable { .. }), "{error:?}");
    }

    #[test]
    fn missing_proc_swaps_means_no_swap() {
        let (system, node) = usb_system();
        std::fs::remove_file(system.view.proc_root.join("swaps")).unwrap();
        assert!(check_erasable(&system.view, &node, &NO_FORCE).is_ok());
    }

    #[test]
    fn block_device_without_sysfs_entry_is_unreadable() {
        let mut system = FakeSystem::new();
        let node = system.path("dev/orphan");
        std::fs::write(&node, b"").unwrap();
        system.view.fake_block_devices.insert(node.canonicalize().unwrap(), DevNum::new(240, 0));
        let error = check_erasable(&system.view, &node, &FORCE).unwrap_err();
        assert!(error.to_string().contains("no sysfs entry for block device 240:0"), "{error}");
    }
}
