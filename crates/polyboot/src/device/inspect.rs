//! Working out what TARGET is: an image file, or a whole disk described from sysfs and /proc.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::mounts::{parse_mountinfo, parse_swaps};
use super::{format_size, DevNum, DiskLabel, SafetyError, SystemView};

/// What a TARGET argument turned out to be.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Target {
    /// A regular file, or a path that does not exist yet and will be created.
    /// `size` is 0 when it does not exist.
    ImageFile { path: PathBuf, exists: bool, size: u64 },
    /// A whole disk.
    BlockDevice(DiskInfo),
}

/// A whole disk as the kernel describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiskInfo {
    /// The device node with symlinks resolved (`/dev/disk/by-id/usb-…` becomes `/dev/sdb`).
    pub path: PathBuf,
    /// The kernel's name for it: `sdb`, `nvme0n1`, `mmcblk0`, `loop3`.
    pub sysfs_name: String,
    pub devnum: DevNum,
    pub size_bytes: u64,
    pub logical_sector_size: u32,
    /// The raw sysfs `removable` flag; the policy is [`DiskInfo::counts_as_removable`].
    pub removable: bool,
    /// Attached through USB: its sysfs device path runs through a USB controller.
    pub usb: bool,
    /// An SD card: `mmcblk*` whose `device/type` is `SD` (built-in eMMC says `MMC`).
    pub sd_card: bool,
    /// For a loop device, what it is bound to (`loop/backing_file`).
    pub loop_backing_file: Option<PathBuf>,
    pub read_only: bool,
    pub vendor: Option<String>,
    pub model: Option<String>,
    /// In partition-number order.
    pub partitions: Vec<PartitionInfo>,
    /// Kernel devices stacked directly on the whole disk (`dm-0`, `md127`, …).
    pub holders: Vec<String>,
    /// Mounts and active swap on the disk, its partitions, or anything stacked on them.
    pub mounted: Vec<MountInfo>,
    /// The running system's `/` lives on this disk (directly or through dm/md).
    pub holds_root: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionInfo {
    /// Kernel name: `sdb1`, `nvme0n1p2`.
    pub name: String,
    /// The device node it would have: `/dev/sdb1`.
    pub path: PathBuf,
    pub number: u32,
    pub devnum: DevNum,
    pub start_bytes: u64,
    pub size_bytes: u64,
    /// Kernel devices stacked on this partition (an LVM PV, LUKS, RAID member).
    pub holders: Vec<String>,
}

/// A mount or active swap area found on the disk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MountInfo {
    /// The kernel device it is on: the disk, one of its partitions, or a holder (`dm-0`).
    pub device: String,
    /// The source as the kernel reports it (`/dev/sdb1`, `/dev/mapper/vg-root`).
    pub source: String,
    /// The mount point, or `[SWAP]` for active swap (as `lsblk` shows it).
    pub mount_point: String,
    pub fs_type: String,
}

pub(super) const SWAP_MOUNT_POINT: &str = "[SWAP]";

impl MountInfo {
    pub fn is_swap(&self) -> bool {
        self.mount_point == SWAP_MOUNT_POINT
    }
}

impl fmt::Display for MountInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_swap() {
            write!(f, "{} is active swap", self.device)
        } else {
            write!(f, "{} on {} ({})", self.device, self.mount_point, self.fs_type)
        }
    }
}

