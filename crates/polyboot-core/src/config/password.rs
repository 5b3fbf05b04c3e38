//! Ventoy's `password` plugin and polyboot's own password form.
//!
//! ```json
//! "password": {
//!   "bootpwd": "txt#123456",
//!   "isopwd": "md5#e10adc3949ba59abbe56e057f20f883e",
//!   "menupwd": [
//!     { "file": "/ISO/x.iso", "pwd": "md5#abc#0659c7992e268962384eb17fafe88364" },
//!     { "parent": "/ISO/Secret", "pwd": "pbkdf2-sha256#100000#<salt hex>#<hash hex>" }
//!   ]
//! }
//! ```
//!
//! - `bootpwd` is asked before the menu is shown (three wrong answers reboot, as Ventoy exits).
//! - `isopwd` / `imgpwd` / `efipwd` / `wimpwd` / `vhdpwd` (`.vhd` and `.vhdx`) protect every
//!   image of that kind; `vtoypwd` is accepted and unused (polyboot lists no `.vtoy` files).
//! - `menupwd` entries protect one image (`file`, `*` wildcards in the last component) or
//!   every image under a directory (`parent`, subdirectories included: for a password the
//!   wider reading is the safe one). A `file` entry wins over a `parent` one, a deeper
//!   parent over a shallower one, and any `menupwd` entry over the per-kind default.
//! - Forms: `txt#plain` and `md5#hex` / `md5#salt#hex` (MD5 of salt then password) as Ventoy
//!   writes them, and `pbkdf2-sha256#iterations#salt-hex#hash-hex` (PBKDF2-HMAC-SHA-256, 32
//!   bytes), which `polyboot config password` generates. Ventoy's forms are only as strong as
//!   the drive is private: anyone who can read ventoy.json can read or brute-force them.
//! - A malformed password never unlocks anything: the image stays protected and the prompt
//!   says the configured password cannot be checked.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::Value;

use super::pattern::{image_matches, under};
use super::{excerpt, kind_of, ConfigLayer};
use crate::menu::{normalize_path, ImageKind};
use crate::sha256::Sha256;

/// Iterations `polyboot config password` uses: about 0.1 s on a PC's firmware.
pub const DEFAULT_ITERATIONS: u32 = 100_000;
/// More would let a hostile configuration stall the menu for minutes per attempt.
pub const MAX_ITERATIONS: u32 = 2_000_000;
/// The longest password the prompt takes, in characters.
pub const MAX_PASSWORD_CHARS: usize = 64;
/// Salts longer than this are refused (Ventoy's are a few characters).
const MAX_SALT_BYTES: usize = 64;

/// One configured password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Password {
    /// Ventoy's `txt#...`.
    Plain(String),
    /// Ventoy's `md5#[salt#]hex`: MD5(salt ‖ password).
    Md5 { salt: String, digest: [u8; 16] },
    /// polyboot's `pbkdf2-sha256#iterations#salt#hash`.
    Pbkdf2 { iterations: u32, salt: Vec<u8>, hash: [u8; 32] },
    /// Not understood: matches nothing (why, for the prompt).
    Invalid(String),
}

impl Password {
    /// Parse a configured password string (never fails: see [`Password::Invalid`]).
    pub fn parse(text: &str) -> Password {
        if let Some(plain) = text.strip_prefix("txt#") {
            return Password::Plain(plain.to_string());
        }
        if let Some(rest) = text.strip_prefix("md5#") {
            let (salt, hex) = rest.rsplit_once('#').unwrap_or(("", rest));
            return match hex_array::<16>(hex) {
                Some(digest) if salt.len() <= MAX_SALT_BYTES => {
                    Password::Md5 { salt: salt.to_string(), digest }
                }
                _ => Password::Invalid(String::from(
                    "an md5# password must be md5#<32 hex digits> or md5#<salt>#<32 hex digits>",
                )),
            };
        }
        if let Some(rest) = text.strip_prefix("pbkdf2-sha256#") {
            let mut parts = rest.split('#');
            let (Some(iterations), Some(salt), Some(hash), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Password::Invalid(String::from(
                    "a pbkdf2-sha256# password must be pbkdf2-sha256#<iterations>#<salt hex>#<hash hex>",
                ));
            };
            let iterations = match iterations.parse::<u32>() {
                Ok(n) if (1..=MAX_ITERATIONS).contains(&n) => n,
                _ => {
                    return Password::Invalid(format!(
                        "pbkdf2-sha256 iterations must be 1 to {MAX_ITERATIONS}"
                    ))
                }
            };
            return match (hex_vec(salt), hex_array::<32>(hash)) {
                (Some(salt), Some(hash)) if salt.len() <= MAX_SALT_BYTES => {
                    Password::Pbkdf2 { iterations, salt, hash }
                }
                _ => Password::Invalid(String::from(
                    "pbkdf2-sha256: the salt (at most 64 bytes) and the 32-byte hash must be hex",
                )),
            };
        }
        Password::Invalid(String::from("a password must start with txt#, md5# or pbkdf2-sha256#"))
    }

