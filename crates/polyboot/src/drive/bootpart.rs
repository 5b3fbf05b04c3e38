//! The boot partition (partition 2, FAT16): the UEFI boot manager and the version stamp (and
//! the tail of a BIOS stage 1 larger than stage 0's load area, see [`super::bootcode`]),
//! written with the `fatfs` crate at install time. The legacy BIOS boot code that goes with
//! them is in [`super::bootcode`].

use super::bootcode::BiosCode;
use super::io::RegionStream;
use super::signing::{self, CertInfo, Chain, Signer};
use anyhow::{bail, Context, Result};
use polyboot_core::fat::{dirent, Geometry};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// FAT volume label of the boot partition.
pub const BOOT_LABEL: &[u8; 11] = b"POLYBOOTEFI";
pub const EFI_BOOT_PATH: &str = "EFI/BOOT/BOOTX64.EFI";
pub const STAMP_PATH: &str = "polyboot/stamp.json";
/// The WinPE jump program the boot manager serves in Windows ISOs' `boot.wim` (core
/// `session::WINPE_JUMP_X64`).
pub const WINPE_JUMP_PATH: &str = polyboot_core::session::WINPE_JUMP_X64;
pub const WINPE_JUMP_X86_PATH: &str = polyboot_core::session::WINPE_JUMP_X86;
/// Signed drives (issue 15): shim's second stage and MokManager beside BOOTX64.EFI, the
/// certificate at the top of the partition.
pub const LOADER_PATH: &str = "EFI/BOOT/grubx64.efi";
pub const MOK_MANAGER_PATH: &str = "EFI/BOOT/mmx64.efi";
pub const CERT_PATH: &str = "ENROLL-THIS-KEY.cer";
/// Bumped when the drive layout changes in a way `update` must know about.
pub const LAYOUT_VERSION: u32 = 1;
/// The layout of a signed drive (more files on partition 2, the stamp's `secure_boot`): an
/// older polyboot, which would put an unsigned BOOTX64.EFI over shim, refuses to update it.
pub const LAYOUT_VERSION_SIGNED: u32 = 2;

/// `\polyboot\stamp.json`: what wrote the boot partition. Its JSON form is pinned by a test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    pub polyboot_version: String,
    pub layout_version: u32,
    /// SHA-256 of `\EFI\BOOT\BOOTX64.EFI` as written.
    pub bootx64_sha256: String,
    /// The signed chain (absent: an unsigned drive, as before issue 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure_boot: Option<SecureBootStamp>,
}

/// What a signed drive carries: the chain, the certificate, and enough hashes for `update`
/// to tell whether the signed boot manager on the drive is still this build's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecureBootStamp {
    pub chain: Chain,
    pub cert: CertInfo,
    /// SHA-256 of the boot manager before signing.
    pub polyboot_unsigned_sha256: String,
    /// SHA-256 of the signed boot manager as written (`grubx64.efi` or `BOOTX64.EFI`).
    pub polyboot_signed_sha256: String,
}

/// The files of a signed drive besides BOOTX64.EFI.
#[derive(Clone)]
pub struct SignedFiles {
    pub chain: Chain,
    /// The signed boot manager as shim's second stage (`grubx64.efi`; shim chain only).
    pub loader: Option<Vec<u8>>,
    /// MokManager (`mmx64.efi`; shim chain only).
    pub mok_manager: Option<Vec<u8>>,
    /// `ENROLL-THIS-KEY.cer` (DER).
    pub cert_der: Vec<u8>,
    pub stamp: SecureBootStamp,
}

/// The files the boot partition holds, read from the build before anything is written.
pub struct BootFiles {
    pub bootx64: Vec<u8>,
    /// The BIOS boot code, when the build has it (`None`: the drive boots in UEFI only, and
    /// `update` leaves the boot-code areas alone).
    pub bios: Option<BiosCode>,
    /// The signed chain's files (`None`: an unsigned drive).
    pub secure_boot: Option<SignedFiles>,
    /// The WinPE jump program (`\polyboot\winpe-x64.exe`), when the build has it: what lets
    /// Windows Setup find its ISO (`None`: Windows ISOs boot, but Setup misses its medium).
    pub winpe_jump: Option<Vec<u8>>,
    /// The same for 32-bit Windows PE (`\polyboot\winpe-x86.exe`).
    pub winpe_jump_x86: Option<Vec<u8>>,
}

