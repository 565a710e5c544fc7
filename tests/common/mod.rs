//! Helpers shared by test files (each test file that uses them says `mod common;`).

/// The text of every ```` ```nn ```` block of a Markdown file, in order.
pub fn nn_blocks(doc: &str) -> Vec<String> {
    let text = std::fs::read_to_string(doc).unwrap();
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```nn") => current = Some(String::new()),
            (Some(block), "```") => {
                out.push(std::mem::take(block));
                current = None;
            }
            (Some(block), l) => {
                block.push_str(l);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    assert!(current.is_none(), "{doc}: an ```nn block is not closed");
    out
}