    /// Whether `typed` is this password.
    pub fn verify(&self, typed: &str) -> bool {
        match self {
            Password::Plain(p) => same(p.as_bytes(), typed.as_bytes()),
            Password::Md5 { salt, digest } => {
                let mut input = Vec::with_capacity(salt.len() + typed.len());
                input.extend_from_slice(salt.as_bytes());
                input.extend_from_slice(typed.as_bytes());
                same(&crate::md5::digest(&input), digest)
            }
            Password::Pbkdf2 { iterations, salt, hash } => {
                same(&pbkdf2_sha256(typed.as_bytes(), salt, *iterations), hash)
            }
            Password::Invalid(_) => false,
        }
    }

    /// polyboot's stored form of `password` with `salt` (random, from the caller).
    pub fn generate(password: &str, salt: &[u8], iterations: u32) -> String {
        let hash = pbkdf2_sha256(password.as_bytes(), salt, iterations);
        format!("pbkdf2-sha256#{iterations}#{}#{}", hex(salt), hex(&hash))
    }

    /// The stored form: `txt`, `md5`, `pbkdf2-sha256`, or `invalid`.
    pub fn form(&self) -> &'static str {
        match self {
            Password::Plain(_) => "txt",
            Password::Md5 { .. } => "md5",
            Password::Pbkdf2 { .. } => "pbkdf2-sha256",
            Password::Invalid(_) => "invalid",
        }
    }

    /// Why this password can never match, if it cannot.
    pub fn problem(&self) -> Option<&str> {
        match self {
            Password::Invalid(why) => Some(why),
            _ => None,
        }
    }
}

/// Compare without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_vec(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok()).collect()
}

fn hex_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    hex_vec(text)?.try_into().ok()
}

/// HMAC-SHA-256 with the key's inner and outer pads hashed once.
struct Hmac {
    inner: Sha256,
    outer: Sha256,
}

impl Hmac {
    fn new(key: &[u8]) -> Hmac {
        let mut block = [0u8; 64];
        if key.len() > 64 {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        let (mut inner, mut outer) = (Sha256::new(), Sha256::new());
        inner.update(&block.map(|b| b ^ 0x36));
        outer.update(&block.map(|b| b ^ 0x5c));
        Hmac { inner, outer }
    }

    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut inner = self.inner.clone();
        for part in parts {
            inner.update(part);
        }
        let mut outer = self.outer.clone();
        outer.update(&inner.finalize());
        outer.finalize()
    }
}

/// PBKDF2-HMAC-SHA-256 (RFC 8018), one 32-byte block.
pub fn pbkdf2_sha256(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let hmac = Hmac::new(password);
    let mut u = hmac.mac(&[salt, &1u32.to_be_bytes()]);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac.mac(&[&u]);
        for (o, x) in out.iter_mut().zip(u) {
            *o ^= x;
        }
    }
    out
}

/// What a `menupwd` entry protects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordTarget {
    /// One image (`*` wildcards in the last component).
    File(String),
    /// Every image under this directory.
    Parent(String),
}

/// Where the password of an image comes from ([`Passwords::source_for_image`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordSource<'a> {
    /// A `menupwd` entry.
    Menu(&'a PasswordTarget),
    /// The per-kind password (`isopwd`, ...).
    Kind(ImageKind),
}

impl core::fmt::Display for PasswordSource<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PasswordSource::Menu(PasswordTarget::File(p)) => write!(f, "menupwd file {p}"),
            PasswordSource::Menu(PasswordTarget::Parent(p)) => write!(f, "menupwd parent {p}"),
            PasswordSource::Kind(k) => write!(f, "{}", kind_key(*k)),
        }
    }
}

/// The per-kind key that protects `kind` (`vhdpwd` covers `.vhd` and `.vhdx`).
pub fn kind_key(kind: ImageKind) -> &'static str {
    match kind {
        ImageKind::Iso => "isopwd",
        ImageKind::Img => "imgpwd",
        ImageKind::Efi => "efipwd",
        ImageKind::Wim => "wimpwd",
        ImageKind::Vhd | ImageKind::Vhdx => "vhdpwd",
    }
}

