//! The scanner behind [`super::SourceMap`]: one pass over the characters
//! of a YAML or JSON source, recording where each key and list element is
//! written. Every loop consumes input or stops, and recursion is bounded by
//! [`MAX_DEPTH`]; reaching the bound ends the scan.

use super::{Entry, Span};
use std::collections::HashMap;

mod block;
mod flow;

/// Deepest nesting indexed; a deeper source is indexed up to there.
const MAX_DEPTH: usize = 128;
/// Most paths recorded, so a pathological source stays cheap.
const MAX_ENTRIES: usize = 1 << 18;

fn to_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Whitespace, a line break or the end of input: what must follow `-`, `:`
/// and `?` for them to be indicators.
fn is_blank(c: Option<char>) -> bool {
    matches!(c, None | Some(' ' | '\t' | '\r' | '\n'))
}

fn is_inline_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r')
}

fn is_flow_indicator(c: char) -> bool {
    matches!(c, ',' | '[' | ']' | '{' | '}')
}

/// What the scanner learned about one node.
#[derive(Debug, Clone)]
struct Node {
    /// The node's first token (the first key, for a block mapping).
    start: Span,
    /// Written whole on `start`'s line: a scalar, an alias, a block-scalar
    /// header or a one-line flow collection.
    inline: bool,
    /// A scalar's text, for flow-mapping keys.
    text: Option<String>,
}

/// A mapping key found ahead of the cursor, not yet consumed.
struct KeyAhead {
    name: String,
    width: usize,
    /// Index just after the `:`.
    after: usize,
}

/// The indexer: a cursor over the source's characters with line tracking.
/// Every loop consumes input or stops, and recursion is bounded by
/// [`MAX_DEPTH`]; reaching the bound ends the scan (`end = pos`).
pub(super) struct Scanner {
    chars: Vec<char>,
    pos: usize,
    /// Scanning stops here: the end of the source, of the first document,
    /// or where the depth bound was hit.
    end: usize,
    /// 1-based line of `pos`.
    line: u32,
    /// Index of the first character of `pos`'s line.
    line_start: usize,
    depth: usize,
    /// While positive, nothing is recorded (inside collections used as keys).
    muted: usize,
    /// The first document has begun, so the next `---` ends it.
    started: bool,
    pub(super) entries: HashMap<String, Entry>,
}

impl Scanner {
    pub(super) fn new(source: &str) -> Self {
        let chars: Vec<char> = source.chars().collect();
        Self {
            end: chars.len(),
            chars,
            pos: 0,
            line: 1,
            line_start: 0,
            depth: 0,
            muted: 0,
            started: false,
            entries: HashMap::new(),
        }
    }

    fn char_at(&self, index: usize) -> Option<char> {
        if index < self.end {
            self.chars.get(index).copied()
        } else {
            None
        }
    }

    fn peek(&self) -> Option<char> {
        self.char_at(self.pos)
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.char_at(self.pos.saturating_add(ahead))
    }

    fn eof(&self) -> bool {
        self.pos >= self.end
    }

    fn bump(&mut self) {
        if let Some(c) = self.peek() {
            self.pos += 1;
            if c == '\n' {
                self.line = self.line.saturating_add(1);
                self.line_start = self.pos;
            }
        }
    }

    /// Moves to `target` on the current line or later; never past the end.
    fn advance_to(&mut self, target: usize) {
        while self.pos < target && !self.eof() {
            self.bump();
        }
    }

    /// 0-based column of the cursor, in characters.
    fn col(&self) -> usize {
        self.pos.saturating_sub(self.line_start)
    }

    fn span(&self, width: usize) -> Span {
        Span {
            line: self.line,
            column: to_u32(self.col() + 1),
            width: to_u32(width.max(1)),
        }
    }

    /// Characters from `from` to the end of its line.
    fn width_to_eol(&self, from: usize) -> usize {
        let mut i = from;
        while self.char_at(i).is_some_and(|c| c != '\n') {
            i += 1;
        }
        // Trailing `\r` of a CRLF line is not part of the text.
        while i > from && self.char_at(i - 1).is_some_and(is_inline_space) {
            i -= 1;
        }
        i - from
    }

    fn at_line_start(&self) -> bool {
        self.chars
            .get(self.line_start..self.pos)
            .is_some_and(|before| before.iter().all(|&c| is_inline_space(c)))
    }

    fn skip_inline_space(&mut self) {
        while self.peek().is_some_and(is_inline_space) {
            self.bump();
        }
    }

