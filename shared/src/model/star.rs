//! The Starlark front end: `*.workflow.star`. (Being written.)