/// The `password` plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Passwords {
    /// Asked before the menu (`bootpwd`).
    pub boot: Option<Password>,
    /// Per image kind (`isopwd`, ...).
    pub by_kind: Vec<(ImageKind, Password)>,
    /// `menupwd`, in file order.
    pub menu: Vec<(PasswordTarget, Password)>,
}

impl Passwords {
    /// The password protecting `image` (absolute path) of `kind`, if any.
    pub fn for_image(&self, image: &str, kind: ImageKind) -> Option<&Password> {
        self.source_for_image(image, kind).map(|(_, pwd)| pwd)
    }

    /// [`Passwords::for_image`] and the setting it comes from.
    pub fn source_for_image(
        &self,
        image: &str,
        kind: ImageKind,
    ) -> Option<(PasswordSource<'_>, &Password)> {
        let file = self.menu.iter().find_map(|(t, pwd)| match t {
            PasswordTarget::File(p) if image_matches(p, image) => {
                Some((PasswordSource::Menu(t), pwd))
            }
            _ => None,
        });
        let parent = || {
            self.menu
                .iter()
                .filter_map(|(t, pwd)| match t {
                    PasswordTarget::Parent(p) if under(p, image) => Some((p.len(), t, pwd)),
                    _ => None,
                })
                .rev()
                .max_by_key(|(depth, _, _)| *depth)
                .map(|(_, t, pwd)| (PasswordSource::Menu(t), pwd))
        };
        file.or_else(parent).or_else(|| {
            self.by_kind
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(k, pwd)| (PasswordSource::Kind(*k), pwd))
        })
    }

    /// Every configured password with where it comes from (for `config check`).
    pub fn all(&self) -> impl Iterator<Item = &Password> {
        self.boot
            .iter()
            .chain(self.by_kind.iter().map(|(_, p)| p))
            .chain(self.menu.iter().map(|(_, p)| p))
    }
}

/// Parse the plugin's value into the layer.
pub(super) fn parse(key: &str, value: &Value, layer: &mut ConfigLayer) {
    let Some(object) = value.as_object() else {
        layer.warn(format!("\"{key}\" must be an object, not {} (ignored)", kind_of(value)));
        return;
    };
    let mut passwords = Passwords::default();
    let mut names: Vec<&String> = object.keys().collect();
    names.sort_unstable();
    for name in names {
        let Some(value) = object.get(name) else { continue };
        let kinds: &[ImageKind] = match name.as_str() {
            "bootpwd" => &[],
            "isopwd" => &[ImageKind::Iso],
            "imgpwd" => &[ImageKind::Img],
            "efipwd" => &[ImageKind::Efi],
            "wimpwd" => &[ImageKind::Wim],
            "vhdpwd" => &[ImageKind::Vhd, ImageKind::Vhdx],
            "vtoypwd" => {
                layer.warn(format!("{key}.vtoypwd: polyboot lists no .vtoy files (ignored)"));
                continue;
            }
            "menupwd" => {
                parse_menupwd(key, value, &mut passwords, layer);
                continue;
            }
            _ => {
                layer.warn(format!("unknown key \"{key}.{}\" (ignored)", excerpt(name)));
                continue;
            }
        };
        let Some(text) = value.as_str() else {
            layer.warn(format!("{key}.{name} must be a string, not {}", kind_of(value)));
            // Fail closed: a password was meant to be there.
            let invalid = Password::Invalid(format!("{key}.{name} is not a string"));
            push_kind(&mut passwords, name, kinds, invalid);
            continue;
        };
        let password = Password::parse(text);
        if let Some(why) = password.problem() {
            layer.warn(format!("{key}.{name}: {why}; nothing it protects can be unlocked"));
        }
        push_kind(&mut passwords, name, kinds, password);
    }
    layer.passwords = Some(passwords);
}

fn push_kind(passwords: &mut Passwords, name: &str, kinds: &[ImageKind], password: Password) {
    if name == "bootpwd" {
        passwords.boot = Some(password);
    } else {
        passwords.by_kind.extend(kinds.iter().map(|&k| (k, password.clone())));
    }
}

