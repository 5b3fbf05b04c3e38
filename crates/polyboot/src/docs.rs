//! Documentation generated from the clap command tree: shell completion scripts
//! (`polyboot completions SHELL`) and man pages (`polyboot manpages DIR`, used by
//! `cargo xtask dist`).

use crate::cli::Cli;
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Write the completion script for `shell` to `out`.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "polyboot", out);
}

/// Write `polyboot.1` and one page per visible subcommand (`polyboot-install.1`,
/// `polyboot-wtg-create.1`, ...) into `dir`, creating it if needed. Returns the files written.
pub fn manpages(dir: &Path) -> Result<Vec<PathBuf>> {
    fn generate(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
        let page = clap_mangen::Man::new(cmd.clone());
        written.push(
            page.generate_to(dir)
                .with_context(|| format!("writing {}", dir.join(page.get_filename()).display()))?,
        );
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            generate(sub.clone(), dir, written)?;
        }
        Ok(())
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Built first so that each subcommand's page is named after its full path
    // (polyboot-wtg-create) and shows its full usage line.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    generate(cmd, dir, &mut written)?;
    Ok(written)
}
