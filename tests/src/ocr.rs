//! Reading text off a VGA / GOP screen: QEMU's `screendump` writes a PPM; we turn it into a
//! high-contrast, upscaled greyscale image and let tesseract read it.

use anyhow::{bail, ensure, Context, Result};
use std::path::Path;

/// A decoded binary PPM (P6, maxval 255).
pub struct Rgb {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

pub fn parse_ppm(data: &[u8]) -> Result<Rgb> {
    // Header: "P6" whitespace width whitespace height whitespace maxval single-whitespace.
    let mut fields = Vec::new();
    let mut pos = 0;
    while fields.len() < 4 {
        while pos < data.len() && data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos < data.len() && data[pos] == b'#' {
            while pos < data.len() && data[pos] != b'\n' {
                pos += 1;
            }
            continue;
        }
        let start = pos;
        while pos < data.len() && !data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        ensure!(pos > start, "truncated PPM header");
        fields.push(std::str::from_utf8(&data[start..pos])?.to_string());
    }
    pos += 1;
    ensure!(fields[0] == "P6", "not a binary PPM (magic {:?})", fields[0]);
    let width: usize = fields[1].parse().context("PPM width")?;
    let height: usize = fields[2].parse().context("PPM height")?;
    ensure!(fields[3] == "255", "unsupported PPM maxval {}", fields[3]);
    let len = width.checked_mul(height).and_then(|n| n.checked_mul(3)).context("PPM size")?;
    ensure!(data.len() >= pos + len, "PPM pixel data truncated");
    Ok(Rgb { width, height, pixels: data[pos..pos + len].to_vec() })
}

/// Firmware consoles draw light text on dark backgrounds in small bitmap fonts; tesseract reads
/// dark text on light backgrounds at a larger size much better.
pub fn to_ocr_pgm(img: &Rgb, scale: usize) -> Vec<u8> {
    let (w, h) = (img.width * scale, img.height * scale);
    let mut out = format!("P5\n{w} {h}\n255\n").into_bytes();
    out.reserve(w * h);
    for y in 0..h {
        for x in 0..w {
            let i = ((y / scale) * img.width + x / scale) * 3;
            let p = &img.pixels[i..i + 3];
            let luma = (p[0] as u32 * 30 + p[1] as u32 * 59 + p[2] as u32 * 11) / 100;
            out.push(if luma > 60 { 0 } else { 255 });
        }
    }
    out
}

/// OCR a PPM screendump; returns the recognised text.
pub fn read_screen(ppm_path: &Path) -> Result<String> {
    let data =
        std::fs::read(ppm_path).with_context(|| format!("reading {}", ppm_path.display()))?;
    let img = parse_ppm(&data)?;
    let pgm = ppm_path.with_extension("ocr.pgm");
    std::fs::write(&pgm, to_ocr_pgm(&img, 3))?;
    let out = std::process::Command::new("tesseract")
        .arg(&pgm)
        .arg("stdout")
        .args(["--psm", "6"])
        .output()
        .context("cannot run tesseract (Debian package tesseract-ocr)")?;
    if !out.status.success() {
        bail!("tesseract failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppm_round_trip_and_contrast() {
        let mut ppm = b"P6\n# comment\n2 1\n255\n".to_vec();
        ppm.extend_from_slice(&[200, 200, 200, 0, 0, 0]);
        let img = parse_ppm(&ppm).unwrap();
        assert_eq!((img.width, img.height), (2, 1));
        let pgm = to_ocr_pgm(&img, 2);
        let body = &pgm[pgm.len() - 8..];
        assert_eq!(body, &[0, 0, 255, 255, 0, 0, 255, 255]);
        assert!(parse_ppm(b"P6\n2 1\n255\n\x01").is_err());
        assert!(parse_ppm(b"P3\n1 1\n255\n").is_err());
    }
}
