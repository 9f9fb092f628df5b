//! Block context: indentation-structured mappings, sequences and scalars.

use super::super::{Entry, Span, join_key};
use super::{KeyAhead, Node, Scanner, is_blank, is_inline_space, to_u32};

impl Scanner {
    /// Skips spaces, comments and line breaks; directives and the `---`
    /// opening the first document; stops for good at the next document.
    pub(super) fn skip_blank(&mut self) {
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
    pub(super) fn node(&mut self, path: &str, parent: isize, seq_at_parent: bool) -> Option<Node> {
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
}
