//! `polyboot debug virtual`: the virtual medium the boot manager serves for an image, written
//! to a file, built by the same core calls in the same order as the boot manager
//! (`BootSession::open`, `virtual_medium`, `session::prepare_iso`), so that anyone can inspect
//! what the firmware sees with ordinary tools.

use std::cell::RefCell;
use std::io::Write;

use anyhow::{bail, Context, Result};
use polyboot_core::embedded_hook;
use polyboot_core::menu::ImageKind;
use polyboot_core::session::{self, BootSession, Firmware, HookSource};
use serde::Serialize;

use crate::cli::{DebugArgs, DebugCommand, DebugVirtualArgs, FirmwareArg};
use crate::drive::io::FileDevice;

pub fn run(args: DebugArgs) -> Result<()> {
    match args.command {
        DebugCommand::Virtual(a) => run_virtual(a),
    }
}

#[derive(Debug, Serialize)]
struct Written {
    image: String,
    firmware: &'static str,
    output: String,
    size: u64,
    block_size: u32,
    image_size: u64,
    regions: usize,
    overrides: usize,
    /// The boot manager's log lines for this image (without its prefix).
    log: Vec<String>,
}

fn run_virtual(args: DebugVirtualArgs) -> Result<()> {
    let (firmware, name) = match args.firmware {
        FirmwareArg::Uefi => (Firmware::Uefi, "uefi"),
        FirmwareArg::Bios => (Firmware::Bios, "bios"),
    };
    let lines: RefCell<Vec<String>> = RefCell::new(Vec::new());
    let mut log = |a: std::fmt::Arguments<'_>| lines.borrow_mut().push(a.to_string());
    let drive = FileDevice::open(&args.target)?;
    let mut session = BootSession::open(drive, 512, firmware, &mut log)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.target.display()))?;
    let wanted = format!("/{}", args.image.trim_start_matches('/'));
    let image = session
        .menu
        .items()
        .iter()
        .filter_map(|i| i.image())
        .find(|i| i.path.eq_ignore_ascii_case(&wanted))
        .cloned()
        .with_context(|| {
            format!("{wanted} is not an image of the menu on {}", args.target.display())
        })?;
    // The lines about this image only, not the session's.
    let first = lines.borrow().len();
    if matches!(image.kind, ImageKind::Vhd | ImageKind::Vhdx | ImageKind::Efi) {
        bail!(
            "{}: {} images are started, not served as a virtual medium",
            image.path,
            image.kind.label()
        );
    }
    let mut layout = session.virtual_medium(&image).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut disk = FileDevice::open(&args.target)?;
    let location = session.location.clone();
    if image.kind == ImageKind::Wim {
        session::prepare_wim(&mut layout, &mut disk, &mut log)
            .map_err(|e| anyhow::anyhow!("{}: {e}", image.path))?;
    }
    if image.kind == ImageKind::Iso {
        // What boots without a keystroke: the configuration's preselections.
        let (templates, backends) = session.linux_choices(&image.path);
        let choices = session::LinuxChoices::preselected(templates.as_ref(), backends.as_ref());
        let windows = session.windows_options(&image.path, &choices, &mut log);
        let extras = session.linux_extras(&image.path, &choices, &mut log);
        // The UEFI boot manager carries polyboot-hook itself (the one on this drive); the BIOS
        // boot code reads it from there too, later (HookSource::BootManager).
        let efi_hook;
        let hook = match firmware {
            Firmware::Uefi => {
                let (efi, _) = session::boot_manager_with_hook(&mut disk, &location)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                efi_hook = embedded_hook::find_embedded_hook(&efi).unwrap_or_default().to_vec();
                HookSource::Embedded(&efi_hook)
            }
            Firmware::Bios => HookSource::BootManager,
        };
        // The hand-off record is inside the wrapped initrds written below.
        let _handoff = session::prepare_iso(
            &mut layout,
            &mut disk,
            &location,
            hook,
            &image.path,
            Some(windows),
            &extras,
            &mut log,
        );
    }

    let size = layout.size();
    let mut out = std::fs::File::create(&args.output)
        .with_context(|| format!("creating {}", args.output.display()))?;
    let bar = crate::ops::progress(size, "writing the virtual medium", args.quiet || args.json);
    let mut buf = vec![0u8; 4 << 20];
    let mut at = 0u64;
    while at < size {
        let n = (size - at).min(buf.len() as u64) as usize;
        layout
            .read(&mut disk, at, &mut buf[..n])
            .with_context(|| format!("reading the virtual medium at byte {at}"))?;
        out.write_all(&buf[..n]).with_context(|| format!("writing {}", args.output.display()))?;
        at += n as u64;
        bar.set_position(at);
    }
    out.flush()?;
    bar.finish_and_clear();
    let log = lines.into_inner().split_off(first);

    let written = Written {
        image: image.path.clone(),
        firmware: name,
        output: args.output.display().to_string(),
        size,
        block_size: layout.block_size(),
        image_size: layout.image_len(),
        regions: layout.regions().len(),
        overrides: layout.overrides().len(),
        log,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&written)?);
    } else {
        for l in &written.log {
            eprintln!("polyboot: {l}");
        }
        println!(
            "{}: {} bytes ({} of the image file, {} virtual regions, {} overrides) written to {}",
            written.image,
            written.size,
            written.image_size,
            written.regions,
            written.overrides,
            written.output
        );
    }
    Ok(())
}
