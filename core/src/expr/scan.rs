//! Scans of Starlark source text before it is parsed: the bracket and
//! unary-operator nesting the parser would recurse on, and the characters
//! that are code (not inside strings or comments).

/// Bounds the recursion of Starlark's parser, which has no depth limit:
/// the first bracket nested deeper than `max`, or the first unary operator
/// of a run longer than `max` (`- - - x`, `not not x`), with a message.
/// (Binary chains parse iteratively; their tree depth is checked after
/// parsing.)
pub(crate) fn nesting_error(source: &str, max: usize) -> Option<(usize, String)> {
    let mut depth = 0usize;
    let mut run = 0usize;
    let mut word = String::new();
    let mut word_start = 0usize;
    let mut previous_end = 0usize;
    for (offset, c) in code_chars(source) {
        if c.is_ascii_alphanumeric() || c == '_' {
            if word.is_empty() || offset != previous_end {
                word.clear();
                word_start = offset;
            }
            word.push(c);
            previous_end = offset + 1;
            continue;
        }
        if !word.is_empty() {
            if word == "not" {
                run += 1;
                if run > max {
                    return Some((
                        word_start,
                        format!("more than {max} unary operators in a row"),
                    ));
                }
            } else {
                run = 0;
            }
            word.clear();
        }
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                run = 0;
                if depth > max {
                    return Some((offset, format!("brackets nest deeper than {max}")));
                }
            }
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                run = 0;
            }
            '-' | '+' | '~' => {
                run += 1;
                if run > max {
                    return Some((offset, format!("more than {max} unary operators in a row")));
                }
            }
            c if c.is_whitespace() => {}
            _ => run = 0,
        }
    }
    None
}

/// The characters of `source` outside string literals and comments, with
/// their byte offsets.
pub(crate) fn code_chars(source: &str) -> Vec<(usize, char)> {
    let mut out = Vec::with_capacity(source.len());
    let mut chars = source.char_indices().peekable();
    while let Some((offset, c)) = chars.next() {
        match c {
            '#' => {
                while chars.peek().is_some_and(|(_, c)| *c != '\n') {
                    chars.next();
                }
            }
            '\'' | '"' => {
                let rest = &source[offset..];
                let triple: String = std::iter::repeat_n(c, 3).collect();
                if rest.starts_with(&triple) {
                    chars.next();
                    chars.next();
                    let mut run = 0;
                    while let Some((_, d)) = chars.next() {
                        if d == '\\' {
                            chars.next();
                            run = 0;
                        } else if d == c {
                            run += 1;
                            if run == 3 {
                                break;
                            }
                        } else {
                            run = 0;
                        }
                    }
                } else {
                    while let Some((_, d)) = chars.next() {
                        if d == '\\' {
                            chars.next();
                        } else if d == c || d == '\n' {
                            break;
                        }
                    }
                }
            }
            _ => out.push((offset, c)),
        }
    }
    out
}
