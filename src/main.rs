//! The kapture binary: parses the command line and hands over to the library.

use kapture::cli::{Args, Config, ExitCode, generate, run};

fn main() {
    // `kapture check ...` and `kapture diff ...`; a capture file named `check` or
    // `diff` is read as `./check`.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(command) = argv
        .get(1)
        .and_then(|a| kapture::cli::commands::dispatch(a))
    {
        std::process::exit(command(&argv[1..]));
    }
    let args: Args = match kapture::cli::usage::parse_or_status(&argv) {
        Ok(args) => args,
        Err(code) => std::process::exit(code),
    };
    if let Some(kind) = args.generate {
        let code = match generate(kind, &mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::Success,
            Err(e) => {
                eprintln!("kapture: cannot write: {e}");
                ExitCode::Unreadable
            }
        };
        std::process::exit(code as i32);
    }
    let code = match Config::from_args(args) {
        Ok(config) => run(&config),
        Err(message) => {
            eprintln!("kapture: {message}");
            ExitCode::BadArguments
        }
    };
    std::process::exit(code as i32);
}