/// Inspects TARGET without applying any policy. Only errors for things that are never a
/// valid target (a partition, a directory, a missing `/dev` node) or cannot be read.
pub fn inspect_target(view: &SystemView, path: &Path) -> Result<Target, SafetyError> {
    let stat_failed = |error: io::Error| SafetyError::Unreadable {
        path: path.to_path_buf(),
        message: error.to_string(),
    };
    let link_metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            // A typo like /dev/sdx must not silently become a new image file in /dev.
            if path.starts_with(&view.dev_root) {
                return Err(SafetyError::NoSuchDevice { path: path.to_path_buf() });
            }
            return Ok(Target::ImageFile { path: path.to_path_buf(), exists: false, size: 0 });
        }
        Err(error) => return Err(stat_failed(error)),
    };
    let resolved = match path.canonicalize() {
        Ok(resolved) => resolved,
        Err(error)
            if link_metadata.file_type().is_symlink()
                && error.kind() == io::ErrorKind::NotFound =>
        {
            return Err(SafetyError::NotABlockDeviceOrFile {
                path: path.to_path_buf(),
                found: "a dangling symlink",
            });
        }
        Err(error) => return Err(stat_failed(error)),
    };
    if let Some(devnum) = view.block_device_number(&resolved).map_err(stat_failed)? {
        return inspect_disk(view, &resolved, devnum).map(Target::BlockDevice);
    }
    let metadata = fs::metadata(&resolved).map_err(stat_failed)?;
    if metadata.is_file() {
        return Ok(Target::ImageFile { path: resolved, exists: true, size: metadata.len() });
    }
    Err(SafetyError::NotABlockDeviceOrFile {
        path: path.to_path_buf(),
        found: file_kind(&metadata),
    })
}

