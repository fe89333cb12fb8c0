//! The `ucrm-webhooks` binary: parses the command line and runs the chosen command.

fn main() {
    let code = ucrm_webhooks::cli::main();
    std::process::exit(code);
}
