//! Progress while waiting: a spinner with the current step on a terminal, plain lines
//! (one per new step) otherwise. indicatif draws only on a TTY.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    last: Mutex<String>,
}

impl Progress {
    pub fn start(what: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed}] {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(what.to_string());
            bar
        });
        if bar.is_none() {
            eprintln!("{what}");
        }
        Self {
            bar,
            last: Mutex::new(String::new()),
        }
    }

    /// The current step; off a terminal printed only when it changes.
    pub fn step(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.set_message(message.to_string()),
            None => {
                if let Ok(mut last) = self.last.lock()
                    && *last != message
                {
                    eprintln!("  {message}");
                    *last = message.to_string();
                }
            }
        }
    }

    /// The final line, kept on screen.
    pub fn finish(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.finish_with_message(message.to_string()),
            None => eprintln!("{message}"),
        }
    }

    /// Stop drawing; the caller reports what went wrong.
    pub fn abandon(&self) {
        if let Some(bar) = &self.bar {
            bar.abandon();
        }
    }
}