fn file_kind(metadata: &fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let file_type = metadata.file_type();
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_fifo() {
            return "a named pipe";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if metadata.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

fn inspect_disk(view: &SystemView, node: &Path, devnum: DevNum) -> Result<DiskInfo, SafetyError> {
    let link = view.sys_root.join("dev/block").join(devnum.to_string());
    let sys_dir = link.canonicalize().map_err(|error| SafetyError::Unreadable {
        path: link.clone(),
        message: format!("no sysfs entry for block device {devnum} ({}): {error}", node.display()),
    })?;
    let name = file_name(&sys_dir);
    if sys_dir.join("partition").exists() {
        let disk = sys_dir.parent().map(file_name).unwrap_or_default();
        return Err(SafetyError::IsPartition {
            partition: node.to_path_buf(),
            disk: view.dev_root.join(disk),
        });
    }

    let sys_root = view.sys_root.canonicalize().unwrap_or_else(|_| view.sys_root.clone());
    let device_path = sys_dir.strip_prefix(&sys_root).unwrap_or(&sys_dir);
    let usb = format!("/{}", device_path.display()).contains("/usb");

    let attr = |relative: &str| read_attr(&sys_dir.join(relative));
    let partitions = read_partitions(view, &sys_dir)?;
    let holders = read_holders(&sys_dir)?;
    let mut disk = DiskInfo {
        path: node.to_path_buf(),
        devnum,
        size_bytes: read_sectors(&sys_dir)?,
        logical_sector_size: attr("queue/logical_block_size")
            .and_then(|s| s.parse().ok())
            .unwrap_or(512),
        removable: attr("removable").as_deref() == Some("1"),
        usb,
        sd_card: name.starts_with("mmcblk") && attr("device/type").as_deref() == Some("SD"),
        loop_backing_file: attr("loop/backing_file").map(PathBuf::from),
        read_only: attr("ro").as_deref() == Some("1"),
        // virtio reports a PCI vendor id ("0x1af4") here, which names nothing.
        vendor: attr("device/vendor").filter(|vendor| !vendor.starts_with("0x")),
        model: attr("device/model")
            .or_else(|| name.starts_with("mmcblk").then(|| attr("device/name")).flatten()),
        sysfs_name: name,
        partitions,
        holders,
        mounted: Vec::new(),
        holds_root: false,
    };

    let stack = device_stack(&sys_dir, &disk)?;
    disk.mounted = find_mounts(view, &stack)?;
    disk.holds_root = disk.mounted.iter().any(|mount| mount.mount_point == "/");
    Ok(disk)
}

fn read_partitions(view: &SystemView, disk_dir: &Path) -> Result<Vec<PartitionInfo>, SafetyError> {
    let mut partitions = Vec::new();
    for entry in fs::read_dir(disk_dir).map_err(|error| unreadable(disk_dir, error))? {
        let dir = entry.map_err(|error| unreadable(disk_dir, error))?.path();
        let Some(number) = read_attr(&dir.join("partition")) else {
            continue;
        };
        let name = file_name(&dir);
        let start_sectors: u64 =
            read_attr(&dir.join("start")).and_then(|s| s.parse().ok()).unwrap_or(0);
        partitions.push(PartitionInfo {
            path: view.dev_root.join(&name),
            number: number.parse().unwrap_or(0),
            devnum: read_parsed(&dir.join("dev"))?,
            start_bytes: start_sectors.saturating_mul(512),
            size_bytes: read_sectors(&dir)?,
            holders: read_holders(&dir)?,
            name,
        });
    }
    partitions.sort_by(|a, b| (a.number, &a.name).cmp(&(b.number, &b.name)));
    Ok(partitions)
}

/// The names under `holders/`. A missing directory means nothing is stacked on the device.
fn read_holders(device_dir: &Path) -> Result<Vec<String>, SafetyError> {
    let holders_dir = device_dir.join("holders");
    let entries = match fs::read_dir(&holders_dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(unreadable(&holders_dir, error)),
    };
    let mut names = entries
        .map(|entry| entry.map(|entry| entry.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|error| unreadable(&holders_dir, error))?;
    names.sort();
    Ok(names)
}

/// A kernel device whose mounts count as mounts of the disk.
struct StackedDevice {
    name: String,
    devnum: Option<DevNum>,
}

/// The disk, its partitions, and everything stacked on them (dm, md, LUKS, LVM), so a root
/// filesystem on LVM on sdb2 is found to be on sdb.
fn device_stack(disk_dir: &Path, disk: &DiskInfo) -> Result<Vec<StackedDevice>, SafetyError> {
    let mut stack =
        vec![StackedDevice { name: disk.sysfs_name.clone(), devnum: Some(disk.devnum) }];
    stack.extend(
        disk.partitions
            .iter()
            .map(|p| StackedDevice { name: p.name.clone(), devnum: Some(p.devnum) }),
    );
    let mut dirs: Vec<PathBuf> = vec![disk_dir.to_path_buf()];
    dirs.extend(disk.partitions.iter().map(|p| disk_dir.join(&p.name)));
    // holders/<name> links to the holder's sysfs dir; follow the chain (dm on md on a
    // partition is real) with a bound so a malformed tree cannot loop forever.
    let mut depth = 0;
    while !dirs.is_empty() && depth < 8 {
        let mut next = Vec::new();
        for dir in &dirs {
            for name in read_holders(dir)? {
                let holder_dir = dir.join("holders").join(&name);
                if !stack.iter().any(|device| device.name == name) {
                    let devnum = read_attr(&holder_dir.join("dev")).and_then(|s| s.parse().ok());
                    stack.push(StackedDevice { name, devnum });
                    next.push(holder_dir);
                }
            }
        }
        dirs = next;
        depth += 1;
    }
    Ok(stack)
}

/// Mounts and swap areas on any device of the stack, matched by the mountinfo `maj:min`
/// field or, for anonymous device numbers (btrfs), by the `/dev/...` source.
fn find_mounts(view: &SystemView, stack: &[StackedDevice]) -> Result<Vec<MountInfo>, SafetyError> {
    // Fail closed: without mountinfo we cannot tell whether the disk is in use.
    let mountinfo_path = view.proc_root.join("self/mountinfo");
    let mountinfo =
        fs::read_to_string(&mountinfo_path).map_err(|error| unreadable(&mountinfo_path, error))?;
    let mut found = Vec::new();
    for entry in parse_mountinfo(&mountinfo) {
        let by_number = entry
            .devnum
            .and_then(|devnum| stack.iter().find(|device| device.devnum == Some(devnum)));
        if let Some(device) = by_number.or_else(|| device_for_source(view, stack, &entry.source)) {
            found.push(MountInfo {
                device: device.name.clone(),
                source: entry.source,
                mount_point: entry.mount_point,
                fs_type: entry.fs_type,
            });
        }
    }

    // A kernel built without swap has no /proc/swaps; that means no swap, not an error.
    let swaps_path = view.proc_root.join("swaps");
    let swaps = match fs::read_to_string(&swaps_path) {
        Ok(text) => text,
        Err(error) if error.kind() == io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(unreadable(&swaps_path, error)),
    };
    for source in parse_swaps(&swaps) {
        if let Some(device) = device_for_source(view, stack, &source) {
            found.push(MountInfo {
                device: device.name.clone(),
                source,
                mount_point: SWAP_MOUNT_POINT.to_string(),
                fs_type: "swap".to_string(),
            });
        }
    }
    Ok(found)
}

/// Which stacked device a `/dev/...` path names: by the device number of the node (which
/// resolves `/dev/mapper/…` and `/dev/disk/by-uuid/…`), else by kernel name (`/dev/sdb1`).
fn device_for_source<'a>(
    view: &SystemView,
    stack: &'a [StackedDevice],
    source: &str,
) -> Option<&'a StackedDevice> {
    let relative = source.strip_prefix("/dev/")?;
    let devnum = view.block_device_number(&view.dev_root.join(relative)).ok().flatten();
    stack
        .iter()
        .find(|device| (devnum.is_some() && device.devnum == devnum) || device.name == relative)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

/// A sysfs attribute, trimmed (SCSI pads vendor/model with spaces); `None` if absent or blank.
fn read_attr(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn read_parsed<T: std::str::FromStr>(path: &Path) -> Result<T, SafetyError> {
    let text = fs::read_to_string(path).map_err(|error| unreadable(path, error))?;
    text.trim().parse().map_err(|_| SafetyError::Unreadable {
        path: path.to_path_buf(),
        message: format!("unexpected contents {:?}", text.trim()),
    })
}

/// sysfs `size` is always in 512-byte units, whatever the logical sector size.
fn read_sectors(device_dir: &Path) -> Result<u64, SafetyError> {
    read_parsed::<u64>(&device_dir.join("size")).map(|sectors| sectors.saturating_mul(512))
}

fn unreadable(path: &Path, error: io::Error) -> SafetyError {
    SafetyError::Unreadable { path: path.to_path_buf(), message: error.to_string() }
}

impl DiskInfo {
    /// Whether the disk may be erased without `--force`. Besides the sysfs flag:
    /// - USB-attached disks count: many USB sticks and every USB SSD report `removable=0`,
    ///   and USB is exactly where polyboot drives live.
    /// - SD cards count (laptop readers report `removable=0`); built-in eMMC does not.
    /// - A loop device over a regular file counts, since writing it is writing that image
    ///   file; over a `/dev` node it is treated like that device and needs `--force`.
    pub fn counts_as_removable(&self) -> bool {
        let file_backed_loop =
            self.loop_backing_file.as_ref().is_some_and(|backing| !backing.starts_with("/dev/"));
        self.removable || self.usb || self.sd_card || file_backed_loop
    }

    /// Vendor and model as one name, e.g. "SanDisk Cruzer Blade". Leaves out libata's
    /// placeholder vendor "ATA" and a vendor the model already starts with.
    pub fn display_name(&self) -> Option<String> {
        let vendor = self.vendor.as_deref().filter(|vendor| {
            *vendor != "ATA"
                && !self.model.as_deref().is_some_and(|model| {
                    model.to_ascii_lowercase().starts_with(&vendor.to_ascii_lowercase())
                })
        });
        match (vendor, self.model.as_deref()) {
            (Some(vendor), Some(model)) => Some(format!("{vendor} {model}")),
            (vendor, model) => vendor.or(model).map(str::to_string),
        }
    }

    /// How the disk is attached, when that can be told: "USB", "NVMe", "SD card", …
    pub fn transport(&self) -> Option<String> {
        let name = self.sysfs_name.as_str();
        let label = if self.usb {
            "USB"
        } else if self.sd_card {
            "SD card"
        } else if name.starts_with("nvme") {
            "NVMe"
        } else if name.starts_with("mmcblk") {
            "eMMC"
        } else if name.starts_with("loop") {
            return Some(match &self.loop_backing_file {
                Some(backing) => format!("loop device on {}", backing.display()),
                None => "loop device (unbound)".to_string(),
            });
        } else if name.starts_with("vd") {
            "virtio"
        } else {
            return None;
        };
        Some(label.to_string())
    }

    /// The short identification used in error messages.
    pub fn label(&self) -> DiskLabel {
        DiskLabel {
            path: self.path.clone(),
            size_bytes: self.size_bytes,
            name: self.display_name(),
        }
    }
}

/// The summary shown before erasing, e.g.
/// `/dev/sdb: 14.9 GiB (16008609792 bytes), SanDisk Cruzer Blade, USB, removable` followed
/// by indented lines for partitions, mounts and holders.
impl fmt::Display for DiskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} ({} bytes)",
            self.path.display(),
            format_size(self.size_bytes),
            self.size_bytes
        )?;
        for detail in [self.display_name(), self.transport()].into_iter().flatten() {
            write!(f, ", {detail}")?;
        }
        if self.removable {
            write!(f, ", removable")?;
        } else if !self.counts_as_removable() {
            write!(f, ", fixed disk")?;
        }
        if self.logical_sector_size != 512 {
            write!(f, ", {}-byte sectors", self.logical_sector_size)?;
        }
        if self.read_only {
            write!(f, ", read-only")?;
        }

        write!(f, "\n  partitions: ")?;
        if self.partitions.is_empty() {
            write!(f, "none")?;
        }
        for (index, partition) in self.partitions.iter().enumerate() {
            let separator = if index == 0 { "" } else { ", " };
            write!(f, "{separator}{} {}", partition.name, format_size(partition.size_bytes))?;
        }
        for mount in &self.mounted {
            write!(f, "\n  mounted: {mount}")?;
        }
        for held in super::safety::held_by(self) {
            write!(f, "\n  in use by: {held}")?;
        }
        if self.holds_root {
            write!(f, "\n  holds the running system's root filesystem")?;
        }
        Ok(())
    }
}

