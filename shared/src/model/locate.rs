//! Source positions: where a diagnostic's path (`states[2].next`) is written
//! in a YAML or JSON definition, as a 1-based line and column.
//!
//! Deserializing into `serde_json::Value` forgets positions, so [`SourceMap`]
//! scans the source a second time. The scanner reads block and flow YAML (JSON
//! is YAML flow syntax, so one scanner serves both) and records, under the
//! compiler's path syntax, where each mapping key and each list element is
//! written. It is forgiving on purpose: text it does not understand is skipped
//! and only yields fewer positions. It never fails, never panics, and stays
//! linear in the size of the source. Pure.
//!
//! Not understood (no positions below them): explicit `? key` entries and
//! collections used as keys. Only the first document of a multi-document
//! stream is indexed; anchors, tags and aliases are skipped over.

use super::diag::Diagnostics;
use super::parse::SourceFormat;
use std::collections::HashMap;

/// Deepest nesting indexed; a deeper source is indexed up to there.
const MAX_DEPTH: usize = 128;
/// Most paths recorded, so a pathological source stays cheap.
const MAX_ENTRIES: usize = 1 << 18;

/// A run of characters on one line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// 1-based line.
    pub line: u32,
    /// 1-based column, counted in characters.
    pub column: u32,
    /// In characters, at least 1. Never runs past the end of its line.
    pub width: u32,
}

/// Where one path is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The key, for a mapping entry; the element's first token, for a list
    /// element or the whole document. This is the diagnostic's position.
    pub at: Span,
    /// The value, when it is written on the same line as `at` and fits on it:
    /// a scalar, an alias, a block-scalar header (`|`) or a one-line flow
    /// collection. Renderers underline it rather than the key.
    pub value: Option<Span>,
}

/// Positions of the paths of one source. Build it once, look up many paths.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    entries: HashMap<String, Entry>,
}

impl SourceMap {
    /// Indexes `source`. Never fails: whatever cannot be read is left out.
    pub fn build(source: &str, format: SourceFormat) -> SourceMap {
        let mut scanner = Scanner::new(source);
        match format {
            SourceFormat::Json => scanner.json_document(),
            SourceFormat::Yaml => scanner.yaml_document(),
        }
        SourceMap {
            entries: scanner.entries,
        }
    }

    /// Line and column (1-based) of exactly `path`: the key of a mapping
    /// entry, the start of a list element, or the document for `""`.
    pub fn position(&self, path: &str) -> Option<(u32, u32)> {
        self.entries
            .get(path)
            .map(|entry| (entry.at.line, entry.at.column))
    }

    /// Where exactly `path` is written, with its value's span.
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// `path` or, when it is not written in the source (a missing field), its
    /// nearest ancestor that is: `states[2].next` → `states[2]` → `states` →
    /// `""`. Returns the path found with its entry.
    pub fn nearest<'p>(&self, path: &'p str) -> Option<(&'p str, &Entry)> {
        let mut current = path;
        loop {
            if let Some(entry) = self.entries.get(current) {
                return Some((current, entry));
            }
            current = parent_path(current)?;
        }
    }

    /// Fills `line` and `column` of every diagnostic that has no line yet,
    /// from its path or its nearest written ancestor. Positions a front end
    /// already set are kept, so calling this twice changes nothing.
    pub fn attach(&self, diagnostics: &mut Diagnostics) {
        let all = diagnostics
            .errors
            .iter_mut()
            .chain(diagnostics.warnings.iter_mut());
        for diagnostic in all.filter(|d| d.line.is_none()) {
            if let Some((_, entry)) = self.nearest(&diagnostic.path) {
                diagnostic.line = Some(entry.at.line);
                diagnostic.column = Some(entry.at.column);
            }
        }
    }

    /// Every recorded path with its entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries
            .iter()
            .map(|(path, entry)| (path.as_str(), entry))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The path one level up: `a.b[2]` → `a.b` → `a` → `""`; `None` for `""`.
pub fn parent_path(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    if path.ends_with(']')
        && let Some(open) = path.rfind('[')
    {
        return Some(&path[..open]);
    }
    Some(path.rfind('.').map_or("", |dot| &path[..dot]))
}

fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

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
struct Scanner {
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
    entries: HashMap<String, Entry>,
}

impl Scanner {
    fn new(source: &str) -> Self {
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

    // ---- cursor -------------------------------------------------------

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

    // ---- documents ----------------------------------------------------

    fn json_document(&mut self) {
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

    fn yaml_document(&mut self) {
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

    // ---- block context ------------------------------------------------

    /// Skips spaces, comments and line breaks; directives and the `---`
    /// opening the first document; stops for good at the next document.
    fn skip_blank(&mut self) {
        loop {
            if self.col() == 0 {
                if self.at_document_marker() {
                    if self.started {
                        self.end = self.pos;
                        return;
                    }
                    self.advance_to(self.pos + 3);
                    self.started = true;
                    continue;
                }
                if !self.started && self.peek() == Some('%') {
                    self.skip_to_eol();
                    continue;
                }
            }
            self.skip_inline_space();
            match self.peek() {
                Some('#') => self.skip_to_eol(),
                Some('\n') => self.bump(),
                _ => return,
            }
        }
    }

    /// The block node at or after the cursor that belongs to a parent at
    /// column `parent` (0-based; -1 for the document): one indented deeper,
    /// or, when `seq_at_parent`, a sequence at the parent's own column (YAML
    /// lets a mapping's value list start at the key's indentation).
    fn node(&mut self, path: &str, parent: isize, seq_at_parent: bool) -> Option<Node> {
        self.skip_blank();
        if self.eof() {
            return None;
        }
        let col = isize::try_from(self.col()).unwrap_or(isize::MAX);
        let fits = col > parent || (seq_at_parent && col == parent && self.at_seq_dash());
        if !fits || !self.enter() {
            return None;
        }
        let node = self.block_node(path, parent, seq_at_parent);
        self.leave();
        Some(node)
    }

    fn block_node(&mut self, path: &str, parent: isize, seq_at_parent: bool) -> Node {
        let indent = self.col();
        let here = self.span(1);
        // Anchors and tags: skipped. Alone on their line, the node follows.
        while matches!(self.peek(), Some('&' | '!')) {
            while !is_blank(self.peek()) {
                self.bump();
            }
            self.skip_inline_space();
            if matches!(self.peek(), None | Some('#' | '\n')) {
                return self.node(path, parent, seq_at_parent).unwrap_or(Node {
                    start: here,
                    inline: true,
                    text: None,
                });
            }
        }
        match self.peek() {
            Some('-') if self.at_seq_dash() => {
                let dash = self.span(1);
                let column = self.col();
                self.block_sequence(path, column);
                Node {
                    start: dash,
                    inline: false,
                    text: None,
                }
            }
            Some('[' | '{') => self.flow_collection(path),
            Some('|' | '>') => {
                let header = self.span(1);
                self.block_scalar(parent);
                Node {
                    start: header,
                    inline: true,
                    text: None,
                }
            }
            _ if self.key_ahead().is_some() => {
                let first = self.block_mapping(path, indent);
                Node {
                    start: first,
                    inline: false,
                    text: None,
                }
            }
            Some('"' | '\'') => {
                let (start, text) = self.quoted();
                self.skip_to_eol();
                Node {
                    inline: true,
                    start,
                    text: Some(text),
                }
            }
            _ => self.plain_block(parent),
        }
    }

    /// A block mapping whose keys sit at column `indent`; the cursor is on
    /// its first key. Returns the first key's span.
    fn block_mapping(&mut self, path: &str, indent: usize) -> Span {
        let mut first: Option<Span> = None;
        let fallback = self.span(1);
        loop {
            let before = self.pos;
            if first.is_some() {
                self.skip_blank();
                if self.eof() {
                    break;
                }
                if !self.at_line_start() {
                    // Trailing text after a value: not ours to understand.
                    self.skip_to_eol();
                    continue;
                }
                let col = self.col();
                if col < indent {
                    break;
                }
                if col > indent {
                    self.skip_to_eol();
                    continue;
                }
            }
            match self.take_key() {
                Some((name, key)) => {
                    let child = join_key(path, &name);
                    let parent = isize::try_from(indent).unwrap_or(isize::MAX);
                    let value = self
                        .node(&child, parent, true)
                        .filter(|v| v.inline && v.start.line == key.line)
                        .map(|v| v.start);
                    self.record(child, Entry { at: key, value });
                    first.get_or_insert(key);
                }
                None if first.is_none() => {
                    self.skip_to_eol();
                    first = Some(fallback);
                }
                // A list at the keys' column belongs to the parent.
                None if self.at_seq_dash() => break,
                None => self.skip_to_eol(),
            }
            if self.pos == before {
                self.bump();
            }
        }
        first.unwrap_or(fallback)
    }

    /// A block sequence whose dashes sit at column `indent`; the cursor is on
    /// its first dash.
    fn block_sequence(&mut self, path: &str, indent: usize) {
        let mut index = 0usize;
        let mut first = true;
        loop {
            let before = self.pos;
            if !first {
                self.skip_blank();
                if self.eof() {
                    break;
                }
                if !self.at_line_start() {
                    self.skip_to_eol();
                    continue;
                }
                let col = self.col();
                if col < indent {
                    break;
                }
                if col > indent {
                    self.skip_to_eol();
                    continue;
                }
                if !self.at_seq_dash() {
                    break;
                }
            }
            first = false;
            let dash = self.span(1);
            self.bump();
            let child = format!("{path}[{index}]");
            let parent = isize::try_from(indent).unwrap_or(isize::MAX);
            let entry = match self.node(&child, parent, false) {
                Some(node) => Entry {
                    at: node.start,
                    value: node.inline.then_some(node.start),
                },
                None => Entry {
                    at: dash,
                    value: None,
                },
            };
            self.record(child, entry);
            index += 1;
            if self.pos == before {
                self.bump();
            }
        }
    }

    /// `|` or `>`: the header line, then every blank line or line indented
    /// deeper than the parent.
    fn block_scalar(&mut self, parent: isize) {
        self.skip_to_eol();
        while self.peek() == Some('\n') {
            let (indent, first) = self.line_info(self.pos + 1);
            let indent = isize::try_from(indent).unwrap_or(isize::MAX);
            if first.is_some() && indent <= parent {
                break;
            }
            self.bump();
            self.skip_to_eol();
        }
    }

    /// A plain scalar in block context, with its continuation lines.
    fn plain_block(&mut self, parent: isize) -> Node {
        let start = self.span(1);
        let from = self.pos;
        let mut end_of_text = from;
        let mut text = String::new();
        loop {
            match self.peek() {
                None | Some('\n') => break,
                Some(':') if is_blank(self.peek_at(1)) && self.pos > from => break,
                Some('#')
                    if self.pos > from
                        && self.char_at(self.pos - 1).is_some_and(is_inline_space) =>
                {
                    break;
                }
                Some(c) => {
                    text.push(c);
                    self.bump();
                    if !is_inline_space(c) {
                        end_of_text = self.pos;
                    }
                }
            }
        }
        self.skip_to_eol();
        // Continuation lines: blank, or deeper than the parent and no comment.
        while self.peek() == Some('\n') {
            let (indent, first) = self.line_info(self.pos + 1);
            let deeper = isize::try_from(indent).unwrap_or(isize::MAX) > parent;
            match first {
                None => {}
                Some('#') => break,
                Some(_) if deeper && !(indent == 0 && self.marker_at(self.pos + 1)) => {}
                Some(_) => break,
            }
            self.bump();
            self.skip_to_eol();
        }
        text.truncate(text.trim_end().len());
        Node {
            start: Span {
                width: to_u32((end_of_text - from).max(1)),
                ..start
            },
            inline: true,
            text: Some(text),
        }
    }

    /// A document marker (`---` or `...`) starting at `index`.
    fn marker_at(&self, index: usize) -> bool {
        let thrice = |c: char| (0..3).all(|k| self.char_at(index + k) == Some(c));
        (thrice('-') || thrice('.')) && is_blank(self.char_at(index + 3))
    }

    /// A mapping key at the cursor (`key:`, `"key":`, `'key':`), on this
    /// line, without consuming it.
    fn key_ahead(&self) -> Option<KeyAhead> {
        let c = self.peek()?;
        match c {
            '"' | '\'' => {
                let (name, close) = self.quoted_on_line(self.pos)?;
                let mut j = close;
                while self.char_at(j).is_some_and(|c| c == ' ' || c == '\t') {
                    j += 1;
                }
                (self.char_at(j) == Some(':')).then(|| KeyAhead {
                    name,
                    width: close - self.pos,
                    after: j + 1,
                })
            }
            '[' | '{' | '#' | '|' | '>' | '&' | '!' | '%' | '@' | '`' | ',' | ']' | '}' => None,
            '-' | '?' | ':' if is_blank(self.peek_at(1)) => None,
            _ => {
                let mut i = self.pos;
                let mut end_of_text = i;
                loop {
                    match self.char_at(i) {
                        None | Some('\n') => return None,
                        Some(':') if is_blank(self.char_at(i + 1)) => break,
                        Some('#')
                            if i > self.pos && self.char_at(i - 1).is_some_and(is_inline_space) =>
                        {
                            return None;
                        }
                        Some(c) => {
                            i += 1;
                            if !is_inline_space(c) {
                                end_of_text = i;
                            }
                        }
                    }
                }
                let name: String = self.chars.get(self.pos..end_of_text)?.iter().collect();
                (!name.is_empty()).then(|| KeyAhead {
                    name,
                    width: end_of_text - self.pos,
                    after: i + 1,
                })
            }
        }
    }

    /// Consumes the key at the cursor and its `:`.
    fn take_key(&mut self) -> Option<(String, Span)> {
        let key = self.key_ahead()?;
        let span = self.span(key.width);
        self.advance_to(key.after);
        Some((key.name, span))
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

    // ---- flow context -------------------------------------------------

    /// Whitespace, line breaks and comments between flow tokens.
    fn flow_skip(&mut self) {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => self.bump(),
                Some('#') => self.skip_to_eol(),
                _ => return,
            }
        }
    }

    /// One flow node at the cursor (after [`Self::flow_skip`]); `None` where a
    /// node is missing (`,` `]` `}` or the end).
    fn flow_node(&mut self, path: &str) -> Option<Node> {
        let mut here = None;
        while matches!(self.peek(), Some('&' | '!')) {
            here.get_or_insert(self.span(1));
            while !is_blank(self.peek()) && !self.peek().is_some_and(is_flow_indicator) {
                self.bump();
            }
            self.flow_skip();
        }
        let node = match self.peek() {
            None | Some(',' | ']' | '}') => None,
            Some('[' | '{') => Some(self.flow_collection(path)),
            Some('"' | '\'') => {
                let line = self.line;
                let (start, text) = self.quoted();
                Some(Node {
                    inline: self.line == line,
                    start,
                    text: Some(text),
                })
            }
            Some(_) => Some(self.plain_flow()),
        };
        node.or_else(|| {
            here.map(|start| Node {
                start,
                inline: true,
                text: None,
            })
        })
    }

    fn flow_collection(&mut self, path: &str) -> Node {
        let start = self.span(1);
        let from = self.pos;
        if !self.enter() {
            return Node {
                start,
                inline: false,
                text: None,
            };
        }
        if self.peek() == Some('[') {
            self.flow_sequence(path);
        } else {
            self.flow_mapping(path);
        }
        self.leave();
        let inline = self.line == start.line;
        Node {
            start: Span {
                width: if inline {
                    to_u32((self.pos - from).max(1))
                } else {
                    1
                },
                ..start
            },
            inline,
            text: None,
        }
    }

    fn flow_sequence(&mut self, path: &str) {
        self.bump(); // `[`
        let mut index = 0usize;
        loop {
            let before = self.pos;
            self.flow_skip();
            match self.peek() {
                None | Some('}') => break,
                Some(']') => {
                    self.bump();
                    break;
                }
                Some(',') => self.bump(),
                Some(_) => {
                    let child = format!("{path}[{index}]");
                    index += 1;
                    let node = self.flow_node(&child);
                    self.flow_skip();
                    if self.peek() == Some(':') {
                        // A one-pair mapping: `[key: value]`.
                        self.bump();
                        self.flow_skip();
                        let key = node
                            .as_ref()
                            .and_then(|n| n.text.clone().map(|t| (t, n.start)));
                        self.flow_pair_value(&child, key, &[',', ']']);
                    }
                    if let Some(node) = node {
                        self.record(
                            child,
                            Entry {
                                at: node.start,
                                value: node.inline.then_some(node.start),
                            },
                        );
                    }
                }
            }
            if self.pos == before {
                self.bump();
            }
        }
    }

    fn flow_mapping(&mut self, path: &str) {
        self.bump(); // `{`
        loop {
            let before = self.pos;
            self.flow_skip();
            match self.peek() {
                None | Some(']') => break,
                Some('}') => {
                    self.bump();
                    break;
                }
                Some(',') => self.bump(),
                Some('?') if is_blank(self.peek_at(1)) => self.bump(),
                Some(c) => {
                    // A collection used as a key has no path: mute it.
                    let complex = c == '[' || c == '{';
                    self.muted += usize::from(complex);
                    let key = self.flow_node(path);
                    self.muted -= usize::from(complex);
                    self.flow_skip();
                    let key = key.and_then(|k| k.text.map(|t| (t, k.start)));
                    if self.peek() == Some(':') {
                        self.bump();
                        self.flow_skip();
                        self.flow_pair_value(path, key, &[',', '}']);
                    } else if let Some((name, at)) = key {
                        self.record(join_key(path, &name), Entry { at, value: None });
                    }
                }
            }
            if self.pos == before {
                self.bump();
            }
        }
    }

    /// The value after a flow key's `:`, recorded under `path.key` (parsed
    /// without recording when the key has no text).
    fn flow_pair_value(&mut self, path: &str, key: Option<(String, Span)>, closers: &[char]) {
        let missing = self.peek().is_none_or(|c| closers.contains(&c));
        match key {
            Some((name, at)) => {
                let child = join_key(path, &name);
                let value = if missing {
                    None
                } else {
                    self.flow_node(&child)
                };
                let value = value
                    .filter(|v| v.inline && v.start.line == at.line)
                    .map(|v| v.start);
                self.record(child, Entry { at, value });
            }
            None if !missing => {
                self.muted += 1;
                self.flow_node(path);
                self.muted -= 1;
            }
            None => {}
        }
    }

    /// A plain scalar in flow context, possibly continued on later lines.
    fn plain_flow(&mut self) -> Node {
        let start = self.span(1);
        let from = self.pos;
        let mut end_of_first_line = from;
        let mut text = String::new();
        loop {
            match self.peek() {
                None => break,
                Some(c) if is_flow_indicator(c) => break,
                Some(':')
                    if self.pos > from
                        && (is_blank(self.peek_at(1))
                            || self.peek_at(1).is_some_and(is_flow_indicator)) =>
                {
                    break;
                }
                Some('#')
                    if self.pos > from
                        && self.char_at(self.pos - 1).is_some_and(is_inline_space) =>
                {
                    break;
                }
                Some('\n') => {
                    let mut j = self.pos;
                    while self
                        .char_at(j)
                        .is_some_and(|c| is_inline_space(c) || c == '\n')
                    {
                        j += 1;
                    }
                    match self.char_at(j) {
                        None => break,
                        Some(c) if is_flow_indicator(c) || c == '#' || c == ':' => break,
                        Some(_) => {
                            self.advance_to(j);
                            text.push(' ');
                        }
                    }
                }
                Some(c) => {
                    text.push(c);
                    self.bump();
                    if self.line == start.line && !is_inline_space(c) {
                        end_of_first_line = self.pos;
                    }
                }
            }
        }
        text.truncate(text.trim_end().len());
        Node {
            start: Span {
                width: to_u32((end_of_first_line - from).max(1)),
                ..start
            },
            inline: self.line == start.line,
            text: Some(text),
        }
    }
}

#[cfg(test)]
mod tests;