impl BootFiles {
    /// `explicit` (`--efi`), else `$POLYBOOT_EFI`, else the build tree next to this binary.
    pub fn locate(explicit: Option<&Path>) -> Result<BootFiles> {
        let path = match explicit {
            Some(p) => p.to_path_buf(),
            None => match std::env::var_os("POLYBOOT_EFI") {
                Some(p) => PathBuf::from(p),
                None => default_efi_path()?,
            },
        };
        let bootx64 = std::fs::read(&path).with_context(|| {
            format!("reading the UEFI boot manager {} (build it with `cargo xtask build`, or pass --efi)", path.display())
        })?;
        if bootx64.len() < 2 || &bootx64[..2] != b"MZ" {
            bail!("{} is not a UEFI (PE) executable", path.display());
        }
        Ok(BootFiles {
            bootx64,
            bios: BiosCode::locate()?,
            secure_boot: None,
            winpe_jump: locate_winpe_jump(WinPeArch::X64)?,
            winpe_jump_x86: locate_winpe_jump(WinPeArch::X86)?,
        })
    }

    /// These files as a signed `chain`: the boot manager signed by `signer` (or `reuse`, the
    /// signed boot manager already on a drive, when it is this build's signed with this key),
    /// shim and MokManager from shim-signed for the shim chain.
    pub fn signed(
        self,
        chain: Chain,
        signer: &Signer,
        reuse: Option<Vec<u8>>,
    ) -> Result<BootFiles> {
        let unsigned_sha256 = hex(&Sha256::digest(&self.bootx64));
        let polyboot = match reuse {
            Some(bytes) => bytes,
            None => signer.sign(&self.bootx64)?,
        };
        let stamp = SecureBootStamp {
            chain,
            cert: signer.cert.clone(),
            polyboot_unsigned_sha256: unsigned_sha256,
            polyboot_signed_sha256: hex(&Sha256::digest(&polyboot)),
        };
        let (bootx64, loader, mok_manager) = match chain {
            Chain::Shim => (
                signing::shim_file(signing::SHIM_SIGNED)?,
                Some(polyboot),
                Some(signing::shim_file(signing::MOK_MANAGER_SIGNED)?),
            ),
            Chain::Polyboot => (polyboot, None, None),
        };
        let secure_boot = Some(SignedFiles {
            chain,
            loader,
            mok_manager,
            cert_der: signer.cert_der.clone(),
            stamp,
        });
        Ok(BootFiles { bootx64, bios: self.bios, secure_boot, ..self })
    }

    /// Bytes the files take on partition 2.
    pub fn total_bytes(&self) -> u64 {
        let mut n = self.bootx64.len();
        n += self.bios.as_ref().and_then(BiosCode::tail).map_or(0, |t| t.len());
        n += self.winpe_jump.as_ref().map_or(0, |v| v.len());
        n += self.winpe_jump_x86.as_ref().map_or(0, |v| v.len());
        if let Some(sb) = &self.secure_boot {
            n += sb.loader.as_ref().map_or(0, |v| v.len());
            n += sb.mok_manager.as_ref().map_or(0, |v| v.len());
            n += sb.cert_der.len();
        }
        n as u64
    }

    pub fn stamp(&self) -> Stamp {
        Stamp {
            polyboot_version: polyboot_core::VERSION.to_string(),
            layout_version: if self.secure_boot.is_some() {
                LAYOUT_VERSION_SIGNED
            } else {
                LAYOUT_VERSION
            },
            bootx64_sha256: hex(&Sha256::digest(&self.bootx64)),
            secure_boot: self.secure_boot.as_ref().map(|s| s.stamp.clone()),
        }
    }

    /// `stamp.json` exactly as `install` and `update` write it.
    pub fn stamp_json(&self) -> Result<Vec<u8>> {
        Ok(serde_json::to_vec_pretty(&self.stamp())?)
    }
}

/// `target/<profile>/polyboot` → `target/firmware/x86_64-unknown-uefi/release/polyboot-efi.efi`;
/// an installed binary looks in `../share/polyboot/BOOTX64.EFI`.
/// Which WinPE a jump program runs in.
#[derive(Debug, Clone, Copy)]
enum WinPeArch {
    X64,
    X86,
}

