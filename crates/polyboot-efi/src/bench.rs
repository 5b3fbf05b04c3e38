//! Diagnostics: the read path of a virtual device against raw reads of the same sectors,
//! measured inside the firmware (`diagnostics.read_benchmark` in polyboot.json).

use crate::clock;
use crate::disk::{AlignedBuf, FirmwareDisk};
use crate::image::DiskImage;
use crate::vblock::Installed;
use alloc::boxed::Box;
use polyboot_core::block::{ReadAt, Slice};
use polyboot_core::drive_location::DriveLocation;
use polyboot_core::exfat::ExFat;
use polyboot_core::virtual_medium::VirtualMedium;
use uefi::boot::{self, OpenProtocolAttributes, OpenProtocolParams};
use uefi::proto::media::block::BlockIO;
use uefi::Handle;

/// Read at least this much in each measurement (small images are read several times).
const MIN_BYTES: u64 = 64 << 20;
const CHUNK: usize = 1 << 20;

pub fn read_benchmark(
    fs: &mut ExFat<Slice<FirmwareDisk>>,
    disk: Handle,
    location: &DriveLocation,
    path: &str,
) {
    match run(fs, disk, location, path) {
        Ok((bytes, virtual_ms, raw_ms)) => {
            let mbps = |ms: u64| bytes as f64 / 1048576.0 / (ms.max(1) as f64 / 1000.0);
            println!(
                "polyboot: read benchmark {path}: {bytes} bytes; virtual BlockIO {virtual_ms} ms ({:.1} MiB/s), raw disk reads {raw_ms} ms ({:.1} MiB/s); throughput ratio virtual/raw = {:.2}",
                mbps(virtual_ms),
                mbps(raw_ms),
                raw_ms.max(1) as f64 / virtual_ms.max(1) as f64
            );
        }
        Err(msg) => println!("polyboot: read benchmark {path}: {msg}"),
    }
}

fn run(
    fs: &mut ExFat<Slice<FirmwareDisk>>,
    disk: Handle,
    location: &DriveLocation,
    path: &str,
) -> Result<(u64, u64, u64), alloc::string::String> {
    let meta = fs.metadata(path).map_err(|e| alloc::format!("{e}"))?;
    let extents = fs.extents(path).map_err(|e| alloc::format!("{e}"))?;
    let layout = VirtualMedium::new(2048, meta.size, location.data.offset, extents.clone())
        .map_err(|e| alloc::format!("{e}"))?;
    let size = layout.size();
    let passes = MIN_BYTES.div_ceil(size.max(1));

    // Through the protocol, as the firmware's drivers read it.
    let device = Installed::install(
        Box::new(DiskImage { disk: FirmwareDisk::open(disk)?, layout }),
        0xFE,
        false,
    )?;
    let mut bio = unsafe {
        boot::open_protocol::<BlockIO>(
            OpenProtocolParams {
                handle: device.handle(),
                agent: boot::image_handle(),
                controller: None,
            },
            OpenProtocolAttributes::GetProtocol,
        )
    }
    .map_err(|e| alloc::format!("opening the virtual BlockIO: {e:?}"))?;
    let media_id = bio.media().media_id();
    let mut buf = AlignedBuf::new(CHUNK, 4096);
    let start = clock::now_ms();
    for _ in 0..passes {
        let mut at = 0u64;
        while at < size {
            let n = (size - at).min(CHUNK as u64) as usize;
            bio.read_blocks(media_id, at / 2048, &mut buf.as_mut_slice()[..n])
                .map_err(|e| alloc::format!("{e:?}"))?;
            at += n as u64;
        }
    }
    let virtual_ms = clock::now_ms() - start;
    drop(bio);
    drop(device);

    // The same sectors, straight from the disk.
    let mut raw = FirmwareDisk::open(disk)?;
    let start = clock::now_ms();
    for _ in 0..passes {
        for e in &extents {
            let mut done = 0u64;
            while done < e.len {
                let n = (e.len - done).min(CHUNK as u64) as usize;
                raw.read_at(
                    location.data.offset + e.device_offset + done,
                    &mut buf.as_mut_slice()[..n],
                )
                .map_err(|e| alloc::format!("{e}"))?;
                done += n as u64;
            }
        }
    }
    let raw_ms = clock::now_ms() - start;
    Ok((size * passes, virtual_ms, raw_ms))
}
