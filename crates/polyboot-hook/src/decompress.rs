//! Compressed initrd streams, recognised by their magic bytes as the kernel does
//! (`lib/decompress.c`), each decoded by a pure-Rust decoder so the hook links statically.
//!
//! Every decoder returns how many input bytes the stream occupied, so that the caller can go
//! on with whatever follows it (zero padding, another compressed or raw cpio archive).

use std::fmt;
use std::io::{self, BufRead, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// An uncompressed newc cpio archive (`070701` / `070702`).
    Cpio,
    Gzip,
    Bzip2,
    /// The legacy `.lzma` ("LZMA alone") format.
    Lzma,
    Xz,
    /// The lz4 legacy frame the kernel's `unlz4` reads (`lz4 -l`).
    Lz4Legacy,
    Zstd,
    /// Recognised so the failure can name it; no decoder is built in.
    Lzo,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Cpio => "cpio",
            Format::Gzip => "gzip",
            Format::Bzip2 => "bzip2",
            Format::Lzma => "lzma",
            Format::Xz => "xz",
            Format::Lz4Legacy => "lz4",
            Format::Zstd => "zstd",
            Format::Lzo => "lzo",
        })
    }
}

/// Identify the stream starting at `data[0]`, with the kernel's magic numbers.
pub fn detect(data: &[u8]) -> Option<Format> {
    let starts = |m: &[u8]| data.starts_with(m);
    if starts(b"070701") || starts(b"070702") {
        Some(Format::Cpio)
    } else if starts(&[0x1f, 0x8b]) || starts(&[0x1f, 0x9e]) {
        Some(Format::Gzip)
    } else if starts(b"BZh") {
        Some(Format::Bzip2)
    } else if starts(&[0x5d, 0x00, 0x00]) {
        Some(Format::Lzma)
    } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Some(Format::Xz)
    } else if starts(&[0x02, 0x21, 0x4c, 0x18]) {
        Some(Format::Lz4Legacy)
    } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Format::Zstd)
    } else if starts(&[0x89, 0x4c, 0x5a]) {
        Some(Format::Lzo)
    } else {
        None
    }
}

#[derive(Debug)]
pub struct DecompressError {
    pub format: Format,
    pub message: String,
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} stream: {}", self.format, self.message)
    }
}

impl std::error::Error for DecompressError {}

fn err(format: Format, message: impl fmt::Display) -> DecompressError {
    DecompressError { format, message: message.to_string() }
}

/// A reader over a byte slice that counts what the decoder consumed.
struct Counted<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Read for Counted<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl BufRead for Counted<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(&self.data[self.pos..])
    }
    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.data.len());
    }
}

/// A `Vec` that refuses to grow past `limit` bytes: a few KiB of hostile input can claim
/// gigabytes of output, and the hook runs as PID 1, where running out of memory panics the
/// kernel instead of failing one program.
struct Capped {
    out: Vec<u8>,
    limit: usize,
}

impl io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.out.len() + buf.len() > self.limit {
            return Err(io::Error::other(format!(
                "output exceeds the limit of {} bytes",
                self.limit
            )));
        }
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Read a decoder to its end into `out`, refusing more than its limit.
fn drain(format: Format, mut d: impl Read, out: &mut Capped) -> Result<(), DecompressError> {
    io::copy(&mut d, out).map(|_| ()).map_err(|e| err(format, e))
}

/// Decode one compressed stream at the start of `input`, producing at most `limit` bytes;
/// returns the output and the number of input bytes the stream used. `Format::Cpio` is not a
/// compression and is refused here.
pub fn decompress(
    format: Format,
    input: &[u8],
    limit: usize,
) -> Result<(Vec<u8>, usize), DecompressError> {
    let mut out = Capped { out: Vec::new(), limit };
    let mut rd = Counted { data: input, pos: 0 };
    match format {
        Format::Gzip => drain(format, flate2::bufread::GzDecoder::new(&mut rd), &mut out)?,
        Format::Bzip2 => drain(format, bzip2::bufread::BzDecoder::new(&mut rd), &mut out)?,
        Format::Zstd => {
            let d = ruzstd::decoding::StreamingDecoder::new(&mut rd).map_err(|e| err(format, e))?;
            drain(format, d, &mut out)?;
        }
        Format::Lzma => {
            // lzma-rs refuses input after the end-of-stream marker, but the marker check stops
            // exactly at the stream's end: decode again up to there.
            if let Err(e) = lzma_rs::lzma_decompress(&mut rd, &mut out) {
                let end = rd.pos;
                if end >= input.len() {
                    return Err(err(format, e));
                }
                out.out.clear();
                let mut one = Counted { data: &input[..end], pos: 0 };
                lzma_rs::lzma_decompress(&mut one, &mut out).map_err(|_| err(format, e))?;
                rd.pos = end;
            }
        }
        Format::Xz => {
            let len =
                xz_stream_len(input).ok_or_else(|| err(format, "no valid stream footer found"))?;
            let mut one = Counted { data: &input[..len], pos: 0 };
            lzma_rs::xz_decompress(&mut one, &mut out).map_err(|e| err(format, e))?;
            rd.pos = len;
        }
        Format::Lz4Legacy => {
            let used = lz4_legacy(input, &mut out)?;
            rd.pos = used;
        }
        Format::Cpio | Format::Lzo => return Err(err(format, "no decoder for this format")),
    }
    Ok((out.out, rd.pos))
}

