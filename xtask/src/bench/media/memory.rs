//! The process's resident memory, from Linux's `/proc/self/status`.

use anyhow::{Context, Result, anyhow};

/// The memory figures of `/proc/self/status` the benchmark uses, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resident {
    /// `VmRSS`: the resident set size now.
    pub current_kib: u64,
    /// `VmHWM`: the peak resident set size (the "high water mark").
    pub peak_kib: u64,
}

/// Reads the current and peak resident set sizes of this process.
pub fn read() -> Result<Resident> {
    let status = std::fs::read_to_string("/proc/self/status").context("could not read /proc/self/status")?;
    parse_status(&status).context("unexpected /proc/self/status")
}

/// Resets the peak resident set size to the current one (Linux 4.0 and later), so that the
/// next [`read`] reports the peak of what runs from now on. Returns whether it worked.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Extracts `VmRSS` and `VmHWM` from the text of `/proc/<pid>/status`.
pub fn parse_status(status: &str) -> Result<Resident> {
    Ok(Resident { current_kib: field_kib(status, "VmRSS")?, peak_kib: field_kib(status, "VmHWM")? })
}

/// Returns the value of a `Name:   1234 kB` line, in KiB.
fn field_kib(status: &str, name: &str) -> Result<u64> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
        .ok_or_else(|| anyhow!("no `{name}:` line"))?;
    let mut words = line.split_whitespace();
    let value = words.next().ok_or_else(|| anyhow!("`{name}:` has no value"))?;
    let unit = words.next().unwrap_or_default();
    if unit != "kB" {
        return Err(anyhow!("`{name}:` is in `{unit}`, expected `kB`"));
    }
    value.parse().with_context(|| format!("`{name}:` value `{value}` is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "Name:\txtask\nVmPeak:\t  412000 kB\nVmSize:\t  400000 kB\nVmHWM:\t   98304 kB\n\
                          VmRSS:\t   51200 kB\nRssAnon:\t   40000 kB\nThreads:\t3\n";

    #[test]
    fn peak_and_current_are_read_in_kib() {
        assert_eq!(parse_status(SAMPLE).unwrap(), Resident { current_kib: 51_200, peak_kib: 98_304 });
    }

    #[test]
    fn similar_names_are_not_confused() {
        // `VmHWM` must not match a longer name that starts the same, nor `VmPeak`.
        let status = "VmHWMX:\t1 kB\nVmHWM:\t2 kB\nVmRSS:\t3 kB\n";
        assert_eq!(parse_status(status).unwrap(), Resident { current_kib: 3, peak_kib: 2 });
    }

    #[test]
    fn missing_or_malformed_fields_are_errors() {
        assert!(parse_status("VmRSS:\t3 kB\n").is_err());
        assert!(parse_status("VmHWM:\tlots kB\nVmRSS:\t3 kB\n").is_err());
        assert!(parse_status("VmHWM:\t2 MB\nVmRSS:\t3 kB\n").is_err());
        assert!(parse_status("VmHWM:\nVmRSS:\t3 kB\n").is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_has_a_peak_at_least_its_current_size() {
        let resident = read().unwrap();
        assert!(resident.current_kib > 0);
        assert!(resident.peak_kib >= resident.current_kib);
    }
}
