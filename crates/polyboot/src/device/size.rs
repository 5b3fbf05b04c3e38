//! Human-readable sizes: `format_size` for messages, `parse_size` for `--size` / `--reserve`.
//!
//! Both use binary units only. Disk vendors sell decimal gigabytes, but every size polyboot
//! deals with (partitions, reserves, alignment) is a multiple of 1024, so "8G" means 8 GiB
//! whether the user writes `8G`, `8GB` or `8GiB`.

use std::fmt;

const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// Formats a byte count with one decimal in the largest binary unit that keeps it below 1024:
/// `512 B`, `32.0 MiB`, `14.9 GiB`.
pub fn format_size(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    // Work in tenths of a unit with integer maths so the rounding is exact and a value that
    // rounds up to 1024.0 moves to the next unit instead of printing "1024.0 MiB".
    let mut unit = 1;
    let mut divisor: u128 = 1024;
    loop {
        let tenths = (u128::from(bytes) * 10 + divisor / 2) / divisor;
        if tenths < 10_240 || unit == UNITS.len() - 1 {
            return format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit]);
        }
        unit += 1;
        divisor *= 1024;
    }
}

/// Why a size argument was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSizeError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for ParseSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid size {:?}: {} (examples: 4096, 512M, 8G, 1.5T, 32MiB)",
            self.input, self.reason
        )
    }
}

impl std::error::Error for ParseSizeError {}

/// Parses a size such as `4096`, `512M`, `8G`, `1.5T`, `32MiB`, `8 GB` into bytes.
///
/// Units (case-insensitive, all binary): `B`, `K`/`KB`/`KiB`, `M`, `G`, `T`, `P`, `E`.
/// A plain number is bytes. Fractions are allowed with a unit and rounded down to a whole
/// byte (`0.5K` = 512); a fractional byte count (`1.5`, `1.5B`) is an error.
pub fn parse_size(input: &str) -> Result<u64, ParseSizeError> {
    let error = |reason| ParseSizeError { input: input.to_string(), reason };
    let text = input.trim();
    let number_len = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(number_len);
    let unit = unit.trim_start();
    if number.is_empty() {
        return Err(error("expected a number"));
    }

    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        "p" | "pb" | "pib" => 50,
        "e" | "eb" | "eib" => 60,
        _ => return Err(error("unknown unit (use B, K, M, G, T, P or E)")),
    };

    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    if whole.is_empty() || fraction.contains('.') || (number.ends_with('.')) {
        return Err(error("malformed number"));
    }
    if !fraction.is_empty() && shift == 0 {
        return Err(error("a byte count must be a whole number"));
    }
    let too_large = || error("too large");
    let whole: u64 = whole.parse().map_err(|_| too_large())?;
    let mut bytes = whole.checked_mul(1u64 << shift).ok_or_else(too_large)?;
    if !fraction.is_empty() {
        // Only the first 18 digits can matter (10^18 < 2^64); the rest are below a byte.
        let digits = &fraction[..fraction.len().min(18)];
        let numerator: u128 = digits.parse().map_err(|_| error("malformed number"))?;
        let scale = 10u128.pow(digits.len() as u32);
        let fraction_bytes = (numerator << shift) / scale;
        bytes = bytes
            .checked_add(u64::try_from(fraction_bytes).map_err(|_| too_large())?)
            .ok_or_else(too_large)?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    const TIB: u64 = 1 << 40;

    #[test]
    fn formats_in_the_largest_fitting_unit() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(512), "512 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1024), "1.0 KiB");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(32 * MIB), "32.0 MiB");
        assert_eq!(format_size(16_008_609_792), "14.9 GiB");
        assert_eq!(format_size(512_110_190_592), "476.9 GiB");
        assert_eq!(format_size(2 * TIB), "2.0 TiB");
        assert_eq!(format_size(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn rounding_up_to_1024_moves_to_the_next_unit() {
        assert_eq!(format_size(1024 * MIB - 1), "1.0 GiB");
        assert_eq!(format_size(1024 * KIB - 10), "1.0 MiB");
    }

    #[test]
    fn parses_plain_bytes_and_every_unit_spelling() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096B"), Ok(4096));
        assert_eq!(parse_size("512M"), Ok(512 * MIB));
        assert_eq!(parse_size("8G"), Ok(8 * GIB));
        assert_eq!(parse_size("8g"), Ok(8 * GIB));
        assert_eq!(parse_size("8GB"), Ok(8 * GIB));
        assert_eq!(parse_size("8GiB"), Ok(8 * GIB));
        assert_eq!(parse_size("32MiB"), Ok(32 * MIB));
        assert_eq!(parse_size("64k"), Ok(64 * KIB));
        assert_eq!(parse_size("1P"), Ok(1 << 50));
        assert_eq!(parse_size("15E"), Ok(15 << 60));
        assert_eq!(parse_size(" 8 GiB "), Ok(8 * GIB));
    }

    #[test]
    fn parses_fractions_rounding_down_to_whole_bytes() {
        assert_eq!(parse_size("1.5T"), Ok(TIB + TIB / 2));
        assert_eq!(parse_size("0.5K"), Ok(512));
        assert_eq!(parse_size("1.25G"), Ok(GIB + GIB / 4));
        assert_eq!(parse_size("0.1K"), Ok(102));
        assert_eq!(parse_size("1.0000000000000000000001G"), Ok(GIB));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            " ",
            "G",
            "abc",
            "8X",
            "8 GiBs",
            "-5",
            "+5",
            "1.2.3",
            "1.",
            ".5G",
            "1.5",
            "1.5B",
            "8G8",
            "0x10",
            "16E",
            "99999999999999999999",
            "1e9",
        ] {
            let err = parse_size(bad).expect_err(bad);
            assert!(err.to_string().contains("invalid size"), "{err}");
        }
    }

    #[test]
    fn format_then_parse_round_trips_exact_sizes() {
        for bytes in [KIB, 4 * KIB, 32 * MIB, 512 * MIB, 8 * GIB, 3 * GIB / 2, 2 * TIB] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes), "{}", format_size(bytes));
        }
        assert_eq!(parse_size(&format_size(777)), Ok(777));
    }

    #[test]
    fn parse_then_format_round_trips_one_decimal_sizes() {
        for text in ["14.9 GiB", "1.5 TiB", "32.0 MiB", "512 B", "1.0 KiB"] {
            assert_eq!(format_size(parse_size(text).unwrap()), text);
        }
    }
}
