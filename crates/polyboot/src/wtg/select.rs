//! The editions of an image (one per WIM image) and choosing one with `--index` / `--edition`.

use polyboot_core::wim::ImageInfo;
use serde::Serialize;
use std::fmt;

/// One edition as `wtg editions` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edition {
    /// 1-based WIM image index (what `--index` takes).
    pub index: u32,
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub description: Option<String>,
    /// `WINDOWS/EDITIONID` (e.g. "Professional"), else `FLAGS`.
    pub edition: Option<String>,
    /// `WINDOWS/VERSION` as `major.minor.build.spbuild`.
    pub version: Option<String>,
    pub build: Option<u64>,
    /// x86, x64, arm64, ... (or the raw code when unknown).
    pub arch: Option<String>,
    pub installation_type: Option<String>,
    pub language: Option<String>,
    /// Bytes of file data once applied (`TOTALBYTES`).
    pub total_bytes: Option<u64>,
    pub dir_count: Option<u64>,
    pub file_count: Option<u64>,
}

impl From<&ImageInfo> for Edition {
    fn from(i: &ImageInfo) -> Edition {
        Edition {
            index: i.index,
            name: i.name.clone(),
            display_name: i.display_name.clone(),
            description: i.description.clone(),
            edition: i.edition().map(str::to_string),
            version: i.version.map(|v| v.to_string()).filter(|v| !v.is_empty()),
            build: i.version.and_then(|v| v.build),
            arch: i
                .arch
                .map(|a| i.arch_name().map_or_else(|| format!("unknown ({a})"), str::to_string)),
            installation_type: i.installation_type.clone(),
            language: i.default_language.clone(),
            total_bytes: i.total_bytes,
            dir_count: i.dir_count,
            file_count: i.file_count,
        }
    }
}

impl Edition {
    /// The best name to show.
    pub fn label(&self) -> &str {
        self.display_name
            .as_deref()
            .or(self.name.as_deref())
            .or(self.edition.as_deref())
            .unwrap_or("(unnamed)")
    }
}

/// How the user picks an edition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Index(u32),
    /// Matched case-insensitively against the edition ID, then the names.
    Edition(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectError {
    NoEditions,
    IndexOutOfRange { index: u32, list: String, count: usize },
    NoMatch { name: String, list: String },
    Ambiguous { name: String, matches: String },
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectError::NoEditions => f.write_str("the image has no editions"),
            SelectError::IndexOutOfRange { index, list, count } => {
                write!(
                    f,
                    "index {index} out of range: the image has {count} edition{}: {list}",
                    if *count == 1 { "" } else { "s" }
                )
            }
            SelectError::NoMatch { name, list } => {
                write!(f, "no edition named \"{name}\": the image has {list}")
            }
            SelectError::Ambiguous { name, matches } => {
                write!(
                    f,
                    "\"{name}\" matches several editions ({matches}): choose one with --index"
                )
            }
        }
    }
}

impl std::error::Error for SelectError {}

fn list(editions: &[&Edition]) -> String {
    editions
        .iter()
        .map(|e| match e.edition.as_deref() {
            Some(ed) if ed != e.label() => format!("{} {} ({ed})", e.index, e.label()),
            _ => format!("{} {}", e.index, e.label()),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Pick one edition. `--edition` matches the edition ID first (several images may share one,
/// e.g. N editions: then it is ambiguous), then the name or display name, all ignoring case.
pub fn select<'a>(editions: &'a [Edition], sel: &Selection) -> Result<&'a Edition, SelectError> {
    if editions.is_empty() {
        return Err(SelectError::NoEditions);
    }
    let all: Vec<&Edition> = editions.iter().collect();
    match sel {
        Selection::Index(i) => editions.iter().find(|e| e.index == *i).ok_or_else(|| {
            SelectError::IndexOutOfRange { index: *i, list: list(&all), count: editions.len() }
        }),
        Selection::Edition(name) => {
            let eq = |s: &Option<String>| {
                s.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(name.trim()))
            };
            let by_id: Vec<&Edition> = editions.iter().filter(|e| eq(&e.edition)).collect();
            let matches = if by_id.is_empty() {
                editions.iter().filter(|e| eq(&e.name) || eq(&e.display_name)).collect()
            } else {
                by_id
            };
            match matches[..] {
                [one] => Ok(one),
                [] => Err(SelectError::NoMatch { name: name.clone(), list: list(&all) }),
                _ => Err(SelectError::Ambiguous { name: name.clone(), matches: list(&matches) }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ed(index: u32, name: &str, edition: &str) -> Edition {
        Edition {
            index,
            name: Some(name.into()),
            display_name: None,
            description: None,
            edition: Some(edition.into()),
            version: None,
            build: None,
            arch: None,
            installation_type: None,
            language: None,
            total_bytes: None,
            dir_count: None,
            file_count: None,
        }
    }

    fn sample() -> Vec<Edition> {
        vec![
            ed(1, "Windows 10 Home", "Core"),
            ed(2, "Windows 10 Pro", "Professional"),
            ed(3, "Windows 10 Pro N", "ProfessionalN"),
            ed(4, "Windows 10 Education", "Education"),
        ]
    }

    #[test]
    fn by_index_and_edition() {
        let eds = sample();
        assert_eq!(select(&eds, &Selection::Index(3)).unwrap().index, 3);
        assert_eq!(select(&eds, &Selection::Edition("professional".into())).unwrap().index, 2);
        assert_eq!(select(&eds, &Selection::Edition("Windows 10 Home".into())).unwrap().index, 1);
    }

    #[test]
    fn clear_errors() {
        let eds = sample();
        let e = select(&eds, &Selection::Index(7)).unwrap_err().to_string();
        assert_eq!(
            e,
            "index 7 out of range: the image has 4 editions: 1 Windows 10 Home (Core), 2 Windows 10 Pro (Professional), \
             3 Windows 10 Pro N (ProfessionalN), 4 Windows 10 Education (Education)"
        );
        assert!(select(&eds, &Selection::Index(0)).is_err());
        let e = select(&eds, &Selection::Edition("Enterprise".into())).unwrap_err().to_string();
        assert!(
            e.starts_with("no edition named \"Enterprise\": the image has 1 Windows 10 Home"),
            "{e}"
        );
        let mut dup = sample();
        dup[3].edition = Some("Professional".into());
        let e = select(&dup, &Selection::Edition("Professional".into())).unwrap_err();
        assert!(matches!(e, SelectError::Ambiguous { .. }), "{e}");
        assert!(e.to_string().contains("--index"));
        assert_eq!(select(&[], &Selection::Index(1)), Err(SelectError::NoEditions));
        let one = &sample()[..1];
        assert!(select(one, &Selection::Index(2))
            .unwrap_err()
            .to_string()
            .contains("has 1 edition: 1 Windows"));
    }
}
