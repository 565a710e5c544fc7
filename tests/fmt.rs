//! `nnc fmt`: on every example, documented snippet and model file of the repository, formatting
//! twice gives what formatting once does, the syntax tree (spans aside) and the comments do not
//! change, and the built IR does not either; the examples and snippets are already formatted. A
//! messy file gets an exact layout, comments put between almost any two tokens survive, mangled
//! files never panic, and the command's exit codes, messages and writes are as documented.

mod common;

use common::{nnc, scratch, splice};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use proptest::prelude::*;

use nnc::diag::Source;
use nnc::fmt::{format_text, without_spans};
use nnc::ir::print_function;
use nnc::program::Program;
use nnc::train::session::{build_file, build_text, Overrides};

fn fmt(name: &str, text: &str) -> String {
    format_text(name, text).unwrap_or_else(|d| panic!("{}", d.render_plain()))
}

/// The comments of a text, found without the formatter's help: from a `#` outside a string to the
/// end of its line (at `\n` or `\r`, as the grammar's `NEWLINE`), trailing white space dropped.
fn comment_texts(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.split(['\n', '\r']) {
        let mut in_string = false;
        for (i, c) in line.char_indices() {
            match c {
                '"' => in_string = !in_string,
                '#' if !in_string => {
                    out.push(line[i..].trim_end().to_string());
                    break;
                }
                _ => {}
            }
        }
    }
    out
}

fn tree(name: &str, text: &str) -> nnc::syntax::ast::File {
    let tree = nnc::syntax::parse(&Source::new(name, text))
        .unwrap_or_else(|d| panic!("{}", d.render_plain()));
    without_spans(&tree)
}

/// Format `text` and check what must hold of any text: formatting again changes nothing, and
/// the syntax tree (spans aside) and the comments are the same. Returns the formatted text.
fn assert_keeps_meaning(name: &str, text: &str) -> String {
    let once = fmt(name, text);
    assert_eq!(fmt(name, &once), once, "{name}: formatting is idempotent");
    assert_eq!(
        tree(name, &once),
        tree(name, text),
        "{name}: the syntax tree is unchanged"
    );
    assert_eq!(
        comment_texts(&once),
        comment_texts(text),
        "{name}: the comments are unchanged"
    );
    once
}

fn ir(p: &Program) -> [String; 3] {
    [&p.forward, &p.grad, &p.step].map(|f| print_function(f))
}

/// Every line re-indented by a different amount, trailing white space added and blank lines
/// doubled: white space that carries no meaning, which formatting must remove.
fn perturbed(text: &str) -> String {
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start();
        let indent = if i % 7 == 3 { "\t" } else { &"   "[..i % 4] };
        let trailing = if i % 3 == 0 { " \t " } else { "" };
        out.push_str(&format!("{indent}{line}{trailing}\n"));
        if line.is_empty() {
            out.push_str("  \n");
        }
    }
    out
}

/// A comment and a line break after every `,`, `:`, `=`, `(`, `[` and `{` and before every
/// `)`, `]` and `}` outside strings and comments: places where white space may stand, so the
/// meaning stays, and comments in every kind of place the layout has.
fn exploded(text: &str) -> String {
    let mut out = String::new();
    let (mut in_string, mut in_comment) = (false, false);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let (prev, next) = (
            i.checked_sub(1).map(|j| chars[j]),
            chars.get(i + 1).copied(),
        );
        let free = !in_string && !in_comment;
        if free && matches!(c, ')' | ']' | '}') {
            out.push_str(&format!("\n# before {i}\n"));
        }
        out.push(c);
        match c {
            '\n' => in_comment = false,
            '"' if !in_comment => in_string = !in_string,
            '#' if !in_string => in_comment = true,
            _ => {}
        }
        let operator =
            c == '=' && (matches!(prev, Some('=' | '<' | '>' | '!')) || next == Some('='));
        if free && matches!(c, ',' | ':' | '=' | '(' | '[' | '{') && !operator {
            out.push_str(&format!(" # after {i}\n"));
        }
    }
    out
}

fn examples() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("examples")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nn"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 9, "the examples are found");
    paths
}

/// The README and every page of `docs/`, each with its ```nn snippets; but not the catalog of
/// diagnostics, whose files are broken on purpose and shown with the line and column of each
/// error (`tests/diagnostics.rs` plays them).
fn snippets() -> Vec<(String, String)> {
    let mut docs: Vec<String> = std::fs::read_dir("docs")
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .filter(|p| !p.ends_with("diagnostics.md"))
        .map(|p| p.display().to_string())
        .collect();
    docs.sort();
    docs.insert(0, "README.md".into());
    let mut out = Vec::new();
    for doc in docs {
        for (i, text) in common::nn_blocks(&doc).into_iter().enumerate() {
            out.push((format!("{doc} example {}", i + 1), text));
        }
    }
    assert!(out.len() >= 36, "the snippets are found: {}", out.len());
    out
}

