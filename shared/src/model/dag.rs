//! The DAG front end (`steps[]` with dependencies). (Being written.)
