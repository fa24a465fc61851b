//! The kapture binary: parses the command line and hands over to the library.

use clap::Parser;
use kapture::cli::{Args, Config, ExitCode, run};

fn main() {
    let args = Args::parse();
    let code = match Config::from_args(args) {
        Ok(config) => run(&config),
        Err(message) => {
            eprintln!("kapture: {message}");
            ExitCode::BadArguments
        }
    };
    std::process::exit(code as i32);
}