#[test]
fn the_examples_keep_their_meaning_and_their_ir() {
    for path in examples() {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(&path).unwrap();
        let formatted = assert_keeps_meaning(&name, &text);
        let before = ir(&build_file(&path, &Overrides::default(), &mut |_| {}).unwrap());
        let after = build_text(&path, formatted.clone()).unwrap();
        assert_eq!(ir(&after), before, "{name}: the IR is unchanged");
        // The same file with its white space disturbed comes back to the same layout.
        let messy = perturbed(&text);
        assert_ne!(messy, text);
        assert_eq!(assert_keeps_meaning(&name, &messy), formatted, "{name}");
    }
}

#[test]
fn the_examples_are_formatted() {
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(fmt("x.nn", &text), text, "{}", path.display());
    }
}

#[test]
fn the_documented_snippets_keep_their_meaning_and_their_ir_and_are_formatted() {
    for (name, text) in snippets() {
        let formatted = assert_keeps_meaning(&name, &text);
        assert_eq!(formatted, text, "{name} is formatted");
        let messy = perturbed(&text);
        assert_eq!(assert_keeps_meaning(&name, &messy), formatted, "{name}");
        let build = |text: &str| {
            let spec = nnc::program::parse_model(&Source::new(name.as_str(), text)).unwrap();
            spec.input
                .width
                .is_some()
                .then(|| ir(&nnc::program::build(&spec, None).unwrap()))
        };
        assert_eq!(build(&messy), build(&text), "{name}: the IR is unchanged");
    }
}

#[test]
fn the_test_models_and_the_prelude_keep_their_meaning() {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("tests/models")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    paths.push("src/lower/spec/prelude.nn".into());
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        assert_keeps_meaning(&path.display().to_string(), &text);
    }
}

/// The layout's rules at once: indentation, several entries on a line, comments in an argument
/// list and after a block's last entry, a def with a body, an application, negative numbers,
/// strings, lists split over lines or not, and runs of blank lines.
const MESSY: &str = "

# A messy file: every rule of the layout at once.   \n   \n\
def swish(x,beta:1.0)=x*sigmoid(beta*x)   # inline
def gated(x, units) { w = param(width(x), units)
      v=param(width(x),units)


  # the result
  (x@w)*sigmoid(x@v)  # gate
    }
data{path:\"data/iris.csv\" target:\"species\"
ignore: [id,
  \"full name\", # a name
]
    column \"yrs married\" { scaling: robust }
  column age {}
}



model {   # the model
x=input(4)   dense(16,activation:relu) h=dense(16)
  g = dense(16 , # units
        activation : swish(beta: 1.5),
        init: uniform(-0.1, 0.1)
     )
  b = dense(16,activation:tanh)(x)
  r = relu(h+g) - -1 * b ^ 2
  output(3, activation: softmax)
  # after the last entry

}
loss : cross_entropy     # the loss
optimizer: adam(  learning_rate: 1e-3,  )
train { epochs: 10 batch_size: 4 }   \n\
# the end


";

const MESSY_FORMATTED: &str = "# A messy file: every rule of the layout at once.

def swish(x, beta: 1.0) = x * sigmoid(beta * x)  # inline
def gated(x, units) {
  w = param(width(x), units)
  v = param(width(x), units)

  # the result
  (x @ w) * sigmoid(x @ v)  # gate
}
data {
  path: \"data/iris.csv\"
  target: \"species\"
  ignore: [
    id,
    \"full name\",  # a name
  ]
  column \"yrs married\" {
    scaling: robust
  }
  column age {}
}

model {  # the model
  x = input(4)
  dense(16, activation: relu)
  h = dense(16)
  g = dense(
    16,  # units
    activation: swish(beta: 1.5),
    init: uniform(-0.1, 0.1),
  )
  b = dense(16, activation: tanh)(x)
  r = relu(h + g) - -1 * b ^ 2
  output(3, activation: softmax)
  # after the last entry
}
loss: cross_entropy  # the loss
optimizer: adam(learning_rate: 1e-3)
train {
  epochs: 10
  batch_size: 4
}
# the end
";

#[test]
fn a_messy_file_gets_the_canonical_layout() {
    assert_eq!(assert_keeps_meaning("messy.nn", MESSY), MESSY_FORMATTED);
    let build = |text: &str| {
        let spec = nnc::program::parse_model(&Source::new("messy.nn", text)).unwrap();
        ir(&nnc::program::build(&spec, None).unwrap())
    };
    assert_eq!(build(MESSY_FORMATTED), build(MESSY));
}

