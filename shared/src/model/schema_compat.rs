//! Schema compatibility between an agent's output and the next input. (Being written.)
