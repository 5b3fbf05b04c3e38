//! Fake sysfs / proc / dev trees for the unit tests, laid out like the real ones: disks under
//! `sys/devices/<bus path>/block/<name>`, `sys/dev/block/MAJ:MIN` links, `device` links to
//! the parent device. Device nodes are plain files listed in
//! `SystemView::fake_block_devices`, since tests cannot create real ones.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::{DevNum, SystemView};

/// Root is on a disk none of the tests inspect.
const BASE_MOUNTINFO: &str = "\
22 28 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:5 - proc proc rw
23 28 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw
24 28 0:5 / /dev rw,nosuid,relatime shared:2 - devtmpfs udev rw,size=8049036k,mode=755
28 1 259:9 / / rw,relatime shared:1 - ext4 /dev/nvme9n1p2 rw,errors=remount-ro
40 24 0:25 / /dev/shm rw,nosuid,nodev shared:3 - tmpfs tmpfs rw
";

const SWAPS_HEADER: &str = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

pub(super) struct FakeDisk<'a> {
    pub name: &'a str,
    pub devnum: DevNum,
    /// The sysfs device path under `devices/` that `block/<name>` hangs off.
    pub parent: &'a str,
    pub sectors: u64,
    pub removable: bool,
    /// Extra attributes relative to the disk's sysfs dir: `("device/model", "Cruzer Blade")`.
    pub attrs: &'a [(&'a str, &'a str)],
}

pub(super) struct FakeSystem {
    root: TempDir,
    pub view: SystemView,
    /// Kernel name → sysfs dir, for adding partitions and holders.
    sys_dirs: BTreeMap<String, PathBuf>,
}

impl FakeSystem {
    pub fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        let base = root.path();
        for dir in ["sys/dev/block", "sys/devices/virtual/block", "proc/self", "dev"] {
            fs::create_dir_all(base.join(dir)).unwrap();
        }
        fs::write(base.join("proc/self/mountinfo"), BASE_MOUNTINFO).unwrap();
        fs::write(base.join("proc/swaps"), SWAPS_HEADER).unwrap();
        let view = SystemView {
            sys_root: base.join("sys"),
            proc_root: base.join("proc"),
            dev_root: base.join("dev"),
            fake_block_devices: BTreeMap::new(),
        };
        FakeSystem { root, view, sys_dirs: BTreeMap::new() }
    }

    /// A path inside the fake root (for image files and directories).
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.path().join(relative)
    }

    /// Adds a whole disk; returns its fake `/dev` node.
    pub fn add_disk(&mut self, disk: &FakeDisk) -> PathBuf {
        let parent = self.view.sys_root.join("devices").join(disk.parent);
        let dir = parent.join("block").join(disk.name);
        fs::create_dir_all(dir.join("queue")).unwrap();
        fs::create_dir_all(dir.join("holders")).unwrap();
        symlink("../..", dir.join("device")).unwrap();
        write(&dir.join("size"), &disk.sectors.to_string());
        write(&dir.join("removable"), if disk.removable { "1" } else { "0" });
        write(&dir.join("ro"), "0");
        write(&dir.join("queue/logical_block_size"), "512");
        for (relative, value) in disk.attrs {
            write(&dir.join(relative), value);
        }
        self.register(disk.name, disk.devnum, dir)
    }

    /// Adds partition `number` of `disk` (`sdb` → `sdb1`, `nvme0n1` → `nvme0n1p1`).
    pub fn add_partition(
        &mut self,
        disk: &str,
        number: u32,
        devnum: DevNum,
        start: u64,
        sectors: u64,
    ) -> PathBuf {
        let separator = if disk.ends_with(|c: char| c.is_ascii_digit()) { "p" } else { "" };
        let name = format!("{disk}{separator}{number}");
        let dir = self.sys_dirs[disk].join(&name);
        fs::create_dir_all(dir.join("holders")).unwrap();
        write(&dir.join("partition"), &number.to_string());
        write(&dir.join("start"), &start.to_string());
        write(&dir.join("size"), &sectors.to_string());
        self.register(&name, devnum, dir)
    }

    /// Stacks a virtual device (`dm-0`, `md127`) on the disk or partition `on`.
    pub fn add_holder(&mut self, on: &str, holder: &str, devnum: DevNum) -> PathBuf {
        let dir = self.view.sys_root.join("devices/virtual/block").join(holder);
        let node = if self.sys_dirs.contains_key(holder) {
            self.view.dev_root.join(holder)
        } else {
            fs::create_dir_all(dir.join("holders")).unwrap();
            write(&dir.join("size"), "1024");
            self.register(holder, devnum, dir.clone())
        };
        symlink(&dir, self.sys_dirs[on].join("holders").join(holder)).unwrap();
        node
    }

    /// Adds a `/dev` symlink such as `disk/by-id/usb-…` → `../../sdb`.
    pub fn add_dev_symlink(&self, relative: &str, target: &str) -> PathBuf {
        let link = self.view.dev_root.join(relative);
        fs::create_dir_all(link.parent().unwrap()).unwrap();
        symlink(target, &link).unwrap();
        link
    }

    /// Appends a mountinfo line.
    pub fn add_mount(&self, devnum: &str, mount_point: &str, fs_type: &str, source: &str) {
        let path = self.view.proc_root.join("self/mountinfo");
        let mut text = fs::read_to_string(&path).unwrap();
        let id = 100 + text.lines().count();
        text += &format!(
            "{id} 28 {devnum} / {mount_point} rw,relatime shared:{id} - {fs_type} {source} rw\n"
        );
        fs::write(path, text).unwrap();
    }

    pub fn add_swap(&self, filename: &str) {
        let path = self.view.proc_root.join("swaps");
        let mut text = fs::read_to_string(&path).unwrap();
        text +=
            &format!("{filename}                               partition\t8388604\t\t0\t\t-2\n");
        fs::write(path, text).unwrap();
    }

    pub fn set_attr(&self, device: &str, relative: &str, value: &str) {
        write(&self.sys_dirs[device].join(relative), value);
    }

    fn register(&mut self, name: &str, devnum: DevNum, dir: PathBuf) -> PathBuf {
        write(&dir.join("dev"), &devnum.to_string());
        symlink(&dir, self.view.sys_root.join("dev/block").join(devnum.to_string())).unwrap();
        let node = self.view.dev_root.join(name);
        fs::write(&node, b"").unwrap();
        self.view.fake_block_devices.insert(node.canonicalize().unwrap(), devnum);
        self.sys_dirs.insert(name.to_string(), dir);
        node
    }
}