/// The length of the xz stream at the start of `data`. lzma-rs insists on end of input after
/// a stream, so the stream's end is found first: the 12-byte footer ends with `YZ`, stands at
/// a multiple of 4 bytes, carries the header's stream flags and a CRC-32 of its middle.
fn xz_stream_len(data: &[u8]) -> Option<usize> {
    if data.len() < 24 {
        return None;
    }
    let flags = &data[6..8];
    let mut end = 24;
    while end <= data.len() {
        let f = &data[end - 12..end];
        if &f[10..12] == b"YZ" && &f[8..10] == flags {
            let stored = u32::from_le_bytes([f[0], f[1], f[2], f[3]]);
            if polyboot_core::crc32::crc32(&f[4..10]) == stored {
                return Some(end);
            }
        }
        end += 4;
    }
    None
}

/// Magic of the lz4 legacy frame; it may also appear between blocks (concatenated frames).
const LZ4_LEGACY_MAGIC: u32 = 0x184C_2102;
/// Legacy frame blocks decompress to at most 8 MiB.
const LZ4_LEGACY_BLOCK: usize = 8 << 20;

/// The kernel's `unlz4`: [magic] then blocks of [u32 compressed size][lz4 block], each up to
/// 8 MiB once decompressed. The format has no end marker: the stream ends at the end of the
/// input, at a zero size (padding), or at a word that cannot be a block (too large, or a block
/// that does not decode — the start of whatever archive follows).
fn lz4_legacy(input: &[u8], out: &mut Capped) -> Result<usize, DecompressError> {
    let f = Format::Lz4Legacy;
    let mut pos = 4;
    let max_compressed = LZ4_LEGACY_BLOCK + LZ4_LEGACY_BLOCK / 255 + 16;
    let mut blocks = 0;
    let mut buf = vec![0u8; LZ4_LEGACY_BLOCK];
    while pos + 4 <= input.len() {
        let size = u32::from_le_bytes(input[pos..pos + 4].try_into().unwrap());
        if size == LZ4_LEGACY_MAGIC {
            pos += 4;
            continue;
        }
        let size = size as usize;
        if size == 0 || size > max_compressed || pos + 4 + size > input.len() {
            break;
        }
        match lz4_flex::block::decompress_into(&input[pos + 4..pos + 4 + size], &mut buf) {
            Ok(n) => {
                io::Write::write_all(out, &buf[..n]).map_err(|e| err(f, e))?;
                pos += 4 + size;
                blocks += 1;
            }
            Err(e) if blocks == 0 => return Err(err(f, e)),
            Err(_) => break,
        }
    }
    if blocks == 0 {
        return Err(err(f, "no block"));
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_kernel_magics() {
        assert_eq!(detect(b"070701000"), Some(Format::Cpio));
        assert_eq!(detect(b"070702000"), Some(Format::Cpio));
        assert_eq!(detect(b"070707000"), None); // old ASCII cpio: the kernel refuses it too
        assert_eq!(detect(&[0x1f, 0x8b, 8]), Some(Format::Gzip));
        assert_eq!(detect(b"BZh9"), Some(Format::Bzip2));
        assert_eq!(detect(&[0x5d, 0, 0, 0x80]), Some(Format::Lzma));
        assert_eq!(detect(&[0xfd, b'7', b'z', b'X', b'Z', 0]), Some(Format::Xz));
        assert_eq!(detect(&[0x02, 0x21, 0x4c, 0x18]), Some(Format::Lz4Legacy));
        assert_eq!(detect(&[0x28, 0xb5, 0x2f, 0xfd]), Some(Format::Zstd));
        assert_eq!(detect(&[0x89, b'L', b'Z', b'O']), Some(Format::Lzo));
        assert_eq!(detect(&[]), None);
        assert_eq!(detect(&[0x1f]), None);
    }

    #[test]
    fn output_is_capped() {
        // 1 MiB of zeros compresses to about a kilobyte; a 64 KiB cap refuses it.
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&vec![0u8; 1 << 20]).unwrap();
        let gz = gz.finish().unwrap();
        assert!(gz.len() < 4096);
        let e = decompress(Format::Gzip, &gz, 64 << 10).unwrap_err();
        assert!(e.to_string().contains("limit"), "{e}");
        assert_eq!(decompress(Format::Gzip, &gz, 1 << 20).unwrap().0.len(), 1 << 20);
    }

    #[test]
    fn garbage_after_magic_is_an_error_not_a_panic() {
        let magics: [&[u8]; 6] = [
            &[0x1f, 0x8b, 8, 0],
            b"BZh9",
            &[0x5d, 0, 0, 0x80, 0],
            &[0xfd, b'7', b'z', b'X', b'Z', 0, 0, 4],
            &[0x02, 0x21, 0x4c, 0x18],
            &[0x28, 0xb5, 0x2f, 0xfd],
        ];
        for m in magics {
            let f = detect(m).unwrap();
            for tail in [&[][..], &[0xff; 64][..], &[0x00; 64][..], &[0x41; 300][..]] {
                let mut v = m.to_vec();
                v.extend_from_slice(tail);
                if let Ok((_, used)) = decompress(f, &v, 1 << 20) {
                    assert!(used <= v.len());
                }
            }
        }
    }
}