impl Target {
    /// The image file path, or the resolved device node.
    pub fn path(&self) -> &Path {
        match self {
            Target::ImageFile { path, .. } => path,
            Target::BlockDevice(disk) => &disk.path,
        }
    }

    /// Image files are the user's own output and are written without asking; disks are
    /// erased only after [`super::confirm_erase`].
    pub fn needs_confirmation(&self) -> bool {
        matches!(self, Target::BlockDevice(_))
    }

    /// Human summary for the confirmation prompt (same as `Display`).
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::ImageFile { path, exists: true, size } => {
                write!(f, "{}: image file, {} ({size} bytes)", path.display(), format_size(*size))
            }
            Target::ImageFile { path, exists: false, .. } => {
                write!(f, "{}: image file (does not exist yet, will be created)", path.display())
            }
            Target::BlockDevice(disk) => disk.fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::fake::{add_nvme_disk, add_usb_stick, FakeDisk, FakeSystem};

    fn inspect_disk_at(system: &FakeSystem, node: &Path) -> DiskInfo {
        match inspect_target(&system.view, node).unwrap() {
            Target::BlockDevice(disk) => disk,
            other => panic!("expected a block device, got {other:?}"),
        }
    }

    #[test]
    fn describes_a_usb_stick() {
        let mut system = FakeSystem::new();
        let node = add_usb_stick(&mut system);
        let target = inspect_target(&system.view, &node).unwrap();
        assert_eq!(
            target.describe(),
            format!(
                "{}: 14.9 GiB (16008609792 bytes), SanDisk Cruzer Blade, USB, removable\n  partitions: sdb1 14.9 GiB",
                node.display()
            )
        );
    }

