//! The output side of the formatter: lines of code with their indentation, and the comments placed
//! among them. The layout (`layout`) writes tokens in source order and says where a line must
//! break; the printer puts every comment of the source between the same tokens it stood between
//! (a comment is only ever moved past a `,`, `:`, `=` or `{`), keeps a comment that shared a line
//! with code on that line and one that stood alone on its own line, and keeps at most one blank
//! line where the source had any between entries.
//!
//! A comment ends its line, so one in the middle of a construct that is otherwise written on one
//! line breaks it there; the rest continues on the next line, indented one level further.

use super::comments::Comment;

/// Spaces per indentation level.
const INDENT: &str = "  ";

#[derive(Debug)]
struct Line {
    indent: usize,
    code: String,
    /// A comment at the end of the line, or alone on it when `code` is empty.
    comment: Option<String>,
}

impl Line {
    fn blank() -> Line {
        Line {
            indent: 0,
            code: String::new(),
            comment: None,
        }
    }

    /// Whether the line opens a block or a list: no blank line may follow it.
    fn opens(&self) -> bool {
        self.code.ends_with(['{', '(', '['])
    }

    fn width(&self) -> usize {
        self.indent * INDENT.len() + self.code.chars().count()
    }
}

pub(super) struct Printer<'s> {
    src: &'s str,
    comments: Vec<Comment>,
    /// The first comment not yet placed.
    next_comment: usize,
    /// The source offset just past the last token or comment placed.
    last_end: usize,
    lines: Vec<Line>,
    /// The line being written, if one is started.
    open: Option<Line>,
    /// The indentation level of the lines the layout starts.
    pub indent: usize,
    /// The next token starts a line the layout asked for (rather than one a comment forced).
    at_break: bool,
    /// The source had a blank line before the next line.
    blank: bool,
}

impl<'s> Printer<'s> {
    pub fn new(src: &'s str, comments: Vec<Comment>) -> Self {
        Printer {
            src,
            comments,
            next_comment: 0,
            last_end: 0,
            lines: Vec::new(),
            open: None,
            indent: 0,
            at_break: true,
            blank: false,
        }
    }

