//! Running a command while its output is read line by line, as it is printed: stdout and
//! stderr are read by one thread each and handed over in the order they arrive, so a slow
//! step's progress is visible while it runs.

use std::io::{self, BufRead, BufReader, Read};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;

/// Longest line handed over whole; a longer one is cut into pieces of this size.
const MAX_LINE: usize = 64 * 1024;

/// Runs `cmd` (stdin empty), calling `line` for every line of its stdout and stderr (without
/// the line ending, invalid UTF-8 replaced) as it comes; returns how it ended.
///
/// # Errors
/// The command cannot be started or waited for.
pub(crate) fn run_streaming(
    mut cmd: Command,
    line: &mut dyn FnMut(&str),
) -> io::Result<ExitStatus> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let (send, receive) = mpsc::channel::<Vec<u8>>();
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|pipe| {
        let send = send.clone();
        std::thread::spawn(move || read_lines(pipe, &send))
    })
    .collect();
    drop(send);
    // Ends when both pipes are closed (the command and anything it left running are done
    // writing).
    for bytes in receive {
        line(String::from_utf8_lossy(&bytes).trim_end_matches(['\n', '\r']));
    }
    for reader in readers {
        let _ = reader.join();
    }
    child.wait()
}

fn read_lines(pipe: Box<dyn Read + Send>, send: &mpsc::Sender<Vec<u8>>) {
    let mut reader = BufReader::new(pipe);
    loop {
        let mut buf = Vec::new();
        match (&mut reader)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if send.send(buf).is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_streams_arrive_line_by_line() {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("echo one; echo two >&2; printf 'no newline'");
        let mut lines = Vec::new();
        let status = run_streaming(cmd, &mut |l| lines.push(l.to_string())).unwrap();
        assert!(status.success());
        lines.sort();
        assert_eq!(lines, ["no newline", "one", "two"]);
    }
}