    #[test]
    fn describes_an_nvme_system_disk_with_its_mounts() {
        let mut system = FakeSystem::new();
        let node = add_nvme_disk(&mut system);
        system.add_mount("259:1", "/boot/efi", "vfat", "/dev/nvme0n1p1");
        system.add_mount("259:2", "/", "ext4", "/dev/nvme0n1p2");
        let disk = inspect_disk_at(&system, &node);
        assert_eq!(disk.transport().as_deref(), Some("NVMe"));
        assert!(!disk.usb && !disk.removable);
        assert_eq!(
            disk.to_string(),
            format!(
                "{}: 476.9 GiB (512110190592 bytes), SAMSUNG MZVLB512HAJQ-000L7, NVMe, fixed disk\n  \
                 partitions: nvme0n1p1 512.0 MiB, nvme0n1p2 476.4 GiB\n  \
                 mounted: nvme0n1p1 on /boot/efi (vfat)\n  \
                 mounted: nvme0n1p2 on / (ext4)\n  \
                 holds the running system's root filesystem",
                node.display()
            )
        );
    }

    #[test]
    fn describes_holders_sector_size_and_missing_partitions() {
        let mut system = FakeSystem::new();
        let node = system.add_disk(&FakeDisk {
            name: "vdb",
            devnum: DevNum::new(254, 16),
            parent: "pci0000:00/0000:00:05.0/virtio3",
            sectors: 8_388_608,
            removable: false,
            attrs: &[("device/vendor", "0x1af4"), ("queue/logical_block_size", "4096")],
        });
        system.add_holder("vdb", "md0", DevNum::new(9, 0));
        let disk = inspect_disk_at(&system, &node);
        assert_eq!(disk.vendor, None, "virtio's PCI vendor id is not a name");
        assert_eq!(disk.logical_sector_size, 4096);
        assert_eq!(
            disk.to_string(),
            format!(
                "{}: 4.0 GiB (4294967296 bytes), virtio, fixed disk, 4096-byte sectors\n  \
                 partitions: none\n  in use by: md0 (on vdb)",
                node.display()
            )
        );
    }

