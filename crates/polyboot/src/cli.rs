//! The command-line interface: a clap derive tree, kept apart from what the commands do.

use clap::{Parser, Subcommand};

const ABOUT: &str = "Multi-boot USB drives: copy ISO / IMG / EFI files onto the drive, pick one at boot.";

const EXAMPLES: &str = "\
Examples:
  polyboot --version
  polyboot help";

#[derive(Debug, Parser)]
#[command(name = "polyboot", version, about = ABOUT, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {}
