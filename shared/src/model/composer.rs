//! The composer graph front end (`nodes`/`edges`). (Being written.)
