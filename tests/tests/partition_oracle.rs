//! Partition tables written by polyboot-core, checked by independent tools, and tables written
//! by those tools, read by polyboot-core.
//!
//! Oracles: `sfdisk --dump` / `sfdisk --verify` (util-linux, package `fdisk`) and `sgdisk -v`
//! (package `gdisk`) for 512-byte sectors. For 4096-byte sectors neither can be told the sector
//! size of an image file (sfdisk 2.38 has no `--sector-size`; sgdisk assumes 512 and, finding
//! no GPT at byte 512, silently checks an empty in-memory table), so 4K images are checked with
//! `fdisk -b 4096 -x`, which prints the header fields too. Images are sparse files: no block
//! devices, no loop devices.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{ensure, Context, Result};
use polyboot_core::block::{IoError, ReadAt, WriteAt};
use polyboot_core::gpt::{self, SectorSize};
use polyboot_core::guid::Guid;
use polyboot_core::layout::{self, BootCode, Identity, LayoutRequest, Plan, Scheme, GIB, MIB, TIB};
use polyboot_core::mbr::Mbr;
use polyboot_tests::find_tool;

/// An image file as a polyboot device: the CLI's own adaptor.
use polyboot::drive::io::FileDevice;

/// `IoError` carries its text into anyhow.
fn io(e: IoError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// A sparse, zero-filled image of `size` bytes.
fn blank_image(dir: &Path, name: &str, size: u64) -> Result<PathBuf> {
    let path = dir.join(name);
    File::create(&path)?.set_len(size)?;
    Ok(path)
}

/// Fixed, distinct identifiers (the CLI draws random ones).
fn identity() -> Identity {
    let bytes: [u8; 52] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    Identity::from_random_bytes(&bytes)
}

fn write_plan(
    dir: &Path,
    disk_bytes: u64,
    sector_size: SectorSize,
    scheme: Scheme,
) -> Result<(PathBuf, Plan)> {
    let plan = layout::plan(&LayoutRequest::new(disk_bytes, sector_size, scheme, identity()))?;
    let path = blank_image(dir, "disk.img", disk_bytes)?;
    let mut dev = FileDevice::open_rw(&path)?;
    layout::write_partition_table(&plan, &mut dev, BootCode::Clear)?;
    Ok((path, plan))
}

fn sfdisk() -> PathBuf {
    find_tool("sfdisk")
}
fn fdisk() -> PathBuf {
    find_tool("fdisk")
}
fn sgdisk() -> PathBuf {
    find_tool("sgdisk")
}

/// Run a tool; fail on a non-zero exit. Returns (stdout, stderr).
fn run(program: &Path, args: &[&str], stdin: Option<&str>) -> Result<(String, String)> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(program)
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("run {}", program.display()))?;
    let mut input = child.stdin.take().context("stdin")?;
    input.write_all(stdin.unwrap_or("").as_bytes())?;
    drop(input);
    let out = child.wait_with_output()?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    ensure!(
        out.status.success(),
        "{} {args:?} failed ({}):\n{stdout}\n{stderr}",
        program.display(),
        out.status
    );
    Ok((stdout, stderr))
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// One partition as a tool reports it.
#[derive(Debug, Default, PartialEq, Eq)]
struct ToolPartition {
    number: u32,
    start: u64,
    sectors: u64,
    /// GPT type GUID, or MBR type in lower-case hex without 0x.
    type_code: String,
    uuid: String,
    name: String,
    bootable: bool,
}

/// `key: value` header lines of a tool's output.
type Fields = Vec<(String, String)>;

/// The header fields and partitions of `sfdisk --dump`.
#[derive(Debug, Default)]
struct SfdiskDump {
    fields: Fields,
    partitions: Vec<ToolPartition>,
}

