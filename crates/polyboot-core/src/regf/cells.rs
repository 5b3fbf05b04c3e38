//! The hive file's fixed layout, shared by the reader and the writer: nk / vk flags, cell
//! header sizes and the base block checksum (fields are read with [`crate::bytes`]).

// nk flags.
const KEY_VOLATILE: u16 = 0x0001;
const KEY_HIVE_EXIT: u16 = 0x0002;
pub(super) const KEY_HIVE_ENTRY: u16 = 0x0004;
pub(super) const KEY_NO_DELETE: u16 = 0x0008;
pub(super) const KEY_COMP_NAME: u16 = 0x0020;
/// Flags the writer computes itself rather than copying from a [`KeyNode`].
///
/// [`KeyNode`]: super::KeyNode
pub(super) const KEY_COMPUTED_FLAGS: u16 =
    KEY_VOLATILE | KEY_HIVE_EXIT | KEY_HIVE_ENTRY | KEY_COMP_NAME;
// vk flags.
pub(super) const VALUE_COMP_NAME: u16 = 0x0001;

pub(super) const NONE: u32 = 0xFFFF_FFFF;
pub(super) const HBIN_HEADER: usize = 32;
pub(super) const NK_FIXED: usize = 0x4C;
pub(super) const VK_FIXED: usize = 0x14;
pub(super) const SK_FIXED: usize = 0x14;

/// XOR of the base block's first 127 dwords, with 0 and -1 mapped away as Windows does
/// (of the whole dwords there are when `block` is shorter than 508 bytes).
pub fn base_block_checksum(block: &[u8]) -> u32 {
    let x = block[..block.len().min(508)]
        .chunks_exact(4)
        .fold(0u32, |x, c| x ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
    match x {
        0xFFFF_FFFF => 0xFFFF_FFFE,
        0 => 1,
        x => x,
    }
}
