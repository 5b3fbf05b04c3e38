//! Just enough of the WIM layout to take a file's compressed resources apart into chunks, for
//! the decompressor oracle test (`tests/wim_codecs.rs`): the header's blob (lookup) table, its
//! 50-byte entries and each compressed resource's chunk table. Panics on anything unexpected:
//! the input is a WIM that wimlib just wrote.

/// Resource flags (the byte after the 7-byte stored size).
pub const RES_METADATA: u8 = 0x02;
pub const RES_COMPRESSED: u8 = 0x04;

/// Header flags naming the compression format.
pub const HDR_XPRESS: u32 = 0x0002_0000;
pub const HDR_LZX: u32 = 0x0004_0000;

/// A 24-byte resource header: where a resource lies in the file and how big it is unpacked.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    pub stored_size: u64,
    pub flags: u8,
    pub offset: u64,
    pub original_size: u64,
}

impl Resource {
    pub fn parse(b: &[u8]) -> Resource {
        let mut size = [0u8; 8];
        size[..7].copy_from_slice(&b[..7]);
        Resource {
            stored_size: u64::from_le_bytes(size),
            flags: b[7],
            offset: le64(b, 8),
            original_size: le64(b, 16),
        }
    }

    pub fn bytes<'a>(&self, wim: &'a [u8]) -> &'a [u8] {
        &wim[self.offset as usize..(self.offset + self.stored_size) as usize]
    }
}

/// What the oracle test needs of a WIM file.
#[derive(Debug)]
pub struct Wim {
    pub flags: u32,
    pub chunk_size: usize,
    /// Every blob table entry's resource (file data and metadata alike).
    pub resources: Vec<Resource>,
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// The header (208 bytes) and the blob table (at offset 48, stored uncompressed).
pub fn read(wim: &[u8]) -> Wim {
    assert_eq!(&wim[..8], b"MSWIM\0\0\0", "not a WIM");
    assert_eq!(le32(wim, 8), 208, "header size");
    let table = Resource::parse(&wim[48..72]);
    assert_eq!(table.flags & RES_COMPRESSED, 0, "compressed blob table");
    let entries = table.bytes(wim);
    assert_eq!(entries.len() % 50, 0, "blob table of {} bytes", entries.len());
    let resources = entries.chunks_exact(50).map(|e| Resource::parse(&e[..24])).collect();
    Wim { flags: le32(wim, 16), chunk_size: le32(wim, 20) as usize, resources }
}

/// One chunk of a resource: its stored bytes and its uncompressed size (stored == size means
/// it is kept raw).
pub struct Chunk<'a> {
    pub stored: &'a [u8],
    pub size: usize,
}

impl Chunk<'_> {
    pub fn is_raw(&self) -> bool {
        self.stored.len() == self.size
    }
}

/// The chunks of a compressed resource, from its chunk table: for N chunks, N - 1 entries of
/// 4 bytes (8 when the resource is over 4 GiB unpacked), the start of chunks 2..N relative to
/// the end of the table.
pub fn chunks<'a>(wim: &'a [u8], res: &Resource, chunk_size: usize) -> Vec<Chunk<'a>> {
    assert!(res.flags & RES_COMPRESSED != 0);
    let data = res.bytes(wim);
    let size = res.original_size as usize;
    let n = size.div_ceil(chunk_size);
    let entry = if res.original_size > u64::from(u32::MAX) { 8 } else { 4 };
    let table_len = n.saturating_sub(1) * entry;
    let (table, body) = data.split_at(table_len);
    let mut starts = vec![0usize];
    starts.extend(table.chunks_exact(entry).map(|e| {
        let mut v = [0u8; 8];
        v[..entry].copy_from_slice(e);
        u64::from_le_bytes(v) as usize
    }));
    starts.push(body.len());
    (0..n)
        .map(|i| Chunk {
            stored: &body[starts[i]..starts[i + 1]],
            size: chunk_size.min(size - i * chunk_size),
        })
        .collect()
}