    pub fn src(&self) -> &'s str {
        self.src
    }

    /// Whether a comment starts in `start..end`.
    pub fn has_comment_in(&self, start: usize, end: usize) -> bool {
        let first = self.comments.partition_point(|c| c.start < start);
        self.comments.get(first).is_some_and(|c| c.start < end)
    }

    /// The offset and character of the first thing at or after `from` that is neither white space
    /// nor a comment.
    pub fn next_significant(&self, from: usize) -> Option<(usize, char)> {
        let mut i = from;
        while let Some(c) = self.src.get(i..).and_then(|s| s.chars().next()) {
            if let Ok(k) = self.comments.binary_search_by_key(&i, |k| k.start) {
                i = self.comments[k].end;
            } else if c.is_whitespace() {
                i += c.len_utf8();
            } else {
                return Some((i, c));
            }
        }
        None
    }

    /// The indentation of the line being written (or of the next one).
    pub fn line_indent(&self) -> usize {
        match &self.open {
            Some(line) => line.indent,
            None => self.next_indent(),
        }
    }

    fn next_indent(&self) -> usize {
        if self.at_break {
            self.indent
        } else {
            self.indent + 1
        }
    }

    /// A token of the source at `start..end`, after the comments before it; `space` separates it
    /// from what the line already holds.
    pub fn token(&mut self, text: &str, start: usize, end: usize, space: bool) {
        let indent = self.next_indent();
        self.place_comments(start, indent, false);
        self.put(text, space);
        self.last_end = end;
    }

    /// Punctuation the layout writes without looking at where the source has it (`,`, `:`, `=`,
    /// `{`): the comments around it follow it.
    pub fn punct(&mut self, text: &str, space: bool) {
        self.put(text, space);
    }

    fn put(&mut self, text: &str, space: bool) {
        match &mut self.open {
            Some(line) => {
                if space {
                    line.code.push(' ');
                }
                line.code.push_str(text);
            }
            None => {
                let indent = self.next_indent();
                self.start_line(Line {
                    indent,
                    code: text.to_string(),
                    comment: None,
                });
            }
        }
        self.at_break = false;
    }

    /// Start `line`, after a blank line if the source had one here and the line before does not
    /// open a block or a list.
    fn start_line(&mut self, line: Line) {
        self.end_line();
        if std::mem::take(&mut self.blank) && self.lines.last().is_some_and(|l| !l.opens()) {
            self.lines.push(Line::blank());
        }
        self.open = Some(line);
    }

    fn end_line(&mut self) {
        if let Some(line) = self.open.take() {
            self.lines.push(line);
        }
    }

    /// Place the comments that start before `before`: one on the line of the token before it stays
    /// at the end of that line, any other goes on a line of its own at `indent`. With
    /// `keep_blanks`, a blank line before a comment alone on its line is kept.
    fn place_comments(&mut self, before: usize, indent: usize, keep_blanks: bool) {
        while let Some(&c) = self.comments.get(self.next_comment) {
            if c.start >= before {
                break;
            }
            self.next_comment += 1;
            let gap = &self.src[self.last_end.min(c.start)..c.start];
            let text = c.text(self.src).to_string();
            match &mut self.open {
                Some(line) if line_breaks(gap) == 0 && line.comment.is_none() => {
                    line.comment = Some(text);
                    self.end_line();
                }
                _ => {
                    if keep_blanks && line_breaks(gap) >= 2 {
                        self.blank = true;
                    }
                    self.start_line(Line {
                        indent,
                        code: String::new(),
                        comment: Some(text),
                    });
                    self.end_line();
                }
            }
            self.last_end = c.end;
        }
    }

    /// Before an entry of a block, of a def's body or of the file, which starts at `start`:
    /// the comments before it, then a new line (after one blank line if the source had any).
    pub fn entry_break(&mut self, start: usize) {
        self.place_comments(start, self.indent, true);
        self.end_line();
        if line_breaks(&self.src[self.last_end.min(start)..start]) >= 2 {
            self.blank = true;
        }
        self.at_break = true;
    }

    /// Before an item of a list written one item per line.
    pub fn item_break(&mut self, start: usize) {
        self.place_comments(start, self.indent, false);
        self.end_line();
        self.at_break = true;
    }

    /// Before the `}` or `)` at `close` that ends a block or a list written over several lines:
    /// the comments inside it at the indentation of its entries (still `self.indent`), then a new
    /// line with no blank line before it.
    pub fn close_break(&mut self, close: usize, keep_blanks: bool) {
        self.place_comments(close, self.indent, keep_blanks);
        self.end_line();
        self.blank = false;
        self.at_break = true;
    }

    /// The text: the comments after the last item, trailing comments of neighbouring lines
    /// aligned, one line break at the end.
    pub fn finish(mut self) -> String {
        self.indent = 0;
        self.entry_break(self.src.len());
        self.end_line();
        render(&self.lines)
    }
}

/// How many line breaks `text` holds (`\r\n` counts once).
fn line_breaks(text: &str) -> usize {
    text.matches('\n').count() + text.matches('\r').count() - text.matches("\r\n").count()
}

/// The lines as text. The comments at the ends of consecutive lines start in one column, two
/// spaces after the longest of those lines' code.
fn render(lines: &[Line]) -> String {
    let trailing = |l: &Line| !l.code.is_empty() && l.comment.is_some();
    let mut column = vec![0; lines.len()];
    let mut i = 0;
    while i < lines.len() {
        let run = lines[i..].iter().take_while(|l| trailing(l)).count();
        let width = lines[i..i + run].iter().map(Line::width).max().unwrap_or(0);
        column[i..i + run].fill(width + 2);
        i += run.max(1);
    }
    let mut out = String::new();
    for (line, column) in lines.iter().zip(column) {
        if line.code.is_empty() && line.comment.is_none() {
            out.push('\n');
            continue;
        }
        out.push_str(&INDENT.repeat(line.indent));
        out.push_str(&line.code);
        if let Some(comment) = &line.comment {
            if !line.code.is_empty() {
                out.push_str(&" ".repeat(column - line.width()));
            }
            out.push_str(comment);
        }
        out.push('\n');
    }
    out
}
