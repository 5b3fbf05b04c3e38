//! The `polyboot` binary: parse the command line, run the command, report errors.

use clap::{CommandFactory, Parser};
use polyboot::cli::Cli;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("polyboot: error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => {
            Cli::command().print_help()?;
            Ok(())
        }
        Some(command) => match command {},
    }
}
