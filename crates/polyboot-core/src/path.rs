//! Paths on the volumes polyboot reads (the data partition, ISO trees, the ESP): `/`-separated,
//! absolute from the volume's root, no empty or `.` components; the root is `/`. Both `/` and
//! `\` separate on input (boot configurations and Windows tools write either).
//!
//! What differs between callers is only what `..` means:
//! - [`normalize_absolute`] (menu, configuration files): a path with `..` (or a NUL, or not
//!   starting at the root) is refused;
//! - [`normalize_clamped`] (boot configurations, the ESP): `..` goes up, never above the root;
//! - [`clean`] (paths typed on the command line): `..` is kept for the file system to refuse.

use alloc::string::String;
use alloc::vec::Vec;

/// The separators accepted on input.
pub const SEPARATORS: [char; 2] = ['/', '\\'];

/// The components of `path`: split at `/` and `\`, empty and `.` components dropped (`..` is
/// returned as is).
pub fn components(path: &str) -> impl Iterator<Item = &str> + '_ {
    path.split(SEPARATORS).filter(|c| !matches!(*c, "" | "."))
}

fn from_components<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for c in parts {
        out.push('/');
        out.push_str(c);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// An absolute path as written in a configuration file, normalised; `None` when it does not
/// start with a separator or contains `..` or a NUL. `"//ISO/./x.iso"` → `"/ISO/x.iso"`,
/// `"\ISO\x.iso"` → `"/ISO/x.iso"`, `"/"` → `"/"`.
pub fn normalize_absolute(path: &str) -> Option<String> {
    if !path.starts_with(SEPARATORS) {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    for part in components(path) {
        if part == ".." || part.contains('\0') {
            return None;
        }
        out.push('/');
        out.push_str(part);
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

/// `path` from the root (relative or absolute alike), with `..` resolved and never climbing
/// above the root: `"a/../../b/"` → `"/b"`, `""` → `"/"`.
pub fn normalize_clamped(path: &str) -> String {
    // Most paths are already in this form (paths read back, normalised ones joined): one scan
    // instead of splitting and rebuilding.
    if is_clamped_form(path) {
        return String::from(path);
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in components(path) {
        if c == ".." {
            parts.pop();
        } else {
            parts.push(c);
        }
    }
    from_components(parts)
}

/// Whether `path` is what [`normalize_clamped`] returns for it: `/`, or `/`-separated
/// components none of which is empty, `.` or `..`, and no `\`.
fn is_clamped_form(path: &str) -> bool {
    let b = path.as_bytes();
    if b == b"/" {
        return true;
    }
    if b.first() != Some(&b'/') || b.last() == Some(&b'/') || b.contains(&b'\\') {
        return false;
    }
    !b[1..].split(|&c| c == b'/').any(|c| c.is_empty() || c == b"." || c == b"..")
}

/// `path` from the root with its separators made `/` and empty and `.` components dropped;
/// `..` is kept (the file system refuses it): `"ISO//x.iso/"` → `"/ISO/x.iso"`, `""` → `"/"`.
pub fn clean(path: &str) -> String {
    from_components(components(path))
}

/// The path `name` names when opened from the directory `dir`, normalised with
/// [`normalize_clamped`]: a leading separator in `name` starts from the root, `..` never
/// climbs above it. `("/isolinux", "../live/x")` → `"/live/x"`, `("/a", "\\b")` → `"/b"`.
pub fn resolve(dir: &str, name: &str) -> String {
    if name.starts_with(SEPARATORS) {
        normalize_clamped(name)
    } else {
        normalize_clamped(&alloc::format!("{dir}/{name}"))
    }
}

/// `name` inside the directory `dir` (a normalised path): `("/", "x")` → `"/x"`,
/// `("/ISO", "x")` → `"/ISO/x"`. Not normalised further.
pub fn join(dir: &str, name: &str) -> String {
    let mut path = String::with_capacity(dir.len() + 1 + name.len());
    path.push_str(dir);
    if !dir.ends_with('/') {
        path.push('/');
    }
    path.push_str(name);
    path
}

/// The parent directory and last component of a normalised path: `"/ISO/x.iso"` →
/// `("/ISO", "x.iso")`, `"/x"` → `("/", "x")`, `"/"` → `("/", "")`; a path without a `/` is
/// a name in the root.
pub fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some(("", name)) => ("/", name),
        Some((parent, name)) => (parent, name),
        None => ("/", path),
    }
}

/// The parent directory of a normalised path (`/` for the root and for names in it).
pub fn parent(path: &str) -> &str {
    split(path).0
}

/// Unicode case-insensitive equality of two names (full lower-case mapping), as the menu
/// sorts and matches names on exFAT, whose own up-case table folds at least as much.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars().flat_map(char::to_lowercase).eq(b.chars().flat_map(char::to_lowercase))
}

/// One component as FAT compares it: trailing spaces and periods dropped, case folded.
fn fat_fold(c: &str) -> impl Iterator<Item = char> + '_ {
    c.trim_end_matches([' ', '.']).chars().flat_map(char::to_uppercase)
}

/// Whether two names are the same file name on a FAT volume (case-insensitive, trailing
/// spaces and periods ignored).
pub fn fat_name_eq(a: &str, b: &str) -> bool {
    fat_fold(a).eq(fat_fold(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn absolute_paths() {
        assert_eq!(normalize_absolute("/").as_deref(), Some("/"));
        assert_eq!(normalize_absolute("//").as_deref(), Some("/"));
        assert_eq!(normalize_absolute("/ISO/").as_deref(), Some("/ISO"));
        assert_eq!(normalize_absolute("//ISO/./x.iso").as_deref(), Some("/ISO/x.iso"));
        assert_eq!(normalize_absolute("\\ISO\\x.iso").as_deref(), Some("/ISO/x.iso"));
        assert_eq!(normalize_absolute("/a//b///c/").as_deref(), Some("/a/b/c"));
        assert_eq!(normalize_absolute("ISO/x.iso"), None);
        assert_eq!(normalize_absolute(""), None);
        assert_eq!(normalize_absolute("/ISO/../x.iso"), None);
        assert_eq!(normalize_absolute("/.."), None);
        assert_eq!(normalize_absolute("/a\0b"), None);
        assert_eq!(normalize_absolute("/...").as_deref(), Some("/..."));
    }

    #[test]
    fn clamped_paths() {
        assert_eq!(normalize_clamped(""), "/");
        assert_eq!(normalize_clamped("/"), "/");
        assert_eq!(normalize_clamped("//"), "/");
        assert_eq!(normalize_clamped(".."), "/");
        assert_eq!(normalize_clamped("/../.."), "/");
        assert_eq!(normalize_clamped("a/../../b/"), "/b");
        assert_eq!(normalize_clamped("/boot//grub/./x.cfg"), "/boot/grub/x.cfg");
        assert_eq!(normalize_clamped("\\EFI\\BOOT\\..\\x"), "/EFI/x");
        assert_eq!(normalize_clamped("/a/b/.."), "/a");
    }

    #[test]
    fn resolved_paths() {
        assert_eq!(resolve("/isolinux", "../live/x"), "/live/x");
        assert_eq!(resolve("/isolinux", "/boot/x"), "/boot/x");
        assert_eq!(resolve("/a", "\\b\\c"), "/b/c");
        assert_eq!(resolve("/", "../../x"), "/x");
        assert_eq!(resolve("/a/b", ""), "/a/b");
        assert_eq!(resolve("/a/b", ".."), "/a");
        assert_eq!(resolve("/a", "b//c/"), "/a/b/c");
    }

    #[test]
    fn cleaned_paths() {
        assert_eq!(clean(""), "/");
        assert_eq!(clean("/"), "/");
        assert_eq!(clean("//"), "/");
        assert_eq!(clean("a/b/"), "/a/b");
        assert_eq!(clean("/ISO//x.iso"), "/ISO/x.iso");
        assert_eq!(clean("./a/./b"), "/a/b");
        assert_eq!(clean("a\\b"), "/a/b");
        assert_eq!(clean("a/../b"), "/a/../b");
    }

    #[test]
    fn components_keep_dot_dot() {
        let c: Vec<&str> = components("//a/./..\\b/").collect();
        assert_eq!(c, ["a", "..", "b"]);
        assert_eq!(components("").count(), 0);
    }

    #[test]
    fn join_and_split() {
        assert_eq!(join("/", "x"), "/x");
        assert_eq!(join("/ISO", "x.iso"), "/ISO/x.iso");
        assert_eq!(join("/ISO/", "x.iso"), "/ISO/x.iso");
        assert_eq!(split("/ISO/x.iso"), ("/ISO", "x.iso"));
        assert_eq!(split("/x"), ("/", "x"));
        assert_eq!(split("/"), ("/", ""));
        assert_eq!(split("x"), ("/", "x"));
        assert_eq!(split(""), ("/", ""));
        assert_eq!(parent("/a/b/c"), "/a/b");
        assert_eq!(parent("/a"), "/");
        assert_eq!(parent("/"), "/");
    }

    #[test]
    fn case_insensitive_names() {
        assert!(eq_ignore_case("Ubuntu.ISO", "ubuntu.iso"));
        assert!(eq_ignore_case("ÄÖ", "äö"));
        assert!(!eq_ignore_case("a", "ab"));
        assert!(fat_name_eq("BOOTX64.EFI", "bootx64.efi"));
        assert!(fat_name_eq("name. ", "NAME"));
        assert!(!fat_name_eq("a.b", "ab"));
    }
}
