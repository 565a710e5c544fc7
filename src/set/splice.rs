//! Splicing `--set` values into a file's text, and remembering where each spliced piece came from
//! in its flag so that a diagnostic about it can be shown in the flag's text instead of the file's.

use std::ops::Range;

use crate::diag::{Diagnostic, Source, Span};

use super::SetFlag;

/// One replacement: `range` of the current text becomes `text`. `pieces` are the parts of `text`
/// copied from the flag (a key segment, the value), as (range in `text`, offset in the flag).
#[derive(Clone, Debug, PartialEq)]
pub struct Edit {
    pub range: Range<usize>,
    pub text: String,
    pub pieces: Vec<(Range<usize>, usize)>,
}

/// A piece of the edited text that came from a flag.
#[derive(Clone, Debug)]
struct Region {
    range: Range<usize>,
    flag: Source,
    flag_start: usize,
}

/// The file's text after the flags' edits.
#[derive(Clone, Debug)]
pub struct Edited {
    pub source: Source,
    regions: Vec<Region>,
}

impl Edited {
    pub fn new(source: Source) -> Self {
        Edited {
            source,
            regions: Vec::new(),
        }
    }

    /// Whether any flag changed the text.
    pub fn changed(&self) -> bool {
        !self.regions.is_empty()
    }

    pub(super) fn apply(&mut self, edit: Edit, flag: &SetFlag) {
        let old = &self.source.text;
        let r = edit.range.clone();
        let text = format!("{}{}{}", &old[..r.start], edit.text, &old[r.end..]);
        let grown = edit.text.len() as isize - r.len() as isize;
        // Earlier pieces after the edit move with the text; a piece the edit replaced is gone.
        self.regions
            .retain(|g| g.range.end <= r.start || g.range.start >= r.end);
        for g in &mut self.regions {
            if g.range.start >= r.end {
                let shift = |x: usize| (x as isize + grown) as usize;
                g.range = shift(g.range.start)..shift(g.range.end);
            }
        }
        self.regions
            .extend(edit.pieces.iter().map(|(range, flag_start)| Region {
                range: r.start + range.start..r.start + range.end,
                flag: flag.source.clone(),
                flag_start: *flag_start,
            }));
        self.source = Source::new(self.source.name.clone(), text);
    }

    /// A diagnostic whose labels all lie in text one flag put there, shown in that flag's text;
    /// any other diagnostic unchanged (it points at the edited file, which shows the new value in
    /// its place).
    pub fn remap(&self, mut d: Diagnostic) -> Diagnostic {
        d.related = d.related.into_iter().map(|r| self.remap(r)).collect();
        let ours = d
            .source
            .as_ref()
            .is_some_and(|s| s.text == self.source.text);
        if !ours || d.labels.is_empty() {
            return d;
        }
        let found: Option<Vec<&Region>> = (d.labels.iter())
            .map(|l| {
                self.regions
                    .iter()
                    .find(|g| g.range.start <= l.span.start && l.span.end <= g.range.end)
            })
            .collect();
        let Some(found) = found else { return d };
        let flag = &found[0].flag;
        if found.iter().any(|g| g.flag.text != flag.text) {
            return d;
        }
        for (label, g) in d.labels.iter_mut().zip(&found) {
            let at = |x: usize| x - g.range.start + g.flag_start;
            label.span = Span::new(at(label.span.start), at(label.span.end));
        }
        d.source = Some(flag.clone());
        d
    }
}

/// A diagnostic about a piece of `source` that was parsed alone: its spans moved by `offset`.
pub(super) fn shift(mut d: Diagnostic, source: &Source, offset: usize) -> Diagnostic {
    for l in &mut d.labels {
        l.span = Span::new(l.span.start + offset, l.span.end + offset);
    }
    d.source = Some(source.clone());
    d
}
