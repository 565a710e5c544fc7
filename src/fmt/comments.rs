//! Where the comments of a `.nn` text are. The grammar skips comments silently, so the parse tree
//! does not have them; they are found here by one scan, which is exact for a text that parses:
//! outside a string, `#` starts a comment that runs to the end of the line, and a string (which
//! cannot hold `"` or a line break) cannot hold a comment.

/// A comment's byte range: from its `#` to the end of its line (the line break excluded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Comment {
    pub start: usize,
    pub end: usize,
}

impl Comment {
    /// The comment as the formatter writes it: without trailing white space.
    pub fn text<'s>(&self, src: &'s str) -> &'s str {
        src[self.start..self.end].trim_end()
    }
}

/// Every comment of `src`, in order.
pub fn scan(src: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => {
                // A string ends at its closing quote; in a text that parses, before the line ends.
                for (_, c) in chars.by_ref() {
                    if matches!(c, '"' | '\n' | '\r') {
                        break;
                    }
                }
            }
            '#' => {
                let mut end = src.len();
                while let Some(&(j, c)) = chars.peek() {
                    if c == '\n' || c == '\r' {
                        end = j;
                        break;
                    }
                    chars.next();
                }
                out.push(Comment { start: i, end });
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_outside_strings_to_the_end_of_the_line() {
        let src = "a: \"x # not a comment\" # one  \r\n# two \"quoted\"\nb: 1#three";
        let texts: Vec<&str> = scan(src).iter().map(|c| c.text(src)).collect();
        assert_eq!(texts, ["# one", "# two \"quoted\"", "#three"]);
    }
}
