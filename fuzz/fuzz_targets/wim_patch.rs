//! The virtual WIM (`wim::patch::replace_chosen_file`, the shell chosen as Windows ISOs choose
//! it: `Setup\CmdLine` of the image's SYSTEM hive, else `winpeshl.exe`) on arbitrary bytes:
//! must never panic. When it plans a patch, the virtual file it describes (the input with the new header over its first
//! bytes and the appended bytes after it) is read back with core's WIM reader: the header
//! parses, the lookup table lists the new metadata in the image's place, the image's shell
//! names the replacement's SHA-1, and that blob reads back as the replacement.
#![no_main]

use libfuzzer_sys::fuzz_target;
use polyboot_core::block::MemDevice;
use polyboot_core::sha1::sha1;
use polyboot_core::wim::blob_table::{metadata_entry, read_blob_table};
use polyboot_core::wim::metadata::find_file;
use polyboot_core::wim::patch::replace_chosen_file;
use polyboot_core::wim::read_header;
use polyboot_core::wim::resource::read_resource;
use polyboot_core::windows_iso::shell::choose_shell;

const JUMP: &[u8] = b"MZ polyboot jump program stand-in";
const LIMIT: u64 = 16 << 20;

fuzz_target!(|data: &[u8]| {
    let mut dev = MemDevice::from_vec(data.to_vec());
    let Ok(patch) = replace_chosen_file(
        &mut dev,
        0,
        |read| choose_shell(read, 1 << 20).path,
        16 << 20,
        |_| JUMP.to_vec(),
    ) else {
        return;
    };
    let mut file = data.to_vec();
    file[..patch.header.len()].copy_from_slice(&patch.header);
    file.extend_from_slice(&patch.appended);
    let mut dev = MemDevice::from_vec(file);
    let hdr = read_header(&mut dev).expect("the new header parses");
    let table = read_blob_table(&mut dev, &hdr).expect("the new lookup table reads");
    let meta = metadata_entry(&table, patch.image).expect("the image's metadata is listed");
    let meta = read_resource(&mut dev, &hdr, &meta.resource, "metadata", 1 << 30)
        .expect("the new metadata reads");
    let shell = find_file(&meta, &patch.path).expect("the shell is still there");
    let want = sha1(JUMP);
    assert_eq!(shell.hash, want);
    let blob = table.iter().find(|e| e.hash == want).expect("the replacement is listed");
    let bytes = read_resource(&mut dev, &hdr, &blob.resource, "replacement", LIMIT)
        .expect("the replacement reads");
    assert_eq!(bytes, JUMP);
});