/// The jump program for `arch`: `$POLYBOOT_WINPE` (`$POLYBOOT_WINPE_X86`), else the build tree
/// or the package next to this binary; `None` when neither has it (an error only when the
/// variable names a file that is not a PE).
fn locate_winpe_jump(arch: WinPeArch) -> Result<Option<Vec<u8>>> {
    let (var, built, packaged) = match arch {
        WinPeArch::X64 => ("POLYBOOT_WINPE", "polyboot-winpe.exe", "winpe-x64.exe"),
        WinPeArch::X86 => ("POLYBOOT_WINPE_X86", "polyboot-winpe-x86.exe", "winpe-x86.exe"),
    };
    let path = match std::env::var_os(var) {
        Some(p) if p.is_empty() => return Ok(None),
        Some(p) => PathBuf::from(p),
        None => {
            let exe = std::env::current_exe().context("locating the polyboot binary")?;
            let dir = exe.parent().context("binary has no directory")?;
            let candidates = [
                dir.join("../firmware").join(built),
                dir.join("../../firmware").join(built),
                dir.join("../share/polyboot").join(packaged),
            ];
            match candidates.into_iter().find(|p| p.is_file()) {
                Some(p) => p,
                None => return Ok(None),
            }
        }
    };
    let bytes = std::fs::read(&path)
        .with_context(|| format!("reading the WinPE jump program {}", path.display()))?;
    if bytes.len() < 2 || &bytes[..2] != b"MZ" {
        bail!("{} is not a Windows (PE) executable", path.display());
    }
    Ok(Some(bytes))
}

fn default_efi_path() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the polyboot binary")?;
    let dir = exe.parent().context("binary has no directory")?;
    let candidates = [
        dir.join("../firmware/x86_64-unknown-uefi/release/polyboot-efi.efi"),
        dir.join("../../firmware/x86_64-unknown-uefi/release/polyboot-efi.efi"),
        dir.join("../share/polyboot/BOOTX64.EFI"),
    ];
    Ok(candidates.iter().find(|p| p.is_file()).unwrap_or(&candidates[0]).clone())
}

/// The path of tail file `k` ([`super::bootcode::TAIL_NAMES`]) on the boot partition.
pub fn tail_path(k: usize) -> String {
    [super::bootcode::TAIL_DIR, &[super::bootcode::TAIL_NAMES[k].long]].concat().join("/")
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Format the boot partition `[offset, offset+len)` of `file` as FAT and write the boot files.
pub fn write_boot_partition(
    file: &File,
    offset: u64,
    len: u64,
    sector_size: u32,
    files: &BootFiles,
) -> Result<()> {
    let opts = fatfs::FormatVolumeOptions::new()
        .bytes_per_sector(sector_size as u16)
        .total_sectors((len / sector_size as u64) as u32)
        .volume_label(*BOOT_LABEL);
    fatfs::format_volume(RegionStream::new(file, offset, len), opts)
        .context("formatting the boot partition (FAT)")?;
    let fs = fatfs::FileSystem::new(RegionStream::new(file, offset, len), fatfs::FsOptions::new())
        .context("opening the new boot partition")?;
    {
        let root = fs.root_dir();
        // The certificate first: the first file MokManager's "Enroll key from disk" lists.
        if let Some(sb) = &files.secure_boot {
            write_fat_file(&root, CERT_PATH, &sb.cert_der)?;
        }
        root.create_dir("EFI")?;
        root.create_dir("EFI/BOOT")?;
        root.create_dir("polyboot")?;
        // The BIOS stage 1's tail (a stage 1 larger than stage 0's load area, see bootcode.rs)
        // before the other files: on the fresh volume its clusters are one run, which the BIOS
        // reads by sector. `install` checks that, and patches the head with where it is.
        if let Some(tail) = files.bios.as_ref().and_then(BiosCode::tail) {
            write_fat_file(&root, &tail_path(0), tail)?;
        }
        write_fat_file(&root, EFI_BOOT_PATH, &files.bootx64)?;
        if let Some(sb) = &files.secure_boot {
            if let Some(mm) = &sb.mok_manager {
                write_fat_file(&root, MOK_MANAGER_PATH, mm)?;
            }
            if let Some(loader) = &sb.loader {
                write_fat_file(&root, LOADER_PATH, loader)?;
            }
        }
        if let Some(jump) = &files.winpe_jump {
            write_fat_file(&root, WINPE_JUMP_PATH, jump)?;
        }
        if let Some(jump) = &files.winpe_jump_x86 {
            write_fat_file(&root, WINPE_JUMP_X86_PATH, jump)?;
        }
        write_fat_file(&root, STAMP_PATH, &files.stamp_json()?)?;
    }
    fs.unmount().context("closing the boot partition")?;
    repair_dot_entries(file, offset, len, sector_size)?;
    Ok(())
}

/// The `fatfs` crate (0.3.6) writes a long-name entry in front of each new directory's "."
/// and ".." entries; fsck.fat (rightly) wants "." and ".." in the first two slots: move them
/// there ([`dirent::move_dot_entries_first`]). Our directories are small, so only their
/// first cluster holds these entries.
fn repair_dot_entries(file: &File, offset: u64, len: u64, sector_size: u32) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let mut bs = [0u8; polyboot_core::fat::geometry::BOOT_SECTOR_LEN];
    file.read_exact_at(&mut bs, offset).context("reading the boot partition's boot sector")?;
    let fat = Geometry::parse(&bs).map_err(|e| anyhow::anyhow!("the new boot partition: {e}"))?;
    anyhow::ensure!(
        fat.bytes_per_sector == sector_size,
        "the new boot partition has {}-byte sectors",
        fat.bytes_per_sector
    );
    let cluster_bytes = fat.cluster_bytes();

    // Depth-first over directories: (position, length in bytes) of each directory's entries.
    let mut queue = vec![(offset + fat.root_dir_offset(), fat.root_dir_bytes(), true)];
    while let Some((at, size, is_root)) = queue.pop() {
        let mut buf = vec![0u8; size as usize];
        file.read_exact_at(&mut buf, at)?;
        if !is_root && dirent::move_dot_entries_first(&mut buf) {
            file.write_all_at(&buf[..4 * dirent::ENTRY_SIZE], at)?;
        }
        for entry in dirent::slots(&buf) {
            if entry[dirent::NAME] == dirent::END_OF_DIR {
                break;
            }
            if dirent::is_subdirectory(entry) {
                let cluster = dirent::first_cluster(entry, false);
                if fat.is_data_cluster(cluster)
                    && fat.cluster_offset(cluster) + cluster_bytes <= len
                {
                    queue.push((offset + fat.cluster_offset(cluster), cluster_bytes, false));
                }
            }
        }
    }
    Ok(())
}