fn parse_menupwd(key: &str, value: &Value, passwords: &mut Passwords, layer: &mut ConfigLayer) {
    let Some(entries) = value.as_array() else {
        layer.warn(format!("{key}.menupwd must be an array, not {} (ignored)", kind_of(value)));
        return;
    };
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("{key}.menupwd[{i}]");
        let Some(object) = entry.as_object() else {
            layer.warn(format!("{at} must be an object, not {} (ignored)", kind_of(entry)));
            continue;
        };
        let target = match (object.get("file"), object.get("parent")) {
            (Some(Value::String(f)), None) => normalize_path(f).map(PasswordTarget::File),
            (None, Some(Value::String(p))) => normalize_path(p).map(PasswordTarget::Parent),
            _ => None,
        };
        let Some(target) = target else {
            layer.warn(format!("{at} needs one absolute \"file\" or \"parent\" path (ignored)"));
            continue;
        };
        let password = match object.get("pwd") {
            Some(Value::String(s)) => Password::parse(s),
            _ => Password::Invalid(format!("{at}.pwd is missing or not a string")),
        };
        if let Some(why) = password.problem() {
            layer.warn(format!("{at}: {why}; the image stays locked"));
        }
        for name in object.keys() {
            if !matches!(name.as_str(), "file" | "parent" | "pwd") {
                layer.warn(format!("{at}: unknown key \"{}\" (ignored)", excerpt(name)));
            }
        }
        passwords.menu.push((target, password));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ventoy_forms_from_its_documentation() {
        assert!(Password::parse("txt#123456").verify("123456"));
        assert!(!Password::parse("txt#123456").verify("12345"));
        let md5 = Password::parse("md5#e10adc3949ba59abbe56e057f20f883e");
        assert!(md5.verify("123456") && !md5.verify("1234567"));
        let salted = Password::parse("md5#abc#0659c7992e268962384eb17fafe88364");
        assert!(salted.verify("123456") && !salted.verify("abc123456"));
        assert!(Password::parse("md5#def#14fa11b4ab450b0204182266140e284d").verify("123456"));
    }

    #[test]
    fn pbkdf2_matches_rfc7914_vector() {
        // RFC 7914 section 11: PBKDF2-HMAC-SHA256("passwd", "salt", 1), first 32 bytes.
        assert_eq!(
            hex(&pbkdf2_sha256(b"passwd", b"salt", 1)),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
        );
        let stored = Password::generate("s3cret", b"0123456789abcdef", 1000);
        assert!(stored.starts_with("pbkdf2-sha256#1000#30313233"));
        let parsed = Password::parse(&stored);
        assert!(parsed.verify("s3cret") && !parsed.verify("s3cret "));
    }

    #[test]
    fn malformed_passwords_never_match() {
        for text in [
            "123456",
            "md5#zz",
            "md5#abc#e10adc3949ba59abbe56e057f20f883",
            "pbkdf2-sha256#0#00#00",
            "pbkdf2-sha256#4000000000#00#55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc",
            "pbkdf2-sha256#10#0g#55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc",
        ] {
            let p = Password::parse(text);
            assert!(p.problem().is_some(), "{text}");
            assert!(!p.verify("") && !p.verify("123456"));
        }
    }

    #[test]
    fn precedence_file_parent_kind() {
        let mut layer = ConfigLayer::default();
        let json = serde_json::json!({
            "bootpwd": "txt#boot",
            "isopwd": "txt#iso",
            "vhdpwd": "txt#vhd",
            "vtoypwd": "txt#x",
            "menupwd": [
                { "parent": "/ISO", "pwd": "txt#iso-dir" },
                { "parent": "/ISO/Deep", "pwd": "txt#deep" },
                { "file": "/ISO/Deep/win*.iso", "pwd": "txt#file" },
                { "file": "relative.iso", "pwd": "txt#x" },
                { "parent": "/Broken", "pwd": 5 },
                "nonsense"
            ],
            "other": 1
        });
        parse("password", &json, &mut layer);
        let p = layer.passwords.unwrap();
        assert_eq!(p.boot, Some(Password::Plain("boot".into())));
        let pwd = |path, kind| p.for_image(path, kind).cloned();
        assert_eq!(
            pwd("/ISO/Deep/WIN11.iso", ImageKind::Iso),
            Some(Password::Plain("file".into()))
        );
        assert_eq!(pwd("/ISO/Deep/x.iso", ImageKind::Iso), Some(Password::Plain("deep".into())));
        assert_eq!(pwd("/ISO/a/x.img", ImageKind::Img), Some(Password::Plain("iso-dir".into())));
        assert_eq!(pwd("/x.iso", ImageKind::Iso), Some(Password::Plain("iso".into())));
        assert_eq!(pwd("/x.vhdx", ImageKind::Vhdx), Some(Password::Plain("vhd".into())));
        assert_eq!(pwd("/x.img", ImageKind::Img), None);
        assert!(pwd("/Broken/x.img", ImageKind::Img).unwrap().problem().is_some());
        assert_eq!(layer.warnings.len(), 5, "{:?}", layer.warnings);
    }
}
