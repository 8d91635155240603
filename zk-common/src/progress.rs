//! A spinner while a tool waits, only when a person is watching stderr.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Shows "what we wait for, and for how long" on a terminal; nothing at all
/// when stderr is a pipe, a file or the journal. Cleared on drop.
pub struct Waiting {
    bar: Option<ProgressBar>,
}

impl Waiting {
    pub fn start(message: impl Into<String>, quiet: bool) -> Self {
        if quiet || !std::io::stderr().is_terminal() {
            return Waiting { bar: None };
        }
        let bar = ProgressBar::new_spinner();
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(120));
        Waiting { bar: Some(bar) }
    }

    pub fn set_message(&self, message: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.into());
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