fn write(path: &Path, value: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, format!("{value}\n")).unwrap();
}

/// A 16 GB SanDisk Cruzer Blade on USB with one FAT partition, as a laptop sees it.
pub(super) fn add_usb_stick(system: &mut FakeSystem) -> PathBuf {
    let node = system.add_disk(&FakeDisk {
        name: "sdb",
        devnum: DevNum::new(8, 16),
        parent: "pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0",
        sectors: 31_266_816,
        removable: true,
        attrs: &[("device/vendor", "SanDisk "), ("device/model", "Cruzer Blade    ")],
    });
    system.add_partition("sdb", 1, DevNum::new(8, 17), 2048, 31_264_768);
    node
}

/// A 512 GB NVMe system disk with an EFI partition and a root partition.
pub(super) fn add_nvme_disk(system: &mut FakeSystem) -> PathBuf {
    let node = system.add_disk(&FakeDisk {
        name: "nvme0n1",
        devnum: DevNum::new(259, 0),
        parent: "pci0000:00/0000:00:1d.0/0000:3d:00.0/nvme/nvme0",
        sectors: 1_000_215_216,
        removable: false,
        attrs: &[("device/model", "SAMSUNG MZVLB512HAJQ-000L7              ")],
    });
    system.add_partition("nvme0n1", 1, DevNum::new(259, 1), 2048, 1_048_576);
    system.add_partition("nvme0n1", 2, DevNum::new(259, 2), 1_050_624, 999_162_511);
    node
}

/// A 500 GB SATA SSD (libata reports vendor "ATA").
pub(super) fn add_sata_disk(system: &mut FakeSystem) -> PathBuf {
    let node = system.add_disk(&FakeDisk {
        name: "sda",
        devnum: DevNum::new(8, 0),
        parent: "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0",
        sectors: 976_773_168,
        removable: false,
        attrs: &[("device/vendor", "ATA     "), ("device/model", "Samsung SSD 860 ")],
    });
    system.add_partition("sda", 1, DevNum::new(8, 1), 2048, 976_771_072);
    node
}
