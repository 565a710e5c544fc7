//! The data file a document names, for what an editor shows of its columns: their names (for
//! completion) and, on hover, what nnc infers of one (numeric or categorical, its categories, its
//! missing cells). The file is found from the resolved model when the document resolves, with
//! its reading options (delimiter, decimal comma, missing markers, forced categorical columns);
//! while the document is being typed and does not resolve, from the text of its `path:` setting,
//! read with the defaults. Nothing is shown when no such file exists.

use std::path::{Path, PathBuf};

use crate::data::{ColumnKind, DataOrigin, ReadOptions};
use crate::train::overrides::Overrides;

/// A data file and how the document says to read it.
pub struct DataFile {
    pub path: PathBuf,
    options: ReadOptions,
    /// The target column the document names, when it resolves.
    target: Option<String>,
}

/// The data file the document at `doc` (with `text`) names, when it exists.
pub fn data_file(doc: &Path, text: &str) -> Option<DataFile> {
    let folder = doc.parent().unwrap_or(Path::new(""));
    let found =
        match crate::train::session::load_model_text(doc, text.into(), &Overrides::default()) {
            Ok(spec) => {
                let (path, _) = spec.data.path.clone()?;
                DataFile {
                    path: folder.join(path),
                    options: crate::train::inputs::read_options(&spec),
                    target: spec.data.target.clone().map(|(t, _)| t),
                }
            }
            Err(_) => DataFile {
                path: folder.join(path_setting(text)?),
                options: ReadOptions::default(),
                target: None,
            },
        };
    found.path.is_file().then_some(found)
}

/// The string of the first `path: "..."` line, for a text that does not resolve.
fn path_setting(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim_start().strip_prefix("path")?.trim_start();
        let quoted = rest.strip_prefix(':')?.trim_start().strip_prefix('"')?;
        Some(quoted[..quoted.find('"')?].to_string())
    })
}

impl DataFile {
    /// The names of the file's columns, in file order (empty when its header cannot be read).
    pub fn column_names(&self) -> Vec<String> {
        crate::data::header_names(&self.path, &self.options).unwrap_or_default()
    }

    /// What nnc infers of the column `name`, in markdown; `None` when the file has no such column
    /// or cannot be read.
    pub fn describe(&self, name: &str) -> Option<String> {
        let origin = DataOrigin::default();
        let table = crate::data::load_table(&self.path, None, &self.options, &origin).ok()?;
        let index = table.column_index(name)?;
        let file = self.path.file_name().map_or_else(
            || table.name().to_string(),
            |f| f.to_string_lossy().into_owned(),
        );
        let head = format!("**column `{name}`** of `{file}` ({} rows)", table.rows);
        let role = match &self.target {
            Some(t) if t == name => "\n\nthe target of the model",
            _ => "",
        };
        let Some(column) = table.columns.iter().find(|c| c.index == index) else {
            return Some(format!("{head}{role}\n\nignored: not read as a feature"));
        };
        let kind = match column.kind {
            ColumnKind::Numeric => "numeric".to_string(),
            ColumnKind::Categorical => {
                let (names, _) = table.text_column(index);
                let shown: Vec<String> = names.iter().take(8).map(|n| format!("`{n}`")).collect();
                let more = if names.len() > shown.len() {
                    ", …"
                } else {
                    ""
                };
                format!(
                    "categorical: {} categories ({}{more})",
                    names.len(),
                    shown.join(", ")
                )
            }
        };
        Some(format!("{head}{role}\n\n{kind}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_setting_is_read_from_text_that_does_not_resolve() {
        let text = "model {\n  dense(\n}\ndata {\n  path: \"iris.csv\"\n  target: \n}\n";
        assert_eq!(path_setting(text).as_deref(), Some("iris.csv"));
        assert_eq!(path_setting("data {\n  path: iris\n}"), None);
    }
}
