//! The token file: who may use the dashboard. One `NAME TOKEN` per line (`#` comments) or a
//! lone token; a file that others can read is refused, as the seal key file is.

use std::path::Path;

/// Reads and checks a token file. Errors are one line naming the file, never a token.
pub fn read_token_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let shown = path.display();
    let text = okra_queue::seal::read_private_file(path, "token file")?;
    parse_tokens(&text).map_err(|e| format!("token file {shown}: {e}"))
}

/// Reads a token file's text: one `NAME TOKEN` per line (`#` comments), or a lone token (named
/// `token`). Tokens are at least 16 characters; names are unique. Errors are one line and
/// never show a token.
pub fn parse_tokens(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (name, token) = match fields.as_slice() {
            [token] => ("token", *token),
            [name, token] => (*name, *token),
            _ => return Err(format!("line {}: expected `NAME TOKEN`", n + 1)),
        };
        if token.len() < 16 {
            return Err(format!(
                "line {}: the token of {name} is shorter than 16 characters",
                n + 1
            ));
        }
        if out.iter().any(|(m, _)| m == name) {
            return Err(format!("line {}: the name {name} is listed twice", n + 1));
        }
        out.push((name.to_string(), token.to_string()));
    }
    if out.is_empty() {
        return Err("no token in it (one `NAME TOKEN` per line)".into());
    }
    Ok(out)
}
