//! Reading stdin one message per line, as every text command does when its TEXT argument is absent.

use anyhow::{Context, Result};
use std::io::{BufRead, Write};

/// Calls `each` with every stdin line (without its line ending), writing into `out`. A line that is not
/// UTF-8 is reported on stderr with its number and skipped, so one bad line does not lose the rest;
/// returns whether any line was skipped.
pub fn for_each_stdin_line(
    out: &mut impl Write,
    mut each: impl FnMut(&str, &mut dyn Write) -> Result<()>,
) -> Result<bool> {
    let mut skipped = false;
    let mut input = std::io::stdin().lock();
    let mut line = Vec::new();
    for number in 1.. {
        line.clear();
        if input
            .read_until(b'\n', &mut line)
            .context("reading stdin")?
            == 0
        {
            break;
        }
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        match std::str::from_utf8(&line) {
            Ok(text) => each(text, out)?,
            Err(err) => {
                out.flush()?;
                eprintln!(
                    "rapport: stdin line {number}: invalid UTF-8 at byte {}; line skipped",
                    err.valid_up_to()
                );
                skipped = true;
            }
        }
    }
    out.flush()?;
    Ok(skipped)
}
