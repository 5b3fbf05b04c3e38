//! How configuration entries name images and directories, as Ventoy's plugins do: an exact
//! absolute path whose last component may hold `*` wildcards (`/ISO/Win11_*.iso`), a directory
//! whose files (or whole subtree) an entry covers, and a directory itself. Comparisons ignore
//! ASCII case, as exFAT does. Every match is linear in the lengths involved: a hostile pattern
//! cannot make the menu slow.

use alloc::string::String;

/// Which images a plugin entry is for (`auto_install`, `persistence`, `injection`, `dud`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One image (`*` in its last component matches any run of characters).
    Image(String),
    /// Every image under this directory, at any depth.
    Parent(String),
}

impl Target {
    /// `("image", path)` or `("parent", path)`, for messages.
    pub fn describe(&self) -> (&'static str, &str) {
        match self {
            Target::Image(p) => ("image", p),
            Target::Parent(p) => ("parent", p),
        }
    }

    pub fn path(&self) -> &str {
        self.describe().1
    }
}

/// The entry of `entries` that applies to `image`, by Ventoy's precedence: an `image` entry
/// (the first that matches) beats every `parent` one; among `parent` entries the deepest
/// directory wins, and among equally deep ones the earliest.
pub fn select<'a, T>(
    entries: &'a [T],
    image: &str,
    target: impl Fn(&T) -> &Target,
) -> Option<&'a T> {
    if let Some(e) =
        entries.iter().find(|e| matches!(target(e), Target::Image(p) if image_matches(p, image)))
    {
        return Some(e);
    }
    let mut best: Option<(usize, &T)> = None;
    for e in entries {
        if let Target::Parent(p) = target(e) {
            let depth = p.trim_end_matches('/').len();
            // Strictly deeper only: the earliest of equals stays.
            if under(p, image) && best.is_none_or(|(d, _)| depth > d) {
                best = Some((depth, e));
            }
        }
    }
    best.map(|(_, e)| e)
}

/// `pattern` (one path component, `*` = any run of characters) matches `name`, ignoring ASCII
/// case. Greedy with one backtrack point: O(len(pattern) x len(name)) at worst.
pub fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    // The last `*` seen and where in `name` its run currently ends.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if pattern.get(p) == Some(&b'*') {
            star = Some((p, n));
            p += 1;
        } else if pattern.get(p).is_some_and(|c| c.eq_ignore_ascii_case(&name[n])) {
            p += 1;
            n += 1;
        } else if let Some((sp, sn)) = star {
            // Let the last `*` take one more character and retry from there.
            star = Some((sp, sn + 1));
            p = sp + 1;
            n = sn + 1;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// `pattern` (an absolute path, wildcards in its last component) names `image`.
pub fn image_matches(pattern: &str, image: &str) -> bool {
    let (p_dir, p_name) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let (i_dir, i_name) = image.rsplit_once('/').unwrap_or(("", image));
    p_dir.eq_ignore_ascii_case(i_dir) && glob(p_name.as_bytes(), i_name.as_bytes())
}

/// Whether a pattern holds a wildcard (exact paths can be looked up instead of matched).
pub fn has_wildcard(pattern: &str) -> bool {
    pattern.contains('*')
}

/// `path` lies somewhere below directory `parent` ("/" holds everything).
pub fn under(parent: &str, path: &str) -> bool {
    let parent = parent.trim_end_matches('/');
    path.len() > parent.len()
        && path.as_bytes()[parent.len()] == b'/'
        && path[..parent.len()].eq_ignore_ascii_case(parent)
}

/// `path` lies directly in directory `parent` (not in a subdirectory of it).
pub fn directly_in(parent: &str, path: &str) -> bool {
    under(parent, path) && !path[parent.trim_end_matches('/').len() + 1..].contains('/')
}

/// The directory holding `path` ("/" for a file in the root).
pub fn parent_of(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(glob(b"a*b*c", b"aXXbYYc"));
        assert!(glob(b"*", b""));
        assert!(glob(b"a**", b"A"));
        assert!(glob(b"*.iso", b"x.y.ISO"));
        assert!(!glob(b"a*b*c", b"aXXbYY"));
        assert!(!glob(b"a", b"ab"));
        // Many wildcards against a long name that almost matches: quick, and no match.
        let hostile = String::from("/") + &"*a".repeat(120) + "b";
        let name = String::from("/") + &"a".repeat(255);
        assert!(!image_matches(&hostile, &name));
    }

    #[test]
    fn directories() {
        assert!(under("/ISO", "/iso/a.iso"));
        assert!(under("/", "/a.iso"));
        assert!(!under("/ISO", "/ISOx/a.iso"));
        assert!(!under("/ISO", "/ISO"));
        assert!(directly_in("/ISO", "/ISO/a.iso"));
        assert!(!directly_in("/ISO", "/ISO/x/a.iso"));
        assert!(directly_in("/", "/a.iso"));
        assert_eq!(parent_of("/a.iso"), "/");
        assert_eq!(parent_of("/ISO/x/a.iso"), "/ISO/x");
    }

    #[test]
    fn precedence_of_targets() {
        let t = |image: bool, p: &str| {
            if image {
                Target::Image(p.into())
            } else {
                Target::Parent(p.into())
            }
        };
        let entries = [
            (t(false, "/"), 0),
            (t(false, "/ISO/Linux"), 1),
            (t(false, "/ISO"), 2),
            (t(true, "/ISO/Linux/deb*.iso"), 3),
            (t(true, "/ISO/Linux/debian.iso"), 4),
            (t(false, "/iso/linux/"), 5),
        ];
        let pick = |image: &str| select(&entries, image, |e| &e.0).map(|e| e.1);
        // An image entry beats any parent, the first matching image entry wins.
        assert_eq!(pick("/ISO/Linux/debian.iso"), Some(3));
        // The deepest parent; the earliest of two equally deep ones (case ignored).
        assert_eq!(pick("/ISO/Linux/arch.iso"), Some(1));
        assert_eq!(pick("/ISO/Linux/sub/arch.iso"), Some(1));
        assert_eq!(pick("/ISO/x.iso"), Some(2));
        assert_eq!(pick("/x.iso"), Some(0));
        assert_eq!(select(&entries[1..], "/other/x.iso", |e| &e.0).map(|e| e.1), None);
        assert_eq!(t(true, "/a.iso").describe(), ("image", "/a.iso"));
        assert_eq!(t(false, "/d").path(), "/d");
    }
}
