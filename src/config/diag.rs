//! A configuration problem located in the file the user wrote.
use std::fmt;
use std::path::{Path, PathBuf};

/// One error in a config or rules file: `file:line:column: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; `None` when the problem has no single place (e.g. a missing file).
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl Diagnostic {
    pub fn at(file: &Path, (line, column): (usize, usize), message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: Some(line),
            column: Some(column),
            message: message.into(),
        }
    }

    pub fn whole(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// Locates a byte offset of `text` (the file's content) as 1-based line and column.
    pub fn at_offset(file: &Path, text: &str, offset: usize, message: impl Into<String>) -> Self {
        Self::at(file, line_col(text, offset), message)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

/// All the problems found in one load; the load fails if there is any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let t = "ab\ncd\né f";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 4), (2, 2));
        // 'é' is two bytes: the 'f' after "é " is the third character.
        assert_eq!(line_col(t, t.len() - 1), (3, 3));
        assert_eq!(line_col(t, 999), (3, 4));
    }

    #[test]
    fn display_has_file_line_column() {
        let d = Diagnostic::at(Path::new("c.toml"), (3, 7), "bad");
        assert_eq!(d.to_string(), "c.toml:3:7: bad");
        assert_eq!(
            Diagnostic::whole(Path::new("x"), "gone").to_string(),
            "x: gone"
        );
    }
}
