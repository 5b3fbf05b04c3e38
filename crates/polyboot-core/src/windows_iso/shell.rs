//! Which program is WinPE's shell: the one the image's SYSTEM hive names in
//! `HKLM\SYSTEM\Setup` value `CmdLine` (custom PE media start e.g. `pecmd.exe` there), else
//! `winpeshl.exe`. That program is what the jump program replaces. The jump program writes
//! the original out beside itself (`winpeshl-polyboot.exe`) and runs it with its own command
//! line, so `CmdLine`'s arguments reach the original unchanged and need not be carried.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use crate::regf::Hive;
use crate::wim::patch::{ImageFileReader, WINPE_SHELL};

/// The SYSTEM hive of a WinPE image.
pub const SYSTEM_HIVE: &str = "/Windows/System32/config/SYSTEM";
/// Largest SYSTEM hive read (WinPE's are 5 to 15 MiB).
pub const MAX_SYSTEM_HIVE: u64 = 32 << 20;
/// Programs that stand for the default: `winpeshl.exe` itself, and Setup's `setup.exe` (which
/// is left alone: `winpeshl.exe` stays the program replaced).
const DEFAULT_SHELLS: [&str; 2] = ["winpeshl.exe", "setup.exe"];
/// Programs never replaced: every batch file and `%ComSpec%` user would start the jump program.
const NOT_REPLACED: [&str; 1] = ["cmd.exe"];

/// What `CmdLine` makes the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdLine {
    /// Absent, empty or the default: `winpeshl.exe` is replaced.
    Default,
    /// This program of the image (`/`-separated) is replaced.
    Program(String),
    /// A program polyboot does not replace; why (`winpeshl.exe` is replaced, and may not run).
    Unsupported(String),
}

/// The shell chosen for an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shell {
    /// The file replaced by the jump program (`/`-separated path in the image).
    pub path: String,
    /// `Setup\CmdLine` as the hive holds it, when set.
    pub cmdline: Option<String>,
    /// Why `CmdLine`'s program is not the one replaced, or why the hive was not read.
    pub note: Option<String>,
}

