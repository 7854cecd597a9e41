//! Colour on standard error, decided once for every message: `--color auto|always|never`,
//! and under `auto` the conventions cargo follows (`NO_COLOR` turns colour off,
//! `CLICOLOR_FORCE` on, otherwise only on a terminal). Manifest diagnostics (miette) and
//! build errors get the same decision.

use anstream::ColorChoice;
use anstyle::{AnsiColor, Style};

/// The `--color` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    /// Colour on a terminal, unless `NO_COLOR` is set (`CLICOLOR_FORCE` forces it).
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Applies `color` to every later message, miette's diagnostics included.
pub fn init(color: Color) {
    let choice = match color {
        Color::Auto => ColorChoice::Auto,
        Color::Always => ColorChoice::Always,
        Color::Never => ColorChoice::Never,
    };
    choice.write_global();
    let on = enabled();
    // Only the first hook counts; `init` runs once, before anything is reported.
    let _ = miette::set_hook(Box::new(move |_| {
        Box::new(miette::MietteHandlerOpts::new().color(on).build())
    }));
}

/// Whether messages on standard error are coloured.
pub fn enabled() -> bool {
    !matches!(
        anstream::AutoStream::choice(&std::io::stderr()),
        ColorChoice::Never
    )
}

const ERROR: Style = AnsiColor::Red.on_default().bold();
const WARNING: Style = AnsiColor::Yellow.on_default().bold();
const NOTE: Style = AnsiColor::Cyan.on_default().bold();

fn label(text: &str, style: Style) -> String {
    if enabled() {
        format!("{style}{text}{style:#}")
    } else {
        text.to_string()
    }
}

/// `error: <message>`, coloured when messages are.
pub fn error_line(message: &str) -> String {
    format!("{} {message}", label("error:", ERROR))
}

/// `warning: <message>`, coloured when messages are.
pub fn warning_line(message: &str) -> String {
    format!("{} {message}", label("warning:", WARNING))
}

/// `note: <message>`, coloured when messages are.
pub fn note_line(message: &str) -> String {
    format!("{} {message}", label("note:", NOTE))
}

/// Prints `error: <message>` on standard error.
pub fn error(message: &str) {
    eprintln!("{}", error_line(message));
}

/// Prints `warning: <message>` on standard error.
pub fn warning(message: &str) {
    eprintln!("{}", warning_line(message));
}

/// Prints `note: <message>` on standard error.
pub fn note(message: &str) {
    eprintln!("{}", note_line(message));
}