    fn skip_to_eol(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    fn at_seq_dash(&self) -> bool {
        self.peek() == Some('-') && is_blank(self.peek_at(1))
    }

    fn at_document_marker(&self) -> bool {
        self.col() == 0 && self.marker_at(self.pos)
    }

    /// Enters one nesting level, or ends the scan at the depth bound.
    fn enter(&mut self) -> bool {
        if self.depth >= MAX_DEPTH {
            self.end = self.pos;
            false
        } else {
            self.depth += 1;
            true
        }
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn record(&mut self, path: String, entry: Entry) {
        if self.muted == 0 && (self.entries.len() < MAX_ENTRIES || self.entries.contains_key(&path))
        {
            self.entries.insert(path, entry);
        }
    }

    /// Indentation of the line starting at `start` (spaces only) and its
    /// first non-space character; `None` for a blank line.
    fn line_info(&self, start: usize) -> (usize, Option<char>) {
        let mut i = start;
        while self.char_at(i) == Some(' ') {
            i += 1;
        }
        let indent = i - start;
        loop {
            match self.char_at(i) {
                None | Some('\n') => return (indent, None),
                Some(c) if is_inline_space(c) => i += 1,
                Some(c) => return (indent, Some(c)),
            }
        }
    }

    pub(super) fn json_document(&mut self) {
        if self.peek() == Some('\u{feff}') {
            self.bump();
        }
        self.flow_skip();
        if let Some(node) = self.flow_node("") {
            self.record(
                String::new(),
                Entry {
                    at: node.start,
                    value: None,
                },
            );
        }
    }

    pub(super) fn yaml_document(&mut self) {
        if self.peek() == Some('\u{feff}') {
            self.bump();
        }
        self.skip_blank();
        self.started = true;
        if let Some(node) = self.node("", -1, false) {
            self.record(
                String::new(),
                Entry {
                    at: node.start,
                    value: None,
                },
            );
        }
    }

    /// A document marker (`---` or `...`) starting at `index`.
    fn marker_at(&self, index: usize) -> bool {
        let thrice = |c: char| (0..3).all(|k| self.char_at(index + k) == Some(c));
        (thrice('-') || thrice('.')) && is_blank(self.char_at(index + 3))
    }

    /// A quoted scalar that closes on the line it opens on, read at `open`
    /// without moving: its text and the index after the closing quote.
    fn quoted_on_line(&self, open: usize) -> Option<(String, usize)> {
        let quote = self.char_at(open)?;
        let mut text = String::new();
        let mut i = open + 1;
        loop {
            match self.char_at(i)? {
                '\n' => return None,
                c if c == quote => {
                    if quote == '\'' && self.char_at(i + 1) == Some('\'') {
                        text.push('\'');
                        i += 2;
                    } else {
                        return Some((text, i + 1));
                    }
                }
                '\\' if quote == '"' => {
                    let (c, used) = self.escape(i + 1)?;
                    text.extend(c);
                    i += 1 + used;
                }
                c => {
                    text.push(c);
                    i += 1;
                }
            }
        }
    }

    /// The escape sequence after a backslash at `at`: the character it
    /// stands for (none for an escaped line break) and how many it used.
    fn escape(&self, at: usize) -> Option<(Option<char>, usize)> {
        let c = self.char_at(at)?;
        let hex = |digits: usize| -> (Option<char>, usize) {
            let mut value = 0u32;
            let mut used = 0;
            while used < digits {
                match self.char_at(at + 1 + used).and_then(|d| d.to_digit(16)) {
                    Some(d) => {
                        value = value.saturating_mul(16).saturating_add(d);
                        used += 1;
                    }
                    None => break,
                }
            }
            (
                Some(char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER)),
                1 + used,
            )
        };
        Some(match c {
            'n' => (Some('\n'), 1),
            't' | '\t' => (Some('\t'), 1),
            'r' => (Some('\r'), 1),
            '0' => (Some('\0'), 1),
            'a' => (Some('\u{7}'), 1),
            'b' => (Some('\u{8}'), 1),
            'e' => (Some('\u{1b}'), 1),
            'f' => (Some('\u{c}'), 1),
            'v' => (Some('\u{b}'), 1),
            'N' => (Some('\u{85}'), 1),
            '_' => (Some('\u{a0}'), 1),
            'L' => (Some('\u{2028}'), 1),
            'P' => (Some('\u{2029}'), 1),
            'x' => hex(2),
            'u' => hex(4),
            'U' => hex(8),
            '\n' => (None, 1),
            other => (Some(other), 1),
        })
    }

    /// A quoted scalar at the cursor, possibly over several lines. Returns its
    /// span (to the closing quote, or to the end of its first line) and text.
    fn quoted(&mut self) -> (Span, String) {
        let start = self.span(1);
        let from = self.pos;
        let quote = self.peek().unwrap_or('"');
        self.bump();
        let mut text = String::new();
        loop {
            match self.peek() {
                None => break,
                Some(c) if c == quote => {
                    if quote == '\'' && self.peek_at(1) == Some('\'') {
                        text.push('\'');
                        self.bump();
                        self.bump();
                    } else {
                        self.bump();
                        break;
                    }
                }
                Some('\\') if quote == '"' => match self.escape(self.pos + 1) {
                    Some((c, used)) => {
                        text.extend(c);
                        self.advance_to(self.pos + 1 + used);
                    }
                    None => self.bump(),
                },
                Some('\n') => {
                    text.push(' ');
                    self.bump();
                    self.skip_inline_space();
                }
                Some(c) => {
                    text.push(c);
                    self.bump();
                }
            }
        }
        let width = if self.line == start.line {
            self.pos - from
        } else {
            self.width_to_eol(from)
        };
        (
            Span {
                width: to_u32(width.max(1)),
                ..start
            },
            text,
        )
    }
}
