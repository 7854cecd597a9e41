//! Manifest diagnostics: every problem carries the file, the offending span and a help line,
//! and all problems of one manifest are reported together.

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceSpan};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

/// One problem in a manifest.
#[derive(Debug, Clone)]
pub struct Problem {
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where, in the manifest's text.
    pub span: Option<Range<usize>>,
    /// The note under the span.
    pub label: String,
    /// What to do about it.
    pub help: Option<String>,
    /// Another place the problem involves (the first of two duplicates), and what it is
    /// there (`first defined`): labelled in the snippet, and named by line and column in the
    /// help.
    pub also: Option<Box<(Range<usize>, String)>>,
}

impl Problem {
    /// A problem at `span`.
    pub fn new(message: impl Into<String>, span: Option<Range<usize>>) -> Problem {
        Problem {
            message: message.into(),
            span,
            label: String::new(),
            help: None,
            also: None,
        }
    }
    /// With the note under the span.
    pub fn label(mut self, label: impl Into<String>) -> Problem {
        self.label = label.into();
        self
    }
    /// With a help line.
    pub fn help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }
    /// With another place it involves, and what that is (`first defined`).
    pub fn also(mut self, span: Range<usize>, what: impl Into<String>) -> Problem {
        self.also = Some(Box::new((span, what.into())));
        self
    }
}

/// A single problem, renderable by miette against its file.
#[derive(Debug, Clone)]
pub struct ManifestError {
    problem: Problem,
    source: Arc<NamedSource<String>>,
}

impl ManifestError {
    /// The 1-based line and column (in characters) of byte `offset` of the manifest.
    fn position(&self, offset: usize) -> Option<(usize, usize)> {
        let text = self.source.inner();
        if offset > text.len() || !text.is_char_boundary(offset) {
            return None;
        }
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        Some((line, before[line_start..].chars().count() + 1))
    }

    /// `LINE:COLUMN: message`, or the message alone.
    fn line(&self) -> String {
        match (self.problem.span.as_ref()).and_then(|span| self.position(span.start)) {
            Some((line, column)) => format!("{line}:{column}: {}", self.problem.message),
            None => self.problem.message.clone(),
        }
    }

    /// The help line, naming the other place by line and column.
    fn help_text(&self) -> Option<String> {
        let also = (self.problem.also.as_deref()).and_then(|(span, what)| {
            let (line, column) = self.position(span.start)?;
            Some(format!("{what} at line {line}, column {column}"))
        });
        match (&self.problem.help, also) {
            (Some(help), Some(also)) => Some(format!("{help} ({also})")),
            (Some(help), None) => Some(help.clone()),
            (None, also) => also,
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problem.message)
    }
}

impl std::error::Error for ManifestError {}

impl Diagnostic for ManifestError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("flavor::manifest"))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help_text()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(self.source.as_ref())
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.problem.span.clone()?;
        let label = (!self.problem.label.is_empty()).then(|| self.problem.label.clone());
        let main = LabeledSpan::new_primary_with_span(label, SourceSpan::from(span));
        let also = (self.problem.also.as_deref()).map(|(span, what)| {
            LabeledSpan::new_with_span(Some(format!("{what} here")), SourceSpan::from(span.clone()))
        });
        Some(Box::new(std::iter::once(main).chain(also)))
    }
}

/// Every problem found in one manifest.
#[derive(Debug, Clone)]
pub struct ManifestErrors {
    /// The manifest's path, as shown.
    pub file: String,
    /// One diagnostic per problem.
    pub errors: Vec<ManifestError>,
}

impl ManifestErrors {
    /// The `problems` of the manifest `file` whose text is `text`.
    pub fn new(file: &str, text: &str, problems: Vec<Problem>) -> ManifestErrors {
        let source = Arc::new(NamedSource::new(file, text.to_string()));
        ManifestErrors {
            file: file.to_string(),
            errors: problems
                .into_iter()
                .map(|problem| ManifestError {
                    problem,
                    source: Arc::clone(&source),
                })
                .collect(),
        }
    }

    /// One line per problem (for logs and JSON output): `LINE:COLUMN: message`, or the message
    /// alone for a problem with no place in the file.
    pub fn messages(&self) -> Vec<String> {
        self.errors.iter().map(ManifestError::line).collect()
    }

    /// Render every problem as miette does on a terminal without colours.
    pub fn render_plain(&self) -> String {
        let handler =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
                .with_width(100);
        let mut out = String::new();
        for e in &self.errors {
            let _ = handler.render_report(&mut out, e);
        }
        out
    }
}

impl fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.errors.len();
        write!(
            f,
            "{}: {n} problem{}",
            self.file,
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for ManifestErrors {}

impl Diagnostic for ManifestErrors {
    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.errors.iter().map(|e| e as &dyn Diagnostic)))
    }
}

/// The closest candidate to `word`, if it is close enough to suggest.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