/// Expand the environment variables WinPE's system has at that point (`%SystemRoot%`,
/// `%windir%`, `%SystemDrive%`); None for any other.
fn expand(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after.find('%')?;
        let name = &after[..end];
        if name.eq_ignore_ascii_case("SystemRoot") || name.eq_ignore_ascii_case("windir") {
            out.push_str("X:\\Windows");
        } else if name.eq_ignore_ascii_case("SystemDrive") {
            out.push_str("X:");
        } else {
            return None;
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// The program `CmdLine` starts, as a path in the image: quotes and arguments stripped,
/// `%SystemRoot%` / `%windir%` / `%SystemDrive%` expanded, `X:\...` and `\...` taken from the
/// image's root, a bare name (`.exe` added when it has no extension) and other relative paths
/// from `Windows\System32` (the session manager's directory).
pub fn parse_cmdline(cmdline: &str) -> CmdLine {
    let text = cmdline.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if text.is_empty() {
        return CmdLine::Default;
    }
    let program = match text.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next().unwrap_or(""),
        None => text.split(char::is_whitespace).next().unwrap_or(""),
    };
    if program.trim().is_empty() {
        return CmdLine::Unsupported(format!("{cmdline:?}: no program name"));
    }
    let Some(program) = expand(program) else {
        return CmdLine::Unsupported(format!(
            "{program}: an environment variable other than %SystemRoot%, %windir%, %SystemDrive%"
        ));
    };
    let program = program.replace('/', "\\");
    let path = match program.as_bytes() {
        [d, b':', rest @ ..] if d.is_ascii_alphabetic() => {
            if !d.eq_ignore_ascii_case(&b'X') {
                return CmdLine::Unsupported(format!(
                    "{program}: not on WinPE's drive X: (the WIM image)"
                ));
            }
            String::from_utf8_lossy(rest).into_owned()
        }
        [b'\\', ..] => program.clone(),
        _ => format!("\\Windows\\System32\\{program}"),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('\\').filter(|p| !p.is_empty() && *p != ".") {
        if part == ".." {
            parts.pop();
        } else {
            parts.push(part);
        }
    }
    let Some(last) = parts.pop() else {
        return CmdLine::Unsupported(format!("{program}: no program name"));
    };
    let name = if last.contains('.') { last.to_string() } else { format!("{last}.exe") };
    if DEFAULT_SHELLS.iter().any(|d| d.eq_ignore_ascii_case(&name)) {
        return CmdLine::Default;
    }
    if NOT_REPLACED.iter().any(|d| d.eq_ignore_ascii_case(&name)) {
        return CmdLine::Unsupported(format!(
            "{name} is not replaced (every batch file would start the jump program)"
        ));
    }
    if !name.to_ascii_lowercase().ends_with(".exe") {
        return CmdLine::Unsupported(format!("{name} is not an .exe"));
    }
    let mut out = String::new();
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    out.push('/');
    out.push_str(&name);
    CmdLine::Program(out)
}

/// `Setup\CmdLine` of a SYSTEM hive, when it is a string.
pub fn setup_cmdline(hive: &[u8]) -> Result<Option<String>, String> {
    let hive = Hive::parse(hive).map_err(|e| format!("{e}"))?;
    let value = hive.root.get("Setup").and_then(|k| k.value("CmdLine"));
    Ok(value.and_then(|v| v.as_string()))
}

/// Choose the shell of the image `read` reads (the SYSTEM hive read up to `max_hive` bytes):
/// `CmdLine`'s program when it is in the image, else `winpeshl.exe`.
pub fn choose_shell(read: &mut ImageFileReader<'_>, max_hive: u64) -> Shell {
    let default = |cmdline: Option<String>, note: Option<String>| Shell {
        path: String::from(WINPE_SHELL),
        cmdline,
        note,
    };
    let hive = match read(SYSTEM_HIVE, max_hive.min(MAX_SYSTEM_HIVE)) {
        Ok(Some(h)) => h,
        Ok(None) => return default(None, None),
        Err(e) => return default(None, Some(format!("the SYSTEM hive was not read: {e}"))),
    };
    let cmdline = match setup_cmdline(&hive) {
        Ok(Some(c)) => c,
        Ok(None) => return default(None, None),
        Err(e) => return default(None, Some(format!("the SYSTEM hive was not read: {e}"))),
    };
    match parse_cmdline(&cmdline) {
        CmdLine::Default => default(Some(cmdline), None),
        CmdLine::Unsupported(why) => default(Some(cmdline), Some(why)),
        CmdLine::Program(path) => match read(&path, 0) {
            // Only whether it is there: a limit of 0 bytes refuses any non-empty file.
            Ok(None) => {
                let note = format!("{path} (named by Setup\\CmdLine) is not in the image");
                default(Some(cmdline), Some(note))
            }
            _ => Shell { path, cmdline: Some(cmdline), note: None },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn program(s: &str) -> String {
        match parse_cmdline(s) {
            CmdLine::Program(p) => p,
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn cmdline_programs_become_image_paths() {
        assert_eq!(
            program("X:\\Windows\\System32\\pecmd.exe X:\\pecmd.ini"),
            "/Windows/System32/pecmd.exe"
        );
        assert_eq!(
            program("pecmd.exe MAIN %SystemRoot%\\pecmd.ini"),
            "/Windows/System32/pecmd.exe"
        );
        assert_eq!(program("PECMD"), "/Windows/System32/PECMD.exe");
        assert_eq!(program("%SystemRoot%\\system32\\PEShell.exe"), "/Windows/system32/PEShell.exe");
        assert_eq!(program("%windir%\\Tools\\shell.exe -x"), "/Windows/Tools/shell.exe");
        assert_eq!(program("%SystemDrive%\\PE\\start.exe"), "/PE/start.exe");
        // Unquoted, a space ends the program's name.
        assert_eq!(program("\\Program Files\\x.exe"), "/Program.exe");
        assert_eq!(
            program("\"X:\\Program Files\\My Shell\\shell.exe\" /a \"b c\""),
            "/Program Files/My Shell/shell.exe"
        );
        assert_eq!(program("x:/windows/system32/../pe.exe"), "/windows/pe.exe");
        assert_eq!(program("  tools\\run.exe\0"), "/Windows/System32/tools/run.exe");
    }

    #[test]
    fn the_default_shells_and_odd_cmdlines() {
        for d in [
            "",
            "   ",
            "winpeshl.exe",
            "winpeshl",
            "X:\\Windows\\System32\\WINPESHL.EXE",
            "X:\\sources\\setup.exe /noreboot",
            "\"setup.exe\"",
        ] {
            assert_eq!(parse_cmdline(d), CmdLine::Default, "{d:?}");
        }
        for odd in [
            "cmd.exe /c X:\\start.cmd",
            "C:\\Windows\\pecmd.exe",
            "%ProgramFiles%\\x.exe",
            "%SystemRoot",
            "X:\\startnet.cmd",
            "X:\\",
            "\"\"",
        ] {
            assert!(matches!(parse_cmdline(odd), CmdLine::Unsupported(_)), "{odd:?}");
        }
    }
}
