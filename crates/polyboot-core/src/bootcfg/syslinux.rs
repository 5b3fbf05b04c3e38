//! isolinux / syslinux / extlinux / pxelinux configurations: `LABEL` blocks with their
//! `KERNEL` / `LINUX`, `APPEND`, `INITRD` and `MENU LABEL`, `INCLUDE` / `CONFIG` /
//! `MENU INCLUDE` followed, and an old-style `DEFAULT` kernel command line.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{
    first_word, join, normalize_path, split_kw, BootEntry, Loader, Parsed, Reader, WarningKind,
    MAX_ENTRIES,
};

#[derive(Default)]
struct SysLabel {
    name: String,
    menu_label: Option<String>,
    kernel: Option<String>,
    append: Option<String>,
    initrd: Option<String>,
    source: String,
    line: usize,
}

struct SysState {
    labels: Vec<SysLabel>,
    /// The label the following KERNEL / APPEND / MENU LABEL lines belong to.
    current: Option<usize>,
    global_append: Option<String>,
    defaults: Vec<(String, String, usize)>,
}

/// Parse an isolinux / syslinux / extlinux / pxelinux configuration. Relative paths are
/// resolved against `base_dir` (isolinux's working directory: the directory holding
/// `isolinux.cfg`), as are `INCLUDE` / `CONFIG` files.
pub fn parse_syslinux<L>(path: &str, base_dir: &str, mut load: L) -> Parsed
where
    L: FnMut(&str) -> Option<Vec<u8>>,
{
    let mut out = Parsed::default();
    let mut reader = Reader::new(&mut load);
    let mut st =
        SysState { labels: Vec::new(), current: None, global_append: None, defaults: Vec::new() };
    let base = normalize_path(base_dir);
    sys_read(&mut reader, &mut out, &normalize_path(path), "", 0, &base, &mut st);

    labels_from_defaults(&mut st);
    for l in st.labels {
        label_entry(&mut out, &base, l, st.global_append.as_deref());
    }
    out
}

/// `DEFAULT` naming no label is a kernel command line (old-style configurations): a label
/// of its own.
fn labels_from_defaults(st: &mut SysState) {
    for (value, file, line) in &st.defaults {
        let first = value.split_whitespace().next().unwrap_or("");
        if first.is_empty() || st.labels.iter().any(|l| l.name.eq_ignore_ascii_case(first)) {
            continue;
        }
        let rest = value[value.find(first).unwrap_or(0) + first.len()..].trim();
        st.labels.push(SysLabel {
            name: String::from(first),
            kernel: Some(String::from(first)),
            append: if rest.is_empty() { None } else { Some(String::from(rest)) },
            source: file.clone(),
            line: *line,
            ..SysLabel::default()
        });
    }
}

/// The entry of one label, when it boots a Linux kernel: initrds from the last `initrd=`
/// of its command line (or its `INITRD` line), paths resolved against `base`.
fn label_entry(out: &mut Parsed, base: &str, l: SysLabel, global_append: Option<&str>) {
    let Some(kernel) = l.kernel else { return };
    let lower = kernel.to_ascii_lowercase();
    // COM32 modules, boot sectors and PXE images are not Linux kernels.
    let file_name = lower.rsplit('/').next().unwrap_or("");
    if [".c32", ".com", ".cbt", ".0", ".bss", ".bs"].iter().any(|s| lower.ends_with(s))
        || file_name == "memdisk"
    {
        return;
    }
    let append = l.append.or_else(|| global_append.map(String::from)).unwrap_or_default();
    let mut initrds = Vec::new();
    let mut from_append = false;
    for word in append.split_whitespace() {
        if let Some(v) = word.strip_prefix("initrd=") {
            from_append = true;
            initrds.clear(); // the last initrd= wins
            for p in v.split(',').filter(|p| !p.is_empty()) {
                initrds.push(join(base, p));
            }
        }
    }
    if !from_append {
        if let Some(i) = &l.initrd {
            for p in i.split([',', ' ', '\t']).filter(|p| !p.is_empty()) {
                initrds.push(join(base, p));
            }
        }
    }
    if append.contains('$') {
        out.warn(
            WarningKind::UnresolvedVariable,
            &l.source,
            l.line,
            format!("label {}: {append}", l.name),
        );
    }
    let title = l.menu_label.map(|m| m.replace('^', "")).or_else(|| Some(l.name.clone()));
    out.push_entry(
        BootEntry {
            loader: Loader::Syslinux,
            title,
            kernel: Some(join(base, &kernel)),
            initrds,
            cmdline: append,
            source: l.source,
        },
        "",
    );
}

fn sys_read<L: FnMut(&str) -> Option<Vec<u8>>>(
    reader: &mut Reader<'_, L>,
    out: &mut Parsed,
    path: &str,
    from: &str,
    from_line: usize,
    base: &str,
    st: &mut SysState,
) {
    let Some(text) = reader.open(out, path, from, from_line) else {
        return;
    };
    reader.stack.push(String::from(path));
    let mut in_text = false;
    for (n, raw) in text.lines().enumerate() {
        let line_no = n + 1;
        let line = raw.trim();
        if in_text {
            if line.eq_ignore_ascii_case("endtext") {
                in_text = false;
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kw, rest) = split_kw(line);
        let kw = kw.to_ascii_lowercase();
        match kw.as_str() {
            "label" => {
                if st.labels.len() < MAX_ENTRIES {
                    st.labels.push(SysLabel {
                        name: String::from(rest),
                        source: String::from(path),
                        line: line_no,
                        ..SysLabel::default()
                    });
                    st.current = Some(st.labels.len() - 1);
                } else {
                    st.current = None;
                }
            }
            "kernel" | "linux" => {
                if let Some(l) = st.current.and_then(|i| st.labels.get_mut(i)) {
                    l.kernel = Some(String::from(first_word(rest)));
                    let extra = rest[first_word(rest).len()..].trim();
                    if !extra.is_empty() && l.append.is_none() {
                        l.append = Some(String::from(extra));
                    }
                    l.source = String::from(path);
                    l.line = line_no;
                }
            }
            "append" => match st.current.and_then(|i| st.labels.get_mut(i)) {
                Some(l) => l.append = Some(String::from(rest)),
                None => st.global_append = Some(String::from(rest)),
            },
            "initrd" => {
                if let Some(l) = st.current.and_then(|i| st.labels.get_mut(i)) {
                    l.initrd = Some(String::from(rest));
                }
            }
            "default" => st.defaults.push((String::from(rest), String::from(path), line_no)),
            "text" => in_text = first_word(rest).eq_ignore_ascii_case("help"),
            "include" | "config" => {
                let target = join(base, first_word(rest));
                sys_read(reader, out, &target, path, line_no, base, st);
            }
            "menu" => {
                let (sub, arg) = split_kw(rest);
                if sub.eq_ignore_ascii_case("label") {
                    if let Some(l) = st.current.and_then(|i| st.labels.get_mut(i)) {
                        l.menu_label = Some(String::from(arg));
                    }
                } else if sub.eq_ignore_ascii_case("begin") || sub.eq_ignore_ascii_case("end") {
                    st.current = None;
                } else if sub.eq_ignore_ascii_case("include") {
                    let target = join(base, first_word(arg));
                    sys_read(reader, out, &target, path, line_no, base, st);
                }
            }
            _ => {}
        }
    }
    reader.stack.pop();
}
