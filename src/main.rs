//! The `ucrm-webhooks` binary: parses the command line and runs the chosen command.

/// sled and the actors allocate many small short-lived buffers per event; mimalloc serves
/// them measurably faster than the system allocator (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = ucrm_webhooks::cli::main();
    std::process::exit(code);
}
