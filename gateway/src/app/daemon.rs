//! `--daemon`: the fork into the background, done first (before start-up builds a runtime or a
//! thread), with the parent waiting on a pipe until the daemon is ready.
//!
//! Pingora's own `--daemon` forks inside `Server::run`, after start-up, and its parent waits
//! for the daemon's SIGUSR1 through a tokio signal listener installed only after the fork. Both
//! halves of that lose under load: a SIGUSR1 sent before the listener exists kills the parent
//! (SIGUSR1's default action), and the parent's wake-up goes through tokio's signal self-pipe,
//! a process-wide socket pair made by the first runtime (start-up's) and so shared with the
//! daemon, whose runtimes may read the byte first: the parent then sleeps out its 600 s
//! timeout. A pipe has neither race, and its end of file says the daemon died.

use daemonix::{Daemonize, Outcome, Stdio};
use std::io::{PipeWriter, Read, Write};
use std::process::exit;

/// The daemon's end of the pipe its parent waits on: [`Ready::done`] lets the parent exit 0;
/// dropped unsent (start-up failed, a panic) the parent exits 1.
pub struct Ready(PipeWriter);

impl Ready {
    /// Everything that can fail at start-up has been done; the listeners follow.
    pub fn done(mut self) {
        // A parent already gone (killed) has nobody left to tell.
        let _ = self.0.write_all(b"r");
    }
}

/// Fork into the background in a new session and write `pid_file`; returns only in the
/// daemon, which keeps stdout, stderr and the working directory. The calling process exits
/// once the daemon is [`Ready::done`] (0) or has ended without it (1).
pub fn detach(pid_file: &str) -> Ready {
    let (mut waiting, ready) = std::io::pipe().unwrap_or_else(|e| cannot(&e));
    // A running daemon holds a lock on its PID file: a new one writes a new file.
    let _ = std::fs::rename(pid_file, format!("{pid_file}.old"));
    let fork = Daemonize::new()
        .pid_file(pid_file)
        .working_directory(".")
        .umask(0o007)
        .stdout(Stdio::keep())
        .stderr(Stdio::keep())
        .execute();
    match fork {
        Outcome::Child(Ok(_)) => return Ready(ready),
        Outcome::Child(Err(e)) | Outcome::Parent(Err(e)) => cannot(&e),
        Outcome::Parent(Ok(_)) => drop(ready),
    }
    if waiting.read_exact(&mut [0]).is_err() {
        eprintln!("tollgate: the daemon exited before it was ready");
        exit(1);
    }
    exit(0)
}

fn cannot(e: &dyn std::fmt::Display) -> ! {
    eprintln!("tollgate: cannot start in the background: {e}");
    exit(1)
}