    #[test]
    fn describes_image_files() {
        let system = FakeSystem::new();
        let image = system.path("drive.img");
        std::fs::write(&image, vec![0u8; 3 << 20]).unwrap();
        let existing = inspect_target(&system.view, &image).unwrap();
        assert_eq!(
            existing.describe(),
            format!("{}: image file, 3.0 MiB (3145728 bytes)", image.display())
        );
        let absent = system.path("new.img");
        let created = inspect_target(&system.view, &absent).unwrap();
        assert_eq!(
            created.describe(),
            format!("{}: image file (does not exist yet, will be created)", absent.display())
        );
        assert_eq!(created.path(), absent);
    }

    #[test]
    fn display_name_skips_placeholder_and_repeated_vendors() {
        let mut system = FakeSystem::new();
        let node = add_usb_stick(&mut system);
        let mut disk = inspect_disk_at(&system, &node);
        disk.vendor = Some("ATA".into());
        disk.model = Some("Samsung SSD 860".into());
        assert_eq!(disk.display_name().as_deref(), Some("Samsung SSD 860"));
        disk.vendor = Some("Kingston".into());
        disk.model = Some("KINGSTON DataTraveler".into());
        assert_eq!(disk.display_name().as_deref(), Some("KINGSTON DataTraveler"));
        disk.model = None;
        assert_eq!(disk.display_name().as_deref(), Some("Kingston"));
        disk.vendor = None;
        assert_eq!(disk.display_name(), None);
    }

    #[test]
    fn serializes_to_tagged_json() {
        let mut system = FakeSystem::new();
        let node = add_usb_stick(&mut system);
        system.add_mount("8:17", "/media/stick", "vfat", "/dev/sdb1");
        let json = serde_json::to_value(inspect_target(&system.view, &node).unwrap()).unwrap();
        assert_eq!(json["kind"], "block_device");
        assert_eq!(json["path"], node.to_str().unwrap());
        assert_eq!(json["sysfs_name"], "sdb");
        assert_eq!(json["devnum"], "8:16");
        assert_eq!(json["size_bytes"], 16_008_609_792u64);
        assert_eq!(json["logical_sector_size"], 512);
        assert_eq!(json["usb"], true);
        assert_eq!(json["vendor"], "SanDisk");
        assert_eq!(json["partitions"][0]["name"], "sdb1");
        assert_eq!(json["partitions"][0]["devnum"], "8:17");
        assert_eq!(json["mounted"][0]["mount_point"], "/media/stick");
        assert_eq!(json["holds_root"], false);

        let image = system.path("x.img");
        let json = serde_json::to_value(inspect_target(&system.view, &image).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "image_file", "path": image.to_str().unwrap(), "exists": false, "size": 0})
        );
    }
}
