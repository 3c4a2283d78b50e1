//! What every example's `main` shares: a usage error exits with status 2, a runtime that
//! cannot start and a run that fails print `NAME: error` and exit with failure.

use std::fmt::Display;
use std::process::ExitCode;
use tokio::runtime::Runtime;

/// Prints `message` (the usage, or what was wrong with the arguments): exit status 2.
pub fn usage_error(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::from(2)
}

/// A tokio runtime: current-thread for `threads == 1` (as the yardstick's other contestants
/// run), else multi-thread with `threads` workers (0: one per core).
pub fn runtime(name: &str, threads: usize) -> Result<Runtime, ExitCode> {
    let built = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        if threads > 1 {
            builder.worker_threads(threads);
        }
        builder.enable_all().build()
    };
    built.map_err(|e| {
        eprintln!("{name}: cannot start the runtime: {e}");
        ExitCode::FAILURE
    })
}

/// The exit code of a finished run; a failure is printed as `NAME: error`.
pub fn exit_code<E: Display>(name: &str, result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
