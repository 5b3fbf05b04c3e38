//! Asking the user before destroying data.

use std::io::{BufRead, Write};

use anyhow::{bail, Context, Result};

use super::Target;

/// Shows `prompt_text` and asks the user to type `yes` (or one of `also_accept`, e.g. the
/// device name). Anything else, including `y` and end of input, is a no.
///
/// With `assume_yes` (`--yes`) the text is still written, so logs show what was erased, and
/// the answer is yes. Without it, a non-`interactive` input (stdin not a terminal) is an
/// error rather than a prompt nobody will answer.
pub fn confirm(
    prompt_text: &str,
    also_accept: &[&str],
    assume_yes: bool,
    interactive: bool,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> Result<bool> {
    writeln!(output, "{prompt_text}")?;
    if assume_yes {
        output.flush()?;
        return Ok(true);
    }
    if !interactive {
        bail!("refusing to continue without confirmation: input is not a terminal (pass --yes to confirm non-interactively)");
    }
    let choices: Vec<String> = std::iter::once("yes")
        .chain(also_accept.iter().copied())
        .map(|answer| format!("'{answer}'"))
        .collect();
    write!(output, "Type {} to continue: ", choices.join(" or "))?;
    output.flush()?;

    let mut answer = String::new();
    if input.read_line(&mut answer).context("reading confirmation")? == 0 {
        writeln!(output)?;
        return Ok(false);
    }
    let answer = answer.trim();
    Ok(answer.eq_ignore_ascii_case("yes") || also_accept.contains(&answer))
}

/// Confirms erasing `target`: disks show their description and accept `yes` or the kernel
/// name (`sdb`); image files need no confirmation.
pub fn confirm_erase(
    target: &Target,
    assume_yes: bool,
    interactive: bool,
    input: &mut impl BufRead,
    output: &mut impl Write,
) -> Result<bool> {
    let Target::BlockDevice(disk) = target else {
        return Ok(true);
    };
    let prompt = format!("{disk}\nALL DATA ON {} WILL BE DESTROYED.", disk.path.display());
    confirm(&prompt, &[&disk.sysfs_name], assume_yes, interactive, input, output)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::fake::{add_usb_stick, FakeSystem};
    use crate::device::inspect_target;
    use std::io::Cursor;

    fn ask(answer: &str, interactive: bool) -> (Result<bool>, String) {
        let mut output = Vec::new();
        let result = confirm(
            "Erase /dev/sdb?",
            &["sdb"],
            false,
            interactive,
            &mut Cursor::new(answer),
            &mut output,
        );
        (result, String::from_utf8(output).unwrap())
    }

    #[test]
    fn accepts_yes_or_the_device_name() {
        for answer in ["yes\n", "YES\n", "  yes  \n", "sdb\n", "yes"] {
            let (result, output) = ask(answer, true);
            assert!(result.unwrap(), "{answer:?}");
            assert_eq!(output, "Erase /dev/sdb?\nType 'yes' or 'sdb' to continue: ");
        }
    }

    #[test]
    fn anything_else_is_no() {
        for answer in ["y\n", "no\n", "\n", "yes please\n", "SDB\n", "sdb1\n"] {
            assert!(!ask(answer, true).0.unwrap(), "{answer:?}");
        }
        let (result, output) = ask("", true);
        assert!(!result.unwrap(), "end of input");
        assert!(output.ends_with(": \n"));
    }

    #[test]
    fn assume_yes_answers_without_reading() {
        let mut output = Vec::new();
        let mut input = Cursor::new("no\n");
        assert!(confirm("Erase /dev/sdb?", &[], true, false, &mut input, &mut output).unwrap());
        assert_eq!(String::from_utf8(output).unwrap(), "Erase /dev/sdb?\n");
        assert_eq!(input.position(), 0);
    }

    #[test]
    fn non_interactive_input_without_yes_is_refused_not_awaited() {
        let (result, output) = ask("yes\n", false);
        let error = result.unwrap_err().to_string();
        assert!(error.contains("not a terminal") && error.contains("--yes"), "{error}");
        assert_eq!(output, "Erase /dev/sdb?\n");
    }

    #[test]
    fn erase_prompt_describes_the_disk() {
        let mut system = FakeSystem::new();
        let node = add_usb_stick(&mut system);
        let target = inspect_target(&system.view, &node).unwrap();
        let mut output = Vec::new();
        assert!(
            confirm_erase(&target, false, true, &mut Cursor::new("sdb\n"), &mut output).unwrap()
        );
        let output = String::from_utf8(output).unwrap();
        assert_eq!(
            output,
            format!(
                "{0}: 14.9 GiB (16008609792 bytes), SanDisk Cruzer Blade, USB, removable\n  partitions: sdb1 14.9 GiB\n\
                 ALL DATA ON {0} WILL BE DESTROYED.\nType 'yes' or 'sdb' to continue: ",
                node.display()
            )
        );
    }

    #[test]
    fn image_files_need_no_confirmation() {
        let target = Target::ImageFile { path: "out.img".into(), exists: true, size: 1 << 30 };
        let mut output = Vec::new();
        assert!(confirm_erase(&target, false, false, &mut Cursor::new(""), &mut output).unwrap());
        assert!(output.is_empty());
    }
}
