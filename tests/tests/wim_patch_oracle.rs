//! The virtual WIM (`polyboot_core::wim::patch`) against wimlib (Debian `wimtools`), an
//! independent implementation: a WinPE-shaped `boot.wim` captured by `wimcapture` (no
//! compression, XPRESS, LZX; two images, the second marked bootable), its shell replaced by a
//! stand-in jump program, written out as the boot manager would serve it (the original file,
//! the new header over its first 208 bytes, the appended bytes after it). Then:
//! `wiminfo` reads it, `wimverify` finds every blob's SHA-1 right, and `wimextract` of each
//! image shows the stand-in in place of the shell of the boot image only, the shell's other
//! hard-linked name and every other file byte-identical; the plan carries the original shell.

use std::path::Path;
use std::process::Command;

use polyboot_core::block::MemDevice;
use polyboot_core::wim::metadata::list_files;
use polyboot_core::wim::patch::{replace_file, WimPatch, WINPE_SHELL};
use polyboot_tests::{find_tool, pattern};

fn run(cmd: &mut Command) -> String {
    polyboot_tests::run_tool(cmd).unwrap()
}

/// A WinPE-shaped tree: the shell, its hard-linked copy in WinSxS (as in Microsoft's
/// images), a DLL, a large file spanning several chunks and an empty one.
fn winpe_tree(root: &Path, shell: &[u8]) {
    let sys = root.join("Windows/System32");
    let sxs = root.join("Windows/WinSxS/amd64_microsoft-windows-winpe-shell");
    std::fs::create_dir_all(&sys).unwrap();
    std::fs::create_dir_all(&sxs).unwrap();
    std::fs::create_dir_all(root.join("sources")).unwrap();
    std::fs::write(sys.join("winpeshl.exe"), shell).unwrap();
    std::fs::hard_link(sys.join("winpeshl.exe"), sxs.join("winpeshl.exe")).unwrap();
    std::fs::write(sys.join("kernel32.dll"), pattern(2, 70_000)).unwrap();
    std::fs::write(root.join("sources/big.bin"), pattern(3, 300_000)).unwrap();
    std::fs::write(root.join("Windows/empty.txt"), b"").unwrap();
    std::fs::write(root.join("Windows/System32/startnet.cmd"), b"wpeinit\r\n").unwrap();
}

fn capture(tree: &Path, wim: &Path, compress: &str) {
    run(Command::new(find_tool("wimcapture"))
        .arg(tree)
        .arg(wim)
        .arg("Microsoft Windows PE (x64)")
        .arg(format!("--compress={compress}")));
    // A second image, the bootable one (Setup's boot.wim has two: index 2 boots).
    run(Command::new(find_tool("wimappend"))
        .arg(tree)
        .arg(wim)
        .arg("Microsoft Windows Setup (x64)")
        .arg("--boot"));
}

/// The bytes the boot manager serves for `patch` over `original`.
fn virtual_file(original: &[u8], patch: &WimPatch) -> Vec<u8> {
    let mut out = original.to_vec();
    out[..patch.header.len()].copy_from_slice(&patch.header);
    out.extend_from_slice(&patch.appended);
    assert_eq!(out.len() as u64, patch.size());
    out
}

fn extract(wim: &Path, image: u32, dest: &Path) {
    run(Command::new(find_tool("wimapply")).arg(wim).arg(image.to_string()).arg(dest));
}

fn check(compress: &str) {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let shell = pattern(1, 100_000);
    winpe_tree(&tree, &shell);
    let wim = dir.path().join("boot.wim");
    capture(&tree, &wim, compress);
    let original = std::fs::read(&wim).unwrap();

    let jump = b"MZ polyboot jump program stand-in".repeat(40);
    let patch =
        replace_file(&mut MemDevice::from_vec(original.clone()), 0, WINPE_SHELL, 64 << 20, |_| {
            jump.clone()
        })
        .unwrap();
    assert_eq!(patch.image, 2, "the boot image is the one changed");
    assert_eq!(patch.original_file, shell, "{compress}: the original shell, byte for byte");
    let out = dir.path().join("virtual.wim");
    std::fs::write(&out, virtual_file(&original, &patch)).unwrap();

    let info = run(Command::new(find_tool("wiminfo")).arg(&out));
    let field = |name: &str| {
        info.lines()
            .find_map(|l| Some(l.strip_prefix(name)?.trim().to_string()))
            .unwrap_or_default()
    };
    assert_eq!(field("Image Count:"), "2", "{info}");
    assert_eq!(field("Boot Index:"), "2", "{info}");
    // wimverify re-reads every blob and checks its SHA-1 (and the metadata's); it exits
    // non-zero on any error.
    run(Command::new(find_tool("wimverify")).arg(&out));

    for image in [1u32, 2] {
        let dest = dir.path().join(format!("image{image}"));
        extract(&out, image, &dest);
        let got = std::fs::read(dest.join("Windows/System32/winpeshl.exe")).unwrap();
        let want: &[u8] = if image == 2 { &jump } else { &shell };
        assert_eq!(got, want, "{compress}: image {image}'s shell");
        for f in [
            "Windows/WinSxS/amd64_microsoft-windows-winpe-shell/winpeshl.exe",
            "Windows/System32/kernel32.dll",
            "Windows/System32/startnet.cmd",
            "sources/big.bin",
            "Windows/empty.txt",
        ] {
            let a = std::fs::read(tree.join(f)).unwrap();
            let b = std::fs::read(dest.join(f)).unwrap();
            assert!(a == b, "{compress}: image {image}: {f} differs");
        }
    }
    eprintln!("{compress}: {} bytes appended to {}", patch.appended.len(), original.len());
}

#[test]
fn the_shell_of_an_uncompressed_wim_is_replaced() {
    check("none");
}

#[test]
fn the_shell_of_an_xpress_wim_is_replaced() {
    check("XPRESS");
}

#[test]
fn the_shell_of_an_lzx_wim_is_replaced() {
    check("LZX");
}

#[test]
fn the_metadata_reader_lists_what_wimlib_captured() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    winpe_tree(&tree, b"shell");
    let wim = dir.path().join("boot.wim");
    capture(&tree, &wim, "none");
    let mut dev = MemDevice::from_vec(std::fs::read(&wim).unwrap());
    let hdr = polyboot_core::wim::read_header(&mut dev).unwrap();
    let table = polyboot_core::wim::blob_table::read_blob_table(&mut dev, &hdr).unwrap();
    let meta = polyboot_core::wim::blob_table::metadata_entry(&table, 1).unwrap();
    let bytes = polyboot_core::wim::resource::read_resource(
        &mut dev,
        &hdr,
        &meta.resource,
        "image metadata",
        64 << 20,
    )
    .unwrap();
    let mut names: Vec<String> =
        list_files(&bytes, 1000).unwrap().into_iter().map(|f| f.0).collect();
    names.sort();
    // `wimdir` is the independent listing (files only: directories end in '/').
    let listed = run(Command::new(find_tool("wimdir")).arg(&wim).arg("1"));
    let mut want: Vec<String> = listed
        .lines()
        .filter(|l| !l.is_empty() && *l != "/")
        .map(String::from)
        .filter(|l| {
            std::fs::metadata(tree.join(l.trim_start_matches('/'))).is_ok_and(|m| m.is_file())
        })
        .collect();
    want.sort();
    assert_eq!(names, want);
    assert_eq!(names.len(), 6);
}
