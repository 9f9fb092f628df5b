//! Starlark expressions: switch conditions, trigger filters and `transform`
//! expressions. Deterministic and bounded. (Being written.)