fn write_fat_file<T: fatfs::ReadWriteSeek>(
    root: &fatfs::Dir<'_, T>,
    path: &str,
    data: &[u8],
) -> Result<()> {
    let mut f =
        root.create_file(path).with_context(|| format!("creating {path} on the boot partition"))?;
    f.truncate()?;
    f.write_all(data).with_context(|| format!("writing {path} on the boot partition"))?;
    f.flush()?;
    Ok(())
}

/// Read the stamp of a boot partition; `None` when the partition is not ours.
pub fn read_stamp(file: &File, offset: u64, len: u64) -> Result<Option<Stamp>> {
    let Ok(fs) =
        fatfs::FileSystem::new(RegionStream::new(file, offset, len), fatfs::FsOptions::new())
    else {
        return Ok(None);
    };
    let root = fs.root_dir();
    let Ok(mut f) = root.open_file(STAMP_PATH) else {
        return Ok(None);
    };
    let mut text = Vec::new();
    f.read_to_end(&mut text).context("reading the boot partition's stamp")?;
    let stamp =
        serde_json::from_slice(&text).context("the boot partition's stamp.json is malformed")?;
    Ok(Some(stamp))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The on-disk JSON is an interface between versions: pin it.
    #[test]
    fn stamp_json_is_pinned() {
        let stamp = Stamp {
            polyboot_version: "0.1.0".into(),
            layout_version: 1,
            bootx64_sha256: "ab".repeat(32),
            secure_boot: None,
        };
        let fixture = include_str!("../../tests/fixtures/stamp-v1.json");
        assert_eq!(serde_json::to_string_pretty(&stamp).unwrap(), fixture.trim_end());
        assert_eq!(serde_json::from_str::<Stamp>(fixture).unwrap(), stamp);
    }

    #[test]
    fn boot_partition_round_trip_512_and_4096() {
        for ss in [512u32, 4096] {
            let tmp = tempfile::tempfile().unwrap();
            tmp.set_len(40 << 20).unwrap();
            let files = BootFiles {
                bootx64: b"MZ fake efi".to_vec(),
                bios: None,
                secure_boot: None,
                winpe_jump: None,
                winpe_jump_x86: None,
            };
            write_boot_partition(&tmp, 1 << 20, 32 << 20, ss, &files).unwrap();
            let stamp = read_stamp(&tmp, 1 << 20, 32 << 20).unwrap().unwrap();
            assert_eq!(stamp, files.stamp());
            assert!(read_stamp(&tmp, 0, 1 << 20).unwrap().is_none());
        }
    }
}
