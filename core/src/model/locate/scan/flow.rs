//! Flow context: `[…]` and `{…}` collections, which is all of JSON.

use super::super::{Entry, Span, join_key};
use super::{Node, Scanner, is_blank, is_flow_indicator, is_inline_space, to_u32};

impl Scanner {
    /// Whitespace, line breaks and comments between flow tokens.
    pub(super) fn flow_skip(&mut self) {
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
    pub(super) fn flow_node(&mut self, path: &str) -> Option<Node> {
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

    pub(super) fn flow_collection(&mut self, path: &str) -> Node {
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
