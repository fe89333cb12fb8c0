//! The real `ucrm-webhooks` binary as a child process, for crash, signal and log tests.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running server process and everything it has logged so far.
pub struct Process {
    /// The child.
    pub child: Child,
    /// `http://ADDR`.
    pub url: String,
    /// Every stderr line so far.
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Process {
    /// Starts `ucrm-webhooks serve --config PATH` and waits for its listening line.
    pub fn spawn(config_path: &Path, rust_log: &str) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ucrm-webhooks"))
            .args(["serve", "--config"])
            .arg(config_path)
            // The listening line is read from the log, whatever the level asked for.
            .env("RUST_LOG", format!("{rust_log},ucrm_webhooks::app=info"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("ucrm-webhooks listening") {
                    if let Some(addr) = line.split("addr=").nth(1) {
                        if let Some(tx) = tx.take() {
                            let _ =
                                tx.send(addr.split_whitespace().next().unwrap_or("").to_owned());
                        }
                    }
                }
                lines.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("server reports its address");
        Process {
            child,
            url: format!("http://{addr}"),
            log,
        }
    }

    /// Sends SIGKILL and waits.
    pub fn kill_9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Everything logged so far, one string.
    pub fn log_text(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
