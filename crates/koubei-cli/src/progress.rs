//! Progress bars on stderr. indicatif hides them when stderr is not a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use koubei_app::{Progress, Task};

/// A bar per task.
pub struct Bars;

impl Progress for Bars {
    fn task(&self, label: &str) -> Box<dyn Task> {
        Box::new(Bar::new(label))
    }
}

pub struct Bar {
    bar: ProgressBar,
    label: String,
}

impl Bar {
    pub fn new(label: &str) -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        Bar {
            bar,
            label: label.to_string(),
        }
    }
}

impl Task for Bar {
    fn counting(&self, total: u64, unit: &str) {
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_style(
            ProgressStyle::with_template(&format!(
                "{{msg:>24}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit} ({{eta}})"
            ))
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
    }

    fn message(&self, msg: &str) {
        self.bar.set_message(format!("{} {msg}", self.label));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn stage(&self, name: &str, total: Option<u64>) {
        match total {
            Some(t) if name == "reading" => {
                self.bar.set_length(t);
                self.bar.set_position(0);
                self.bar.set_style(
                    ProgressStyle::with_template(
                        "{msg:>24} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({eta})",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
            }
            Some(t) => self.counting(t, "rows"),
            None => {
                self.bar.set_style(
                    ProgressStyle::with_template("{msg:>24} {spinner} {elapsed}")
                        .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                self.bar
                    .enable_steady_tick(std::time::Duration::from_millis(120));
            }
        }
        self.message(name);
    }

    fn position(&self, pos: u64) {
        self.bar.set_position(pos);
    }
}
