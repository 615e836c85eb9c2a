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
            set_template(&bar, "{spinner} [{elapsed}] {msg}");
            bar.enable_steady_tick(Duration::from_millis(120));
            bar.set_message(what.to_string());
            bar
        });
        if bar.is_none() {
            eprintln!("{what}");
        }
        Self {
            bar,
            // Off a terminal the first step repeats nothing already printed.
            last: Mutex::new(what.to_string()),
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

    /// The final line, kept on screen: on a terminal the spinner becomes a check mark.
    pub fn finish(&self, message: &str) {
        match &self.bar {
            Some(bar) => {
                set_template(bar, "✓ [{elapsed}] {msg}");
                bar.finish_with_message(message.to_string());
            }
            None => eprintln!("{message}"),
        }
    }

    /// Stop drawing, the last step kept on screen with a cross; the caller reports what
    /// went wrong.
    pub fn abandon(&self) {
        if let Some(bar) = &self.bar {
            set_template(bar, "✗ [{elapsed}] {msg}");
            bar.abandon();
        }
    }
}

fn set_template(bar: &ProgressBar, template: &str) {
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
}
