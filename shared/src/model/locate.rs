//! Source positions: maps diagnostic paths to line and column. (Being written.)
