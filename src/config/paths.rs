//! Resolves the relative paths of a parsed config against a folder (the config file's, or the
//! working directory), before the config is typed.

use std::path::{Component, Path, PathBuf};

use super::BUILTIN_CORPUS;

/// Makes every relative path value under `root` absolute against `folder`: `data.train`,
/// `data.val`, a `data.tokenizer` that names a file, `train.init_from`, `puzzle.train`,
/// `puzzle.test`. Values of the
/// wrong type are left for deserialisation to report.
pub(super) fn resolve(root: &mut toml::Value, folder: &Path) {
    let Some(root) = root.as_table_mut() else {
        return;
    };
    if let Some(data) = root.get_mut("data").and_then(|d| d.as_table_mut()) {
        for key in ["train", "val"] {
            if let Some(list) = data.get_mut(key).and_then(|v| v.as_array_mut()) {
                for item in list {
                    if let toml::Value::String(s) = item {
                        *s = resolve_pattern(s, folder);
                    }
                }
            }
        }
        if let Some(toml::Value::String(spec)) = data.get_mut("tokenizer") {
            if names_a_file(spec, folder) {
                *spec = resolve_pattern(spec, folder);
            }
        }
    }
    if let Some(train) = root.get_mut("train").and_then(|t| t.as_table_mut()) {
        if let Some(toml::Value::String(s)) = train.get_mut("init_from") {
            if !s.is_empty() {
                *s = resolve_pattern(s, folder);
            }
        }
    }
    if let Some(puzzle) = root.get_mut("puzzle").and_then(|p| p.as_table_mut()) {
        for key in ["train", "test"] {
            if let Some(toml::Value::String(s)) = puzzle.get_mut(key) {
                if !s.is_empty() {
                    *s = resolve_pattern(s, folder);
                }
            }
        }
    }
}

/// A tokenizer spec is `bytes`, a Hugging Face Hub id (`gpt2`, `org/model`) or a file: it names a
/// file when it exists as one there or looks like a path to a JSON file.
fn names_a_file(spec: &str, folder: &Path) -> bool {
    spec != "bytes"
        && (folder.join(spec).is_file()
            || spec.ends_with(".json")
            || spec.starts_with("./")
            || spec.starts_with("../"))
}

/// `folder/pattern`, with `.` and `..` folded away; absolute paths and the built-in corpus stay.
/// A glob keeps working: the folder's own glob characters are escaped.
fn resolve_pattern(pattern: &str, folder: &Path) -> String {
    if pattern == BUILTIN_CORPUS || Path::new(pattern).is_absolute() {
        return pattern.to_string();
    }
    let joined = normalize(&folder.join(pattern));
    let is_glob = pattern.contains(['*', '?', '[']);
    let folder_text = normalize(folder).display().to_string();
    if is_glob && folder_text.contains(['*', '?', '[']) {
        let joined = joined.display().to_string();
        if let Some(rest) = joined.strip_prefix(&folder_text) {
            return format!("{}{rest}", glob::Pattern::escape(&folder_text));
        }
        return joined;
    }
    joined.display().to_string()
}

/// Lexical `.`/`..` folding (the folder itself is canonical, so `..` means its parent).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved(text: &str, folder: &str) -> toml::Value {
        let mut value: toml::Value = toml::from_str(text).unwrap();
        resolve(&mut value, Path::new(folder));
        value
    }

    #[test]
    fn relative_paths_join_the_folder_and_others_stay() {
        let v = resolved(
            r#"
            [data]
            train = ["../corpora/a.parquet", "/abs/b.parquet", "builtin:shakespeare", "c/*.parquet"]
            val = ["./v.parquet"]
            tokenizer = "tok/tokenizer.json"
            [puzzle]
            train = "data/sudoku/train.csv"
            test = ""
            "#,
            "/repo/configs",
        );
        let train: Vec<&str> = v["data"]["train"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert_eq!(
            train,
            [
                "/repo/corpora/a.parquet",
                "/abs/b.parquet",
                "builtin:shakespeare",
                "/repo/configs/c/*.parquet"
            ]
        );
        assert_eq!(
            v["data"]["val"][0].as_str(),
            Some("/repo/configs/v.parquet")
        );
        assert_eq!(
            v["data"]["tokenizer"].as_str(),
            Some("/repo/configs/tok/tokenizer.json")
        );
        assert_eq!(
            v["puzzle"]["train"].as_str(),
            Some("/repo/configs/data/sudoku/train.csv")
        );
        assert_eq!(v["puzzle"]["test"].as_str(), Some(""));
    }

    #[test]
    fn tokenizer_names_that_are_not_files_stay() {
        for spec in ["bytes", "gpt2", "openai-community/gpt2"] {
            let v = resolved(&format!("[data]\ntokenizer = \"{spec}\""), "/nowhere");
            assert_eq!(v["data"]["tokenizer"].as_str(), Some(spec));
        }
    }

    #[test]
    fn glob_characters_in_the_folder_are_escaped() {
        let v = resolved("[data]\ntrain = [\"*.parquet\"]", "/runs/a[1]");
        assert_eq!(
            v["data"]["train"][0].as_str(),
            Some("/runs/a[[]1[]]/*.parquet")
        );
    }
}