#[test]
fn comments_between_almost_any_two_tokens_are_kept() {
    let mut texts: Vec<(String, String)> = examples()
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect();
    texts.extend(snippets());
    texts.push(("messy.nn".into(), MESSY.into()));
    texts.push((
        "math.nn".into(),
        std::fs::read_to_string("tests/models/math.nn").unwrap(),
    ));
    for (name, text) in texts {
        let exploded = exploded(&text);
        assert!(comment_texts(&exploded).len() > comment_texts(&text).len());
        assert_eq!(tree(&name, &exploded), tree(&name, &text), "{name}");
        assert_keeps_meaning(&name, &exploded);
    }
}

#[test]
fn a_syntax_error_is_the_diagnostic_check_gives() {
    let text = "model {\n  dense(16,, activation: relu)\n}\n";
    let d = format_text("broken.nn", text).unwrap_err();
    let checked = nnc::train::session::check_text(Path::new("broken.nn"), text.to_string());
    assert_eq!(d.code, "nnc::syntax");
    assert_eq!(d.render_plain(), checked[0].render_plain());
    assert_eq!(d.location().as_deref(), Some("broken.nn:2:12"));
}

/// Whatever the text, formatting either fails with a syntax diagnostic (never the formatter's
/// internal error) or gives a text that formats to itself.
fn never_panics(text: &str) {
    match format_text("fuzz.nn", text) {
        Ok(once) => {
            assert_eq!(fmt("fuzz.nn", &once), once);
            assert_eq!(comment_texts(&once), comment_texts(text));
        }
        Err(d) => {
            assert!(d.code.starts_with("nnc::syntax"), "{}", d.render_plain());
            assert!(d.help.is_some());
            let _ = d.render_plain();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        never_panics(&text);
    }

    #[test]
    fn a_messy_file_with_spans_replaced_never_panics(
        edits in prop::collection::vec(
            (0usize..MESSY.len(), 0usize..12, "[a-z0-9_:(){}\\[\\],.=@*^+\"# \\n\\r\\t-]{0,8}"),
            1..4,
        ),
    ) {
        let mut text = MESSY.to_string();
        for (start, len, insert) in edits {
            text = splice(&text, start, len, &insert);
        }
        never_panics(&text);
    }
}

// The command.

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn check_lists_the_files_to_format_and_writes_nothing() {
    let dir = scratch("check");
    let (good, messy) = (dir.join("good.nn"), dir.join("messy.nn"));
    std::fs::write(&good, MESSY_FORMATTED).unwrap();
    std::fs::write(&messy, MESSY).unwrap();
    let out = nnc(&["fmt", "--check", good.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());

    let out = nnc(&[
        "fmt",
        "--check",
        good.to_str().unwrap(),
        messy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let printed = text(&out.stdout);
    assert!(!printed.contains("good.nn"), "{printed}");
    assert!(
        printed.contains("messy.nn is not formatted; first difference at line 1:\n- \n+ # A messy"),
        "{printed}"
    );
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), MESSY);
    assert_eq!(files_in(&dir), ["good.nn", "messy.nn"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fmt_rewrites_a_file_in_place() {
    let dir = scratch("write");
    let messy = dir.join("messy.nn");
    std::fs::write(&messy, MESSY).unwrap();
    let out = nnc(&["fmt", messy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), MESSY_FORMATTED);
    // No temporary file is left beside it, and the result passes `--check`.
    assert_eq!(files_in(&dir), ["messy.nn"]);
    let out = nnc(&["fmt", "--check", messy.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_or_missing_file_is_a_diagnostic_and_the_others_are_still_formatted() {
    let dir = scratch("errors");
    let (broken, latin1, messy) = (
        dir.join("broken.nn"),
        dir.join("latin1.nn"),
        dir.join("messy.nn"),
    );
    let broken_text = "model {\n  dense(16,, activation: relu)\n}\n";
    std::fs::write(&broken, broken_text).unwrap();
    std::fs::write(&latin1, b"loss: mse # caf\xe9\n").unwrap();
    std::fs::write(&messy, MESSY).unwrap();
    let missing = dir.join("missing.nn");
    let out = nnc(&[
        "fmt",
        broken.to_str().unwrap(),
        missing.to_str().unwrap(),
        latin1.to_str().unwrap(),
        messy.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains("nnc::syntax"), "{err}");
    assert!(err.contains("broken.nn:2:12"), "{err}");
    assert!(err.contains("nnc::io::model_file"), "{err}");
    assert!(err.contains("missing.nn"), "{err}");
    assert!(err.contains("nnc::fmt::not_utf8"), "{err}");
    assert!(err.contains("latin1.nn:1:16"), "{err}");
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), broken_text);
    assert_eq!(std::fs::read_to_string(&messy).unwrap(), MESSY_FORMATTED);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fmt_dash_formats_standard_input_to_standard_output() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nnc"))
        .args(["fmt", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(MESSY.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), MESSY_FORMATTED);
}

#[test]
fn the_examples_pass_check() {
    let paths: Vec<String> = examples().iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["fmt", "--check"];
    args.extend(paths.iter().map(String::as_str));
    let out = nnc(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}