impl SfdiskDump {
    fn field(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn sfdisk_dump(image: &Path) -> Result<SfdiskDump> {
    let (stdout, stderr) = run(&sfdisk(), &["--dump", path_str(image)], None)?;
    ensure!(stderr.trim().is_empty(), "sfdisk complained:\n{stderr}");
    let mut dump = SfdiskDump::default();
    let device = path_str(image);
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix(device) {
            // "<device>N : start=  2048, size=  192512, type=..., uuid=..., name="...""
            let (number, attrs) = rest.split_once(" : ").context("partition line")?;
            let mut p = ToolPartition { number: number.trim().parse()?, ..Default::default() };
            for attr in attrs.split(", ") {
                match attr.split_once('=') {
                    Some(("start", v)) => p.start = v.trim().parse()?,
                    Some(("size", v)) => p.sectors = v.trim().parse()?,
                    Some(("type", v)) => p.type_code = v.to_string(),
                    Some(("uuid", v)) => p.uuid = v.to_string(),
                    Some(("name", v)) => p.name = unescape_sfdisk(v.trim_matches('"'))?,
                    None if attr == "bootable" => p.bootable = true,
                    _ => {}
                }
            }
            dump.partitions.push(p);
        } else if let Some((key, value)) = line.split_once(": ") {
            dump.fields.push((key.to_string(), value.to_string()));
        }
    }
    Ok(dump)
}

/// sfdisk prints non-ASCII bytes of names as `\xHH`.
fn unescape_sfdisk(text: &str) -> Result<String> {
    let mut bytes = Vec::new();
    let mut rest = text.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'\\' && tail.first() == Some(&b'x') && tail.len() >= 3 {
            bytes.push(u8::from_str_radix(std::str::from_utf8(&tail[1..3])?, 16)?);
            rest = &tail[3..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    Ok(String::from_utf8(bytes)?)
}

/// `fdisk -b SIZE -x IMAGE`: the header lines as key/value pairs and the partition rows. The
/// requested columns never contain spaces in the tables this file builds for fdisk.
fn fdisk_details(
    image: &Path,
    sector_size: SectorSize,
    gpt: bool,
) -> Result<(Fields, Vec<ToolPartition>)> {
    let columns = if gpt {
        "Device,Start,Sectors,Type-UUID,UUID,Name"
    } else {
        "Device,Start,Sectors,Id,Boot"
    };
    let ss = sector_size.bytes().to_string();
    let (stdout, stderr) = run(&fdisk(), &["-b", &ss, "-x", "-o", columns, path_str(image)], None)?;
    ensure!(stderr.trim().is_empty(), "fdisk complained:\n{stderr}");
    let device = path_str(image);
    let mut fields = Vec::new();
    let mut partitions = Vec::new();
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix(device) {
            let cols: Vec<&str> = rest.split_whitespace().collect();
            if cols.len() < 3 || !cols[0].chars().all(|c| c.is_ascii_digit()) {
                continue; // the "Disk <image>: ..." line
            }
            let mut p = ToolPartition {
                number: cols[0].parse()?,
                start: cols[1].parse()?,
                sectors: cols[2].parse()?,
                type_code: cols.get(3).unwrap_or(&"").to_string(),
                ..Default::default()
            };
            if gpt {
                p.uuid = cols.get(4).unwrap_or(&"").to_string();
                p.name = cols[5.min(cols.len())..].join(" ");
            } else {
                p.bootable = cols.get(4) == Some(&"*");
            }
            partitions.push(p);
        } else if let Some((key, value)) = line.split_once(": ") {
            fields.push((key.to_string(), value.to_string()));
        }
    }
    Ok((fields, partitions))
}

fn field<'a>(fields: &'a [(String, String)], key: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// What the plan says partitions 1 and 2 are, in a tool's terms.
fn expected_partitions(plan: &Plan) -> Vec<ToolPartition> {
    [&plan.data, &plan.boot]
        .into_iter()
        .map(|p| match &p.entry {
            layout::EntryKind::Gpt { type_guid, unique_guid, name } => ToolPartition {
                number: p.number,
                start: p.first_lba,
                sectors: p.sectors,
                type_code: type_guid.to_string(),
                uuid: unique_guid.to_string(),
                name: name.clone(),
                bootable: false,
            },
            layout::EntryKind::Mbr { partition_type, active } => ToolPartition {
                number: p.number,
                start: p.first_lba,
                sectors: p.sectors,
                type_code: format!("{partition_type:x}"),
                bootable: *active,
                ..Default::default()
            },
        })
        .collect()
}

/// Hand-computed (data start, data sectors, boot start, boot sectors): partition 1 at 1 MiB,
/// partition 2 = 32 MiB with a 1 MiB aligned start, as late as the backup GPT allows.
struct Case {
    disk_bytes: u64,
    sector_size: SectorSize,
    expected: (u64, u64, u64, u64),
}

fn check_against_hand_numbers(plan: &Plan, case: &Case) {
    let got = (plan.data.first_lba, plan.data.sectors, plan.boot.first_lba, plan.boot.sectors);
    assert_eq!(got, case.expected, "{} bytes, {}-byte sectors", case.disk_bytes, case.sector_size);
}

/// Our reader agrees with what we planned, and finds the sector size on its own.
fn check_read_back(image: &Path, plan: &Plan) -> Result<()> {
    let mut dev = FileDevice::open_rw(image)?;
    let mbr = {
        let mut sector = [0u8; 512];
        dev.read_at(0, &mut sector).map_err(io)?;
        Mbr::parse(&sector)?
    };
    assert_eq!(mbr, plan.mbr);
    if let Some(table) = &plan.gpt {
        assert_eq!(gpt::detect_sector_size(&mut dev).map_err(io)?, Some(plan.sector_size));
        let got = gpt::read(&mut dev, plan.sector_size)?;
        assert_eq!(&got.gpt, table);
        assert_eq!((got.primary_problem, got.backup_problem), (None, None));
    } else {
        assert_eq!(gpt::detect_sector_size(&mut dev).map_err(io)?, None);
    }
    Ok(())
}

#[test]
fn gpt_512_images_pass_sfdisk_and_sgdisk() -> Result<()> {
    let cases = [
        Case {
            disk_bytes: 128 * MIB,
            sector_size: SectorSize::B512,
            expected: (2048, 192_512, 194_560, 65_536),
        },
        Case {
            disk_bytes: 8 * GIB,
            sector_size: SectorSize::B512,
            expected: (2048, 16_707_584, 16_709_632, 65_536),
        },
        Case {
            disk_bytes: 3 * TIB,
            sector_size: SectorSize::B512,
            expected: (2048, 6_442_381_312, 6_442_383_360, 65_536),
        },
    ];
    for case in &cases {
        let dir = tempfile::tempdir()?;
        let (image, plan) = write_plan(dir.path(), case.disk_bytes, case.sector_size, Scheme::Gpt)?;
        check_against_hand_numbers(&plan, case);
        let table = plan.gpt.as_ref().unwrap();

        let dump = sfdisk_dump(&image)?;
        assert_eq!(dump.field("label"), Some("gpt"));
        assert_eq!(dump.field("sector-size"), Some("512"));
        assert_eq!(dump.field("label-id"), Some(table.disk_guid.to_string().as_str()));
        assert_eq!(dump.field("first-lba"), Some("2048"));
        let last_usable = case.disk_bytes / 512 - 34;
        assert_eq!(dump.field("last-lba"), Some(last_usable.to_string().as_str()));
        assert_eq!(dump.partitions, expected_partitions(&plan));
        assert_eq!(dump.partitions[0].type_code, "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7");
        assert_eq!(dump.partitions[1].type_code, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
        assert_eq!(dump.partitions[1].name, "POLYBOOT-EFI");

        let (verify, _) = run(&sfdisk(), &["--verify", path_str(&image)], None)?;
        ensure!(verify.contains("No errors detected."), "sfdisk --verify:\n{verify}");

        let (sg, sg_err) = run(&sgdisk(), &["-v", path_str(&image)], None)?;
        ensure!(sg.contains("No problems found."), "sgdisk -v:\n{sg}\n{sg_err}");
        // sgdisk says "Creating new GPT entries" when it finds no table: it must have found ours.
        ensure!(!sg.contains("Creating new GPT"), "sgdisk did not find the GPT:\n{sg}");
        ensure!(!sg.contains("Problem"), "sgdisk -v:\n{sg}");

        check_read_back(&image, &plan)?;
    }
    Ok(())
}

#[test]
fn gpt_4096_images_pass_fdisk() -> Result<()> {
    let cases = [
        Case {
            disk_bytes: 128 * MIB,
            sector_size: SectorSize::B4096,
            expected: (256, 24_064, 24_320, 8192),
        },
        Case {
            disk_bytes: 8 * GIB,
            sector_size: SectorSize::B4096,
            expected: (256, 2_088_448, 2_088_704, 8192),
        },
        Case {
            disk_bytes: 3 * TIB,
            sector_size: SectorSize::B4096,
            expected: (256, 805_297_664, 805_297_920, 8192),
        },
    ];
    for case in &cases {
        let dir = tempfile::tempdir()?;
        let (image, plan) = write_plan(dir.path(), case.disk_bytes, case.sector_size, Scheme::Gpt)?;
        check_against_hand_numbers(&plan, case);
        let table = plan.gpt.as_ref().unwrap();
        let disk_sectors = case.disk_bytes / 4096;

        let (fields, partitions) = fdisk_details(&image, SectorSize::B4096, true)?;
        assert_eq!(field(&fields, "Disklabel type"), Some("gpt"));
        assert_eq!(
            field(&fields, "Sector size (logical/physical)"),
            Some("4096 bytes / 4096 bytes")
        );
        assert_eq!(field(&fields, "Disk identifier"), Some(table.disk_guid.to_string().as_str()));
        assert_eq!(field(&fields, "First usable LBA"), Some("256"));
        assert_eq!(
            field(&fields, "Last usable LBA"),
            Some((disk_sectors - 6).to_string().as_str())
        );
        assert_eq!(
            field(&fields, "Alternative LBA"),
            Some((disk_sectors - 1).to_string().as_str())
        );
        assert_eq!(field(&fields, "Partition entries starting LBA"), Some("2"));
        assert_eq!(field(&fields, "Partition entries ending LBA"), Some("5"));
        assert_eq!(field(&fields, "Allocated partition entries"), Some("128"));
        assert_eq!(partitions, expected_partitions(&plan));

        check_read_back(&image, &plan)?;
    }
    Ok(())
}

#[test]
fn mbr_512_images_pass_sfdisk() -> Result<()> {
    let cases = [
        Case {
            disk_bytes: 128 * MIB,
            sector_size: SectorSize::B512,
            expected: (2048, 194_560, 196_608, 65_536),
        },
        Case {
            disk_bytes: 8 * GIB,
            sector_size: SectorSize::B512,
            expected: (2048, 16_709_632, 16_711_680, 65_536),
        },
        // The largest disk an MBR with 512-byte sectors can describe: 2^32 - 1 sectors.
        Case {
            disk_bytes: 2 * TIB - 512,
            sector_size: SectorSize::B512,
            expected: (2048, 4_294_897_664, 4_294_899_712, 65_536),
        },
    ];
    for case in &cases {
        let dir = tempfile::tempdir()?;
        let (image, plan) = write_plan(dir.path(), case.disk_bytes, case.sector_size, Scheme::Mbr)?;
        check_against_hand_numbers(&plan, case);

        let dump = sfdisk_dump(&image)?;
        assert_eq!(dump.field("label"), Some("dos"));
        assert_eq!(dump.field("sector-size"), Some("512"));
        assert_eq!(
            dump.field("label-id"),
            Some(format!("0x{:08x}", identity().mbr_signature).as_str())
        );
        assert_eq!(dump.partitions, expected_partitions(&plan));
        assert_eq!(dump.partitions[0].type_code, "7");
        assert_eq!(dump.partitions[1].type_code, "ef");
        assert!(dump.partitions.iter().all(|p| !p.bootable));

        let (verify, _) = run(&sfdisk(), &["--verify", path_str(&image)], None)?;
        ensure!(verify.contains("No errors detected."), "sfdisk --verify:\n{verify}");

        check_read_back(&image, &plan)?;
    }
    Ok(())
}

#[test]
fn mbr_4096_images_pass_fdisk() -> Result<()> {
    let cases = [
        Case {
            disk_bytes: 128 * MIB,
            sector_size: SectorSize::B4096,
            expected: (256, 24_320, 24_576, 8192),
        },
        // Beyond 2 TiB, which an MBR reaches only with 4096-byte sectors.
        Case {
            disk_bytes: 3 * TIB,
            sector_size: SectorSize::B4096,
            expected: (256, 805_297_920, 805_298_176, 8192),
        },
    ];
    for case in &cases {
        let dir = tempfile::tempdir()?;
        let (image, plan) = write_plan(dir.path(), case.disk_bytes, case.sector_size, Scheme::Mbr)?;
        check_against_hand_numbers(&plan, case);

        let (fields, partitions) = fdisk_details(&image, SectorSize::B4096, false)?;
        assert_eq!(field(&fields, "Disklabel type"), Some("dos"));
        assert_eq!(
            field(&fields, "Sector size (logical/physical)"),
            Some("4096 bytes / 4096 bytes")
        );
        assert_eq!(
            field(&fields, "Disk identifier"),
            Some(format!("0x{:08x}", identity().mbr_signature).as_str())
        );
        assert_eq!(partitions, expected_partitions(&plan));

        check_read_back(&image, &plan)?;
    }
    Ok(())
}

#[test]
fn mbr_of_2_tib_at_512_is_refused() {
    let req = LayoutRequest::new(2 * TIB, SectorSize::B512, Scheme::Mbr, identity());
    assert!(matches!(layout::plan(&req), Err(layout::LayoutError::MbrTooLarge { .. })));
}

/// Tables sgdisk creates (512-byte sectors), read by our parser, compared with sfdisk's view.
#[test]
fn our_parser_reads_sgdisk_tables() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let image = blank_image(dir.path(), "sg.img", 256 * MIB)?;
    let disk_guid = "8A6F2C43-1B7E-4D2A-9C3F-5E8D7A6B4C21";
    let esp_guid = "0B5D3F1E-7C2A-4E8B-A1D9-3F6E2B8C7D40";
    let data_guid = "F1E2D3C4-B5A6-4978-8A9B-0C1D2E3F4A5B";
    let image_arg = path_str(&image);
    run(
        &sgdisk(),
        &[
            "-o",
            "-U",
            disk_guid,
            "-n",
            "1:2048:+64M",
            "-t",
            "1:EF00",
            "-c",
            "1:EFI system",
            "-u",
            &format!("1:{esp_guid}"),
            // Slot 3, leaving slot 2 unused, to check numbering.
            "-n",
            "3:0:0",
            "-t",
            "3:0700",
            "-c",
            "3:Données",
            "-u",
            &format!("3:{data_guid}"),
            "-A",
            "3:set:63",
            image_arg,
        ],
        None,
    )?;
    let dump = sfdisk_dump(&image)?;

    let mut dev = FileDevice::open_rw(&image)?;
    assert_eq!(gpt::detect_sector_size(&mut dev).map_err(io)?, Some(SectorSize::B512));
    let got = gpt::read(&mut dev, SectorSize::B512)?;
    assert_eq!((got.primary_problem, got.backup_problem), (None, None));
    let table = got.gpt;
    assert_eq!(table.disk_guid, Guid::parse(disk_guid)?);
    assert_eq!(table.disk_guid.to_string(), dump.field("label-id").unwrap());
    assert_eq!(table.first_usable_lba.to_string(), dump.field("first-lba").unwrap());
    assert_eq!(table.last_usable_lba.to_string(), dump.field("last-lba").unwrap());
    assert_eq!(table.entries.len(), 128);

    let ours: Vec<ToolPartition> = table
        .partitions()
        .map(|(number, p)| ToolPartition {
            number,
            start: p.first_lba,
            sectors: p.sectors(),
            type_code: p.type_guid.to_string(),
            uuid: p.unique_guid.to_string(),
            name: p.name.to_string(),
            bootable: false,
        })
        .collect();
    assert_eq!(ours, dump.partitions);
    assert_eq!(ours.iter().map(|p| p.number).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(table.partition(1).unwrap().type_guid, Guid::EFI_SYSTEM);
    assert_eq!(table.partition(1).unwrap().sectors(), 64 * MIB / 512);
    assert_eq!(table.partition(3).unwrap().type_guid, Guid::MICROSOFT_BASIC_DATA);
    assert_eq!(table.partition(3).unwrap().name.to_string(), "Données");
    assert_eq!(table.partition(3).unwrap().attributes, 1 << 63);
    assert_eq!(table.partition(3).unwrap().unique_guid.to_string(), data_guid);

    // Our reader falls back to sgdisk's backup when the primary header is damaged.
    dev.write_at(512 + 24, &[0xFF]).map_err(io)?;
    let got = gpt::read(&mut dev, SectorSize::B512)?;
    assert_eq!(got.source, gpt::HeaderKind::Backup);
    assert_eq!(got.gpt, table);
    Ok(())
}

/// A 4096-byte-sector GPT made by fdisk, read by our parser.
#[test]
fn our_parser_reads_fdisk_4096_gpt() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let image = blank_image(dir.path(), "f4k.img", 256 * MIB)?;
    // New GPT; partition 1 of 64 MiB at the default start; partition 3 filling the rest;
    // partition 1 typed EFI System (fdisk's type 1); partition 1 named via the expert menu.
    let script = "g\nn\n1\n\n+64M\nn\n3\n\n\nt\n1\n1\nx\nn\n1\nESP-4K\nr\nw\n";
    run(&fdisk(), &["-b", "4096", path_str(&image)], Some(script))?;
    let (fields, listed) = fdisk_details(&image, SectorSize::B4096, true)?;

    let mut dev = FileDevice::open_rw(&image)?;
    assert_eq!(gpt::detect_sector_size(&mut dev).map_err(io)?, Some(SectorSize::B4096));
    let got = gpt::read(&mut dev, SectorSize::B4096)?;
    assert_eq!((got.primary_problem, got.backup_problem), (None, None));
    let table = got.gpt;
    assert_eq!(Some(table.disk_guid.to_string().as_str()), field(&fields, "Disk identifier"));
    assert_eq!(
        Some(table.first_usable_lba.to_string().as_str()),
        field(&fields, "First usable LBA")
    );
    assert_eq!(Some(table.last_usable_lba.to_string().as_str()), field(&fields, "Last usable LBA"));
    let ours: Vec<ToolPartition> = table
        .partitions()
        .map(|(number, p)| ToolPartition {
            number,
            start: p.first_lba,
            sectors: p.sectors(),
            type_code: p.type_guid.to_string(),
            uuid: p.unique_guid.to_string(),
            name: p.name.to_string(),
            bootable: false,
        })
        .collect();
    assert_eq!(ours, listed);
    assert_eq!(table.partition(1).unwrap().name.to_string(), "ESP-4K");
    assert_eq!(table.partition(1).unwrap().type_guid, Guid::EFI_SYSTEM);
    assert_eq!(table.partition(1).unwrap().sectors(), 64 * MIB / 4096);
    // The same bytes are no GPT at all when read with 512-byte sectors.
    assert!(gpt::read(&mut dev, SectorSize::B512).is_err());
    Ok(())
}

/// An MBR made by sfdisk, parsed by us.
#[test]
fn our_parser_reads_sfdisk_mbr() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let image = blank_image(dir.path(), "m.img", 64 * MIB)?;
    let script = "label: dos\nlabel-id: 0x1234abcd\nstart=2048, size=20480, type=ef\nstart=22528, size=40960, type=7, bootable\nstart=63488, size=2048, type=83\n";
    run(&sfdisk(), &[path_str(&image)], Some(script))?;
    let dump = sfdisk_dump(&image)?;

    let mut dev = FileDevice::open_rw(&image)?;
    let mut sector = [0u8; 512];
    dev.read_at(0, &mut sector).map_err(io)?;
    let mbr = Mbr::parse(&sector)?;
    assert_eq!(mbr.disk_signature, 0x1234_ABCD);
    mbr.check_fits(64 * MIB / 512)?;
    let ours: Vec<ToolPartition> = mbr
        .used()
        .map(|(number, p)| ToolPartition {
            number: number as u32,
            start: p.first_lba as u64,
            sectors: p.sector_count as u64,
            type_code: format!("{:x}", p.partition_type),
            bootable: p.active,
            ..Default::default()
        })
        .collect();
    assert_eq!(ours, dump.partitions);
    assert_eq!(ours.len(), 3);
    assert!(ours[1].bootable);
    assert!(!mbr.has_gpt_protective());
    assert_eq!(gpt::detect_sector_size(&mut dev).map_err(io)?, None);
    Ok(())
}

/// sgdisk loads our table, rewrites it after a change, and we read its rewrite: a round trip
/// through an independent implementation.
#[test]
fn sgdisk_rewrites_our_table_and_we_read_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (image, plan) = write_plan(dir.path(), 512 * MIB, SectorSize::B512, Scheme::Gpt)?;
    run(&sgdisk(), &["-c", "2:RENAMED", path_str(&image)], None)?;
    let mut dev = FileDevice::open_rw(&image)?;
    let got = gpt::read(&mut dev, SectorSize::B512)?;
    assert_eq!((got.primary_problem, got.backup_problem), (None, None));
    let mut expected = plan.gpt.clone().unwrap();
    expected.entries[1].as_mut().unwrap().name = gpt::PartitionName::new("RENAMED")?;
    assert_eq!(got.gpt, expected);
    // sgdisk kept the MBR it found (protective, covering the disk).
    let mut sector = [0u8; 512];
    dev.read_at(0, &mut sector).map_err(io)?;
    assert!(Mbr::parse(&sector)?.has_gpt_protective());
    Ok(())
}

/// Re-installing over an old layout of the other scheme leaves no trace the tools notice.
#[test]
fn switching_schemes_leaves_no_stale_table() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (image, _) = write_plan(dir.path(), 256 * MIB, SectorSize::B512, Scheme::Gpt)?;
    let mbr_plan =
        layout::plan(&LayoutRequest::new(256 * MIB, SectorSize::B512, Scheme::Mbr, identity()))?;
    let mut dev = FileDevice::open_rw(&image)?;
    layout::write_partition_table(&mbr_plan, &mut dev, BootCode::Keep)?;
    let dump = sfdisk_dump(&image)?; // fails on stderr warnings such as a leftover GPT
    assert_eq!(dump.field("label"), Some("dos"));
    assert_eq!(dump.partitions, expected_partitions(&mbr_plan));
    // With the GPT gone sgdisk sees only the MBR (and, told nothing, "converts" it in memory).
    let (sg, _) = run(&sgdisk(), &["-v", path_str(&image)], None)?;
    ensure!(sg.contains("Found invalid GPT and valid MBR"), "sgdisk -v:\n{sg}");
    check_read_back(&image, &mbr_plan)?;
    Ok(())
}
